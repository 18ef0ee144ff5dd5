// Fuzzes a sync's change stream end to end on the Primary's side, without PostgreSQL: a run of
// pgoutput messages (each a 2-byte big-endian length and its bytes) decoded by DecodePgOutput
// and fed in order to a ChangeFilter (snapshot/change_filter.h), as snapshot/pg_source.cc does.
// The first byte picks whether the stream ends at a pinned bound or only at its marker.
#include <cstddef>
#include <cstdint>
#include <span>

#include "snapshot/change_filter.h"
#include "snapshot/pgoutput.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace hasync::snapshot;
  if (size < 1) return 0;
  ChangeFilterOptions options;
  options.scope.exclude_schemas = {"audit"};
  options.scope.exclude_tables = {"public.sessions"};
  options.token = "sync-1";
  options.bound = data[0] % 2 == 0 ? 0 : 0x1000000;
  ChangeFilter filter(std::move(options));
  std::span<const std::byte> in(reinterpret_cast<const std::byte*>(data) + 1, size - 1);
  while (in.size() >= 2 && !filter.done()) {
    size_t n = static_cast<size_t>(static_cast<uint8_t>(in[0])) << 8 | static_cast<uint8_t>(in[1]);
    in = in.subspan(2);
    if (n > in.size()) return 0;
    auto m = DecodePgOutput(in.first(n));
    in = in.subspan(n);
    if (!m.ok()) return 0;  // the stream fails here
    auto forwarded = filter.Add(std::move(*m));
    if (!forwarded.ok()) return 0;
  }
  return 0;
}
