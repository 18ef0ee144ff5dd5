// Fuzzes the replication stream's decoders (snapshot/pgoutput.h) as snapshot/change_stream.cc
// runs them: a walsender's CopyData message (DecodeWalMessage) and, for XLogData, the pgoutput
// message inside it (DecodePgOutput). An even first byte feeds the rest to DecodePgOutput alone.
#include <cstddef>
#include <cstdint>
#include <span>

#include "snapshot/pgoutput.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace hasync::snapshot;
  if (size < 1) return 0;
  std::span<const std::byte> p(reinterpret_cast<const std::byte*>(data) + 1, size - 1);
  if (data[0] % 2 == 0) {
    (void)DecodePgOutput(p);
    return 0;
  }
  auto wal = DecodeWalMessage(p);
  if (wal.ok() && wal->kind == WalMessage::kXLogData) (void)DecodePgOutput(wal->payload);
  return 0;
}
