// The table may not exist yet (before the first sync, or after a dry run), so reads look it up
// first instead of failing. Its row always has id 1: one database, one position.
#include "engine/db/sync_state.h"

#include "common/log.h"
#include "engine/db/db_apply.h"
#include "snapshot/db_catalog.h"
#include "snapshot/pg_source.h"

namespace hasync::engine {

using snapshot::PgResult;

Status SyncState::CreateTable() {
  return conn_.Run(std::string("CREATE SCHEMA IF NOT EXISTS ") + snapshot::kStateSchema +
                   "; CREATE TABLE IF NOT EXISTS " + snapshot::kStateSchema +
                   ".sync_state (id int PRIMARY KEY CHECK (id = 1), sync_id bigint NOT NULL, "
                   "lsn pg_lsn NOT NULL, source_id text NOT NULL, "
                   "committed_at timestamptz NOT NULL DEFAULT now()); ALTER TABLE " +
                   snapshot::kStateSchema +
                   ".sync_state ADD COLUMN IF NOT EXISTS software_version text NOT NULL DEFAULT "
                   "''; "
                   "CREATE TABLE IF NOT EXISTS " +
                   snapshot::kStateSchema +
                   ".primary_tables (schema_name text NOT NULL, table_name text NOT NULL, "
                   "token text NOT NULL, PRIMARY KEY (schema_name, table_name))");
}

Result<PgResult> SyncState::Read() {
  std::string table = std::string(snapshot::kStateSchema) + ".sync_state";
  HASYNC_ASSIGN_OR_RETURN(
      PgResult exists, conn_.ExecParams("SELECT pg_catalog.to_regclass($1) IS NOT NULL", {table}));
  if (exists.Get(0, 0) != "t") return conn_.Exec("SELECT NULL WHERE false");
  // The version column came later: read through to_jsonb, NULL where it is not there yet.
  return conn_.Exec("SELECT sync_id, lsn, source_id, to_jsonb(s) ->> 'software_version' FROM " +
                    table + " s WHERE id = 1");
}

Result<uint64_t> SyncState::CommittedSyncId() {
  HASYNC_ASSIGN_OR_RETURN(PgResult r, Read());
  if (r.rows() == 0) return uint64_t{0};
  return static_cast<uint64_t>(std::stoll(r.Get(0, 0)));
}

Result<DbRequest> SyncState::Request(const DbRequestOptions& options) {
  HASYNC_ASSIGN_OR_RETURN(PgResult r, Read());
  DbRequest req{.force_full = options.force_full, .start_lsn = 0, .source_id = ""};
  if (r.rows() == 1) {
    HASYNC_ASSIGN_OR_RETURN(req.start_lsn, snapshot::ParseLsn(r.Get(0, 1)));
    req.source_id = r.Get(0, 2);
    const std::string recorded = r.IsNull(0, 3) ? "" : r.Get(0, 3);
    if (!req.force_full && !recorded.empty() && !options.software_version.empty() &&
        recorded != options.software_version) {
      req.force_full = true;
      req.full_reason = "this node's software version changed since its last sync (" + recorded +
                        " to " + options.software_version +
                        "): its own upgrade may have written to its database, so it is copied "
                        "whole";
    }
    std::string table = std::string(snapshot::kStateSchema) + ".primary_tables";
    HASYNC_ASSIGN_OR_RETURN(
        PgResult exists,
        conn_.ExecParams("SELECT pg_catalog.to_regclass($1) IS NOT NULL", {table}));
    if (exists.Get(0, 0) == "t") {
      HASYNC_ASSIGN_OR_RETURN(PgResult t, conn_.Exec("SELECT schema_name, table_name, token FROM " +
                                                     table + " ORDER BY 1, 2"));
      for (int i = 0; i < t.rows(); ++i) {
        req.primary_tables.push_back(DbTableDesc{
            .schema = t.Get(i, 0), .name = t.Get(i, 1), .description = "", .token = t.Get(i, 2)});
      }
    }
  }
  return req;
}

Status SyncState::Record(uint64_t sync_id, snapshot::Lsn lsn, const std::string& source_id,
                         const std::string& software_version,
                         const std::vector<DbTableDesc>& tables) {
  const std::string table = std::string(snapshot::kStateSchema) + ".primary_tables";
  HASYNC_RETURN_IF_ERROR(conn_.Run("DELETE FROM " + table));
  for (const auto& t : tables) {
    if (t.token.empty()) continue;
    HASYNC_RETURN_IF_ERROR(conn_
                               .ExecParams("INSERT INTO " + table + " VALUES ($1, $2, $3)",
                                           {t.schema, t.name, t.token})
                               .status());
  }
  return conn_
      .ExecParams(
          std::string("INSERT INTO ") + snapshot::kStateSchema +
              ".sync_state (id, sync_id, lsn, source_id, software_version) VALUES (1, $1, $2, "
              "$3, $4) ON CONFLICT (id) DO UPDATE SET sync_id = EXCLUDED.sync_id, "
              "lsn = EXCLUDED.lsn, source_id = EXCLUDED.source_id, "
              "software_version = EXCLUDED.software_version, committed_at = now()",
          {std::to_string(static_cast<int64_t>(sync_id)), snapshot::FormatLsn(lsn), source_id,
           software_version})
      .status();
}

Result<bool> SyncState::DropSlotFor(const std::string& source_node) {
  std::string slot = snapshot::PgSource::SlotName(source_node);
  HASYNC_ASSIGN_OR_RETURN(
      PgResult r, conn_.ExecParams("SELECT pg_drop_replication_slot(slot_name) FROM "
                                   "pg_replication_slots WHERE slot_name = $1 AND NOT active",
                                   {slot}));
  if (r.rows() == 0) return false;
  Log("database")
      ->warn(
          "dropped this node's slot {}: {} is now the source, and changes applied here must not "
          "flow "
          "back to it; should it follow this node again it gets a full copy",
          slot, source_node);
  return true;
}

}  // namespace hasync::engine
