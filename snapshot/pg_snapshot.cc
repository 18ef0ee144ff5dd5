// Importing an exported snapshot: the importing transaction must be REPEATABLE READ (or
// SERIALIZABLE) and import it before its first query; READ ONLY because nothing of the Primary's
// is ever written through it.
#include "snapshot/pg_snapshot.h"

namespace hasync::snapshot {

Result<PgSnapshot> PgSnapshot::Open(const std::string& conninfo, ExportedSnapshot exported,
                                    PgConn exporter) {
  HASYNC_ASSIGN_OR_RETURN(PgConn conn, PgConn::Connect(conninfo));
  HASYNC_RETURN_IF_ERROR(conn.Run("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY"));
  HASYNC_RETURN_IF_ERROR(conn.Run("SET TRANSACTION SNAPSHOT " + conn.QuoteLiteral(exported.name)));
  return PgSnapshot(std::move(exported), std::move(exporter), std::move(conn));
}

}  // namespace hasync::snapshot
