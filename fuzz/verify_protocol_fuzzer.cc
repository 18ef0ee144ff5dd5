// Fuzzes the verify session's messages (engine/wire/verify_protocol.h): the first byte picks the
// decoder, the rest is the payload a peer sent.
#include <cstddef>
#include <cstdint>
#include <span>

#include "engine/wire/verify_protocol.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace hasync::engine;
  if (size < 1) return 0;
  std::span<const std::byte> p(reinterpret_cast<const std::byte*>(data) + 1, size - 1);
  switch (data[0] % 6) {
    case 0:
      (void)DecodeVerifyRequest(p);
      break;
    case 1:
      (void)DecodeVerifyRoot(p);
      break;
    case 2:
      (void)DecodeVerifyTables(p);
      break;
    case 3:
      (void)DecodeVerifyPaths(p);
      break;
    case 4:
      (void)DecodeVerifyChildren(p);
      break;
    default:
      (void)DecodeVerifyBlocks(p);
      break;
  }
  return 0;
}
