// Fuzzes the rolling delta's checks (engine/files/delta.h) against a small fixed basis (16 KiB
// held in memory). An even first byte makes the rest a signature from the Secondary:
// LoadSignature, and when it loads, a delta of the basis against it (the Primary's
// ComputeDelta). An odd one makes it a delta from the Primary: ApplyDelta, which must produce
// exactly the basis's length.
#include <cstddef>
#include <cstdint>
#include <span>

#include "engine/files/delta.h"
#include "fuzz/delta_basis.h"

namespace {

hasync::fuzz::MemoryFile& Basis() {
  static auto* basis = new hasync::fuzz::MemoryFile(hasync::fuzz::BasisBytes());
  return *basis;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace hasync::engine;
  if (size < 1) return 0;
  std::span<const std::byte> p(reinterpret_cast<const std::byte*>(data) + 1, size - 1);
  if (data[0] % 2 == 0) {
    auto sig = LoadSignature(p);
    if (!sig.ok()) return 0;
    uint64_t hashes[hasync::fuzz::kBasisSize / (8 << 10)];
    (void)ComputeDelta(*sig, Basis(), 0, hasync::fuzz::kBasisSize, 1 << 20, hashes);
    return 0;
  }
  auto sink = [](std::span<const std::byte>) { return hasync::Status::Ok(); };
  (void)ApplyDelta(Basis(), hasync::fuzz::kBasisSize, p, hasync::fuzz::kBasisSize, sink);
  return 0;
}
