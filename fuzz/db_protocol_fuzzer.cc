// Fuzzes the database messages of engine/wire/db_protocol.h and the change-record stream. The
// first byte picks the decoder; for the stream (7), the rest is cut into frame payloads at
// points the input chooses (each cut's length is one byte) and fed to a ChangeReader, as the
// Secondary's apply does with database-changes frames.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <span>

#include "engine/wire/db_protocol.h"

namespace {

void FeedChangeStream(std::span<const std::byte> in) {
  hasync::engine::ChangeReader reader;
  while (!in.empty()) {
    size_t cut = std::min<size_t>(in.size() - 1, static_cast<uint8_t>(in[0]));
    reader.Append(in.subspan(1, cut));
    in = in.subspan(1 + cut);
    for (;;) {
      auto next = reader.Next();
      if (!next.ok()) return;         // the apply fails the sync here
      if (!next->has_value()) break;  // more bytes needed
    }
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace hasync::engine;
  if (size < 1) return 0;
  std::span<const std::byte> p(reinterpret_cast<const std::byte*>(data) + 1, size - 1);
  switch (data[0] % 8) {
    case 0:
      (void)DecodeDbRequest(p);
      break;
    case 1:
      (void)DecodeDbBegin(p);
      break;
    case 2:
      (void)DecodeDbSql(p);
      break;
    case 3:
      (void)DecodeDbCopyBegin(p);
      break;
    case 4:
      (void)DecodeDbCopyEnd(p);
      break;
    case 5:
      (void)DecodeDbSequences(p);
      break;
    case 6:
      (void)DecodeDbEnd(p);
      break;
    default:
      FeedChangeStream(p);
      break;
  }
  return 0;
}
