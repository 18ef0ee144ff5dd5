// hasync.sync_state on the Secondary: one row with the id of the last sync committed into this
// database, the position it reached and the database it came from. It is written in the sync's
// own transaction, so the data and the record of how far it is commit together: the request of
// the next sync starts from it, and after a crash the file journal compares its sync id with it
// (DESIGN.md, "Atomic commit"). Also here: dropping a slot this node kept while it was Primary.
#pragma once

#include <cstdint>
#include <string>

#include "common/status.h"
#include "engine/wire/db_protocol.h"
#include "snapshot/pg.h"

namespace hasync::engine {

struct DbRequestOptions;

// Not thread-safe; borrows the connection, which must outlive it.
class SyncState {
 public:
  explicit SyncState(snapshot::PgConn& conn) : conn_(conn) {}

  // Creates hasync's schema and table if missing: in the first sync's transaction, so a dry run
  // creates nothing.
  Status CreateTable();
  // The sync id recorded by the last commit (0: none yet).
  Result<uint64_t> CommittedSyncId();
  // A database request from the recorded position (none yet: from the start, a full copy).
  Result<DbRequest> Request(const DbRequestOptions& options);
  // Records the sync in the open transaction; it counts once that commits. tables: the
  // Primary's tables with their tokens (snapshot::kTableToken), which the next request sends
  // back (a table dropped and re-created alike, or rewritten, between syncs has a new token and
  // nothing else to tell it by).
  Status Record(uint64_t sync_id, snapshot::Lsn lsn, const std::string& source_id,
                const std::string& software_version, const std::vector<DbTableDesc>& tables);
  // Drops this node's inactive slot for source_node (see DbTarget::DropSlotFor).
  Result<bool> DropSlotFor(const std::string& source_node);

 private:
  // The recorded row (sync_id, lsn, source_id), or no rows before the first sync.
  Result<snapshot::PgResult> Read();

  snapshot::PgConn& conn_;
};

}  // namespace hasync::engine
