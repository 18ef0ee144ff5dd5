// The Primary's database as the source of one Secondary's syncs, protocol-free: the checks
// change capture needs (wal_level, replica identities, the publication), the Secondary's logical
// slot (its state, its re-creation with an exported snapshot for a full copy, its advance once the
// Secondary has committed, the WAL it keeps), a snapshot pinned by a temporary slot, pg_dump of
// an exported snapshot, and the slot's changes read up to a marker this sync writes. What it reads
// goes to callbacks; engine/db decides full or incremental and frames it for the wire.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "common/status.h"
#include "snapshot/db_catalog.h"
#include "snapshot/pg.h"
#include "snapshot/pg_snapshot.h"
#include "snapshot/pgoutput.h"
#include "snapshot/publications.h"
#include "snapshot/schema_dump.h"

namespace hasync::snapshot {

struct PgSourceOptions {
  std::string conninfo;
  DbScope scope;
  std::string slot;     // the Secondary's slot (SlotName)
  std::string pg_dump;  // "": the one matching the server (PgDumpPath)
};

// The Secondary's slot as the server has it.
struct SlotState {
  bool exists = false;
  bool lost = false;            // invalidated: the WAL it needed was removed
  std::string confirmed_flush;  // exists: its confirmed_flush_lsn as the server wrote it
};

struct CreateSlotOptions {
  bool replace = false;  // drop the existing slot first
};

struct ReadChangesOptions {
  Lsn start = 0;      // the Secondary's position
  std::string token;  // this sync's marker (NewMarkerToken)
  Lsn bound = 0;      // a pinned point (Pin): stop there instead of at the marker; 0: none
  TableSet copied;    // tables copied whole in this sync: their changes are not sent
};

struct ChangesRead {
  Lsn end_lsn = 0;  // where the Secondary is once it has applied what was read
  uint64_t transactions = 0;
  uint64_t changes = 0;
  std::vector<uint32_t> refreshed;  // materialized views refreshed in the window, by OID
};

using ChangeSink = std::function<Status(const PgMessage&)>;

// Not thread-safe; one per sync. Every method but the static ones needs Connect() first.
class PgSource {
 public:
  explicit PgSource(PgSourceOptions options) : options_(std::move(options)) {}

  Status Connect();
  bool connected() const { return conn_.connected(); }
  // The plain connection (outside any snapshot): what an incremental sync reads whole.
  PgConn& conn() { return conn_; }
  const DbScope& scope() const { return options_.scope; }
  const std::string& slot() const { return options_.slot; }

  // kConfig, with the fix, unless the server runs with wal_level = logical.
  Status CheckWalLevel();
  // "<system identifier>/<database>": what a Secondary's position refers to.
  Result<std::string> SourceId();
  // The tables in scope; with refuse_keyless, kConfig naming those whose updates and deletes
  // cannot be published.
  Result<std::vector<TableInfo>> ListReplicatedTables(bool refuse_keyless);
  // The publications and their event trigger (publications.h).
  // REQUIRES: before the slot is created (decoding looks the publication up as of each change).
  Result<PublicationState> EnsurePublications() {
    return snapshot::EnsurePublications(conn_, options_.scope);
  }
  Result<SlotState> ReadSlot();

  // (Re-)creates the slot and opens its exported snapshot: the slot streams what commits after
  // the snapshot's point.
  Result<PgSnapshot> CreateSlot(const CreateSlotOptions& options);
  // A snapshot pinned by a temporary slot named after token (gone when this returns: the
  // snapshot stays with the returned transaction). Creating the slot waits for the transactions
  // running at that moment to end.
  Result<PgSnapshot> Pin(const std::string& token);
  // pg_dump of snapshot's schema, started in the background: all of it in scope, or only
  // `objects` (tables, sequences, views), whose definitions an incremental sync carries. A
  // pinned snapshot, whose exporter is gone, is exported again from its own transaction.
  Result<SchemaDump> StartSchemaDump(
      PgSnapshot& snapshot,
      const std::vector<std::pair<std::string, std::string>>& objects = {}) const;

  // Writes this sync's marker, then streams the slot from options.start and hands sink every
  // change in scope (ChangeFilter) until the marker's commit (or the bound). The first failing
  // sink call stops it with that Status. The slot does not move.
  Result<ChangesRead> ReadChanges(const ReadChangesOptions& options, const ChangeSink& sink);
  // Moves the slot to lsn (the Secondary committed it): the WAL before it may go. Waits for this
  // sync's walsender to let go of the slot.
  Status AdvanceSlot(Lsn lsn);
  // The WAL the slot keeps on the server's disk (0 when it cannot be read).
  uint64_t RetainedBytes();

  // hasync_<peer node>, folded injectively to what a slot name may hold (lowercase letters kept,
  // '-' as '_', any other byte as '0' and two hex digits; a hash suffix past 63 bytes): one slot
  // per Secondary, never shared by two names.
  static std::string SlotName(const std::string& peer_node);
  // The node name whose SlotName is `slot`, read back from the fold; nullopt for a name that
  // is no such fold, or whose fold was cut to a hash suffix (a node name too long to read back).
  static std::optional<std::string> PeerOfSlot(const std::string& slot);

 private:
  PgSourceOptions options_;
  PgConn conn_;
};

// A fresh random marker token.
std::string NewMarkerToken();

// The WAL each Secondary's hasync slot keeps on the server at conninfo: (slot, bytes), by slot
// name. Temporary slots (a sync's pin, gone with its session) are not listed.
Result<std::vector<std::pair<std::string, uint64_t>>> SlotRetention(const std::string& conninfo);

}  // namespace hasync::snapshot
