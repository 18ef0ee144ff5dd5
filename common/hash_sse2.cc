// xxh3 built for the x86-64 baseline (SSE2).
#include <cstddef>
#include <cstdint>
#define HASYNC_KERNEL_NAME Xxh3Sse2
#include "common/hash_kernel.inc"
