// Run-time dispatch between the xxh3 kernels.
#include "common/hash.h"

namespace hasync {
namespace internal {
uint64_t Xxh3Sse2(const void* data, size_t len, uint64_t seed);
uint64_t Xxh3Avx2(const void* data, size_t len, uint64_t seed);
}  // namespace internal

namespace {
using Kernel = uint64_t (*)(const void*, size_t, uint64_t);
bool HasAvx2() {
  __builtin_cpu_init();
  return __builtin_cpu_supports("avx2");
}
const bool kAvx2 = HasAvx2();
const Kernel kKernel = kAvx2 ? internal::Xxh3Avx2 : internal::Xxh3Sse2;
}  // namespace

uint64_t Hash64(std::span<const std::byte> data, uint64_t seed) {
  return kKernel(data.data(), data.size(), seed);
}

uint64_t FileDigest(std::span<const uint64_t> block_hashes, uint64_t size) {
  return kKernel(block_hashes.data(), block_hashes.size() * sizeof(uint64_t), size);
}

const char* HashKernelName() { return kAvx2 ? "avx2" : "sse2"; }

}  // namespace hasync
