// Fuzzes every message codec of engine/wire/protocol.h: the first byte picks the decoder, the
// rest is the message payload a peer sent. Each input must decode or fail with a Status.
#include <cstddef>
#include <cstdint>
#include <span>

#include "engine/wire/protocol.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace hasync::engine;
  if (size < 1) return 0;
  std::span<const std::byte> p(reinterpret_cast<const std::byte*>(data) + 1, size - 1);
  switch (data[0] % 11) {
    case 0:
      (void)DecodeHello(p);
      break;
    case 1:
      (void)DecodeError(p);
      break;
    case 2:
      (void)DecodeListRequest(p);
      break;
    case 3:
      (void)DecodeListEntries(p);
      break;
    case 4:
      (void)DecodeFileRequests(p);
      break;
    case 5:
      (void)DecodeFileData(p);
      break;
    case 6:
      (void)DecodeFileDelta(p);
      break;
    case 7:
      (void)DecodeFileDone(p);
      break;
    case 8:
      (void)DecodeFileHole(p);
      break;
    case 9:
      (void)DecodeListEnd(p);
      break;
    default:
      (void)DecodeDone(p);
      break;
  }
  return 0;
}
