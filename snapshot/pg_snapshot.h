// One point of the Primary's database that several readers see alike: a snapshot exported by
// creating a logical slot (its consistent point), imported by a read-only REPEATABLE READ
// transaction. A full copy reads tables, sequences and table checks through it while pg_dump
// imports the same snapshot; a verify pins one with a temporary slot and streams up to it.
#pragma once

#include <string>

#include "common/status.h"
#include "snapshot/pg.h"

namespace hasync::snapshot {

struct ExportedSnapshot {
  Lsn point = 0;     // the slot's consistent point: the snapshot shows what committed before it
  std::string name;  // for SET TRANSACTION SNAPSHOT and pg_dump --snapshot
};

// Move-only; not thread-safe. Destroying it ends the transaction (rolled back) and closes the
// exporting connection, after which the snapshot can no longer be imported.
class PgSnapshot {
 public:
  // Opens a connection and a transaction that imports `exported`. exporter is the replication
  // connection that exported it: kept open while this lives, so others (pg_dump) can import the
  // snapshot too; pass PgConn() when only this transaction reads it.
  // REQUIRES: exporter has run nothing since it exported the snapshot.
  static Result<PgSnapshot> Open(const std::string& conninfo, ExportedSnapshot exported,
                                 PgConn exporter);

  PgSnapshot(PgSnapshot&&) noexcept = default;
  PgSnapshot& operator=(PgSnapshot&&) noexcept = default;

  // The transaction's connection: every read through it is as of point().
  PgConn& conn() { return conn_; }
  Lsn point() const { return exported_.point; }
  const std::string& name() const { return exported_.name; }

  // Ends the (read-only) transaction.
  Status Commit() { return conn_.Run("COMMIT"); }

 private:
  PgSnapshot(ExportedSnapshot exported, PgConn exporter, PgConn conn)
      : exported_(std::move(exported)), exporter_(std::move(exporter)), conn_(std::move(conn)) {}

  ExportedSnapshot exported_;
  PgConn exporter_;
  PgConn conn_;
};

}  // namespace hasync::snapshot
