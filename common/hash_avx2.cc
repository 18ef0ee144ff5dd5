// xxh3 built with AVX2 (this file alone gets -mavx2); called only when the CPU has AVX2.
#include <cstddef>
#include <cstdint>
#define XXH_VECTOR XXH_AVX2
#define HASYNC_KERNEL_NAME Xxh3Avx2
#include "common/hash_kernel.inc"
