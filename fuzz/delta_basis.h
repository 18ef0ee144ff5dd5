// The delta fuzzer's fixed basis, shared with make_corpus.cc so that the seeds' signature and
// delta are made against the very bytes the fuzzer holds: 16 KiB of a fixed pseudo-random
// sequence, served from memory as a RandomAccessFile.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>
#include <vector>

#include "common/env.h"

namespace hasync::fuzz {

constexpr size_t kBasisSize = 16 << 10;

inline std::vector<std::byte> BasisBytes() {
  std::vector<std::byte> b(kBasisSize);
  uint32_t x = 12345;
  for (auto& c : b) {
    x = x * 1103515245 + 12345;
    c = static_cast<std::byte>(x >> 24);
  }
  return b;
}

class MemoryFile : public RandomAccessFile {
 public:
  explicit MemoryFile(std::vector<std::byte> bytes) : bytes_(std::move(bytes)) {}
  Result<size_t> Read(uint64_t offset, std::span<std::byte> buf) override {
    if (offset >= bytes_.size()) return size_t{0};
    size_t n = std::min<size_t>(buf.size(), bytes_.size() - offset);
    std::memcpy(buf.data(), bytes_.data() + offset, n);
    return n;
  }

 private:
  std::vector<std::byte> bytes_;
};

}  // namespace hasync::fuzz
