// xxh3 checksums: the block hash of manifests, the frame checksum, the file digest. The
// header-only xxHash build is compiled twice (SSE2 and AVX2) and picked by a CPU probe at start,
// since Debian's libxxhash.so is a generic SSE2 build (DESIGN.md, performance notes); the
// binary never requires AVX2.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

namespace hasync {

// xxh3-64 of data, seeded.
uint64_t Hash64(std::span<const std::byte> data, uint64_t seed = 0);
inline uint64_t Hash64(const void* data, size_t len, uint64_t seed = 0) {
  return Hash64(std::span<const std::byte>(static_cast<const std::byte*>(data), len), seed);
}
// Digest of a whole file: xxh3 of its block hashes, seeded with its size, so two files are equal
// when their digests are (up to xxh3's collision odds).
uint64_t FileDigest(std::span<const uint64_t> block_hashes, uint64_t size);
// "avx2" or "sse2": which kernel the probe chose.
const char* HashKernelName();

}  // namespace hasync
