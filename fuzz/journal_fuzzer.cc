// Fuzzes the journal parser (engine/files/journal.h): recovery reads the journal left in the
// state folder, which another account may have planted (item 2 of the hardening issue) and
// whose checksum a forger computes. An odd first byte makes the rest a journal body the target
// seals with its checksum (xxh3 trailer), so mutations reach the parser behind the checksum; an
// even one hands the rest over as it is.
#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "common/hash.h"
#include "engine/files/journal.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  std::vector<std::byte> in(reinterpret_cast<const std::byte*>(data) + 1,
                            reinterpret_cast<const std::byte*>(data) + size);
  if (data[0] % 2 == 1) {
    uint64_t sum = hasync::Hash64(in);
    const auto* s = reinterpret_cast<const std::byte*>(&sum);
    in.insert(in.end(), s, s + sizeof(sum));
  }
  (void)hasync::engine::Journal::Parse(in);
  return 0;
}
