// libpq's COPY IN: PQputCopyData queues bytes (waiting while its buffer is full), PQputCopyEnd
// finishes, and the result, read to the end so the connection is idle again, has the row count.
#include "engine/db/copy_in.h"

#include <libpq-fe.h>

namespace hasync::engine {

using snapshot::PgError;
using snapshot::PgResult;

Status PutCopyData(snapshot::PgConn& c, std::span<const char> data, const std::string& what) {
  if (PQputCopyData(c.raw(), data.data(), static_cast<int>(data.size())) != 1) {
    return PgError(c, what);
  }
  return Status::Ok();
}

Result<uint64_t> EndCopyIn(snapshot::PgConn& c, const std::string& what) {
  if (PQputCopyEnd(c.raw(), nullptr) != 1) return PgError(c, "loading " + what);
  PgResult r(PQgetResult(c.raw()));
  while (PgResult(PQgetResult(c.raw())).raw() != nullptr) {
  }
  if (PQresultStatus(r.raw()) != PGRES_COMMAND_OK) return PgError(c, "loading " + what, r.raw());
  return std::stoull(r.CmdTuples().empty() ? "0" : r.CmdTuples());
}

}  // namespace hasync::engine
