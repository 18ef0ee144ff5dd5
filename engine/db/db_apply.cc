// The Secondary's database side, the dispatch: reads database begin ... database end from the
// Primary and hands each message to its part, inside one transaction: the full load
// (full_load.h: schema scripts, table copies, sequences), the change applier
// (change_applier.h) and the sync-state record (sync_state.h), which Commit writes with the
// data. The frame order the protocol allows (engine/FORMAT.md) is enforced here.
#include "engine/db/db_apply.h"

#include "common/kill_point.h"
#include "common/log.h"
#include "engine/db/change_applier.h"
#include "engine/db/full_load.h"
#include "engine/db/schema_apply.h"
#include "engine/db/schema_plan.h"
#include "engine/db/sync_state.h"
#include "snapshot/db_catalog.h"
#include "snapshot/pg.h"
#include "verify/table_check.h"

namespace hasync::engine {

using snapshot::PgConn;

struct DbTarget::Impl {
  const Settings& s;
  snapshot::DbScope scope;
  PgConn conn;
  DbSummary sum;
  bool in_txn = false;
  std::string source_id;
  std::vector<DbTableDesc> primary_tables;  // database begin's: recorded with the commit
  SyncState state{conn};
  ChangeApplier changes{conn, scope};
  SchemaApply schema{conn, scope};
  uint8_t sections_done = 0;  // bit 0: pre-data, bit 1: post-data (an incremental's schema)
  std::shared_ptr<spdlog::logger> log = Log("database");

  explicit Impl(const Settings& settings)
      : s(settings),
        scope{.include_schemas = settings.database.include_schemas,
              .exclude_schemas = settings.database.exclude_schemas,
              .exclude_tables = settings.database.exclude_tables} {}

  Status Open() {
    HASYNC_ASSIGN_OR_RETURN(conn, PgConn::Connect(s.database.conninfo));
    return Status::Ok();
  }

  Status Receive(PeerLink& link);
  Status Begin(const DbBegin& begin, FullLoad& load);
  // One frame after database begin; true once it was database end.
  Result<bool> Dispatch(const transport::Frame& f, const DbBegin& begin, FullLoad& load);
  Status ApplyChanges(std::span<const std::byte> payload);
  Status AddSql(const DbSql& m, const DbBegin& begin, FullLoad& load);
  Status CheckRowSecurity();
  Status End(const DbEnd& m, const DbBegin& begin, FullLoad& load);
  Status Commit(uint64_t sync_id);
  void Abort();
};

Status DbTarget::Impl::Receive(PeerLink& link) {
  HASYNC_ASSIGN_OR_RETURN(transport::Frame f, link.Read());
  if (f.type != U8(MsgType::kDbBegin)) return Unexpected(f, "database begin");
  HASYNC_ASSIGN_OR_RETURN(DbBegin begin, DecodeDbBegin(f.payload));
  FullLoad load(conn, scope, {.full = begin.full});
  HASYNC_RETURN_IF_ERROR(Begin(begin, load));
  for (;;) {
    HASYNC_ASSIGN_OR_RETURN(f, link.Read());
    HASYNC_ASSIGN_OR_RETURN(bool ended, Dispatch(f, begin, load));
    if (ended) return Status::Ok();
  }
}

// Opens the sync's transaction for what database begin announces.
Status DbTarget::Impl::Begin(const DbBegin& begin, FullLoad& load) {
  sum.full = begin.full;
  sum.reason = begin.reason;
  source_id = begin.source_id;
  primary_tables = begin.tables;
  if (begin.full && !begin.schema.empty()) {
    return Status(Code::kProtocol, "a full copy with schema changes");
  }
  // Changes apply only to the tables they were made to: without schema changes, this node's
  // tables must be the Primary's already.
  if (!begin.full && begin.schema.empty()) {
    HASYNC_RETURN_IF_ERROR(CompareSchemas(conn, scope, begin.tables, "the Primary"));
  }
  for (const auto& c : begin.schema) {
    sum.schema_changes.push_back(
        DescribeChange(c, snapshot::TableDataInScope(scope, c.schema, c.name)));
    log->info("schema change to carry: {}", sum.schema_changes.back());
  }
  HASYNC_RETURN_IF_ERROR(schema.AddLabels(begin.schema));
  HASYNC_RETURN_IF_ERROR(conn.Run("BEGIN; SET LOCAL synchronous_commit = on"));
  in_txn = true;
  HASYNC_RETURN_IF_ERROR(state.CreateTable());
  if (!begin.full) {
    if (!begin.schema.empty()) HASYNC_RETURN_IF_ERROR(schema.Prepare(begin.schema));
    return changes.Begin();
  }
  log->warn("full copy of the database: {}", begin.reason);
  return load.Begin();
}

Result<bool> DbTarget::Impl::Dispatch(const transport::Frame& f, const DbBegin& begin,
                                      FullLoad& load) {
  const auto type = static_cast<MsgType>(f.type);
  if (load.copying() && type != MsgType::kDbCopyData && type != MsgType::kDbCopyEnd) {
    return Unexpected(f, "table copy data");
  }
  switch (type) {
    case MsgType::kDbSql: {
      if (!begin.full && begin.schema.empty()) return Unexpected(f, "database changes");
      HASYNC_ASSIGN_OR_RETURN(DbSql m, DecodeDbSql(f.payload));
      HASYNC_RETURN_IF_ERROR(AddSql(m, begin, load));
      return false;
    }
    case MsgType::kDbCopyBegin: {
      if (!begin.schema.empty() && !(sections_done & 1)) {
        return Unexpected(f, "the schema changes' pre-data script");
      }
      HASYNC_ASSIGN_OR_RETURN(DbCopyBegin m, DecodeDbCopyBegin(f.payload));
      HASYNC_RETURN_IF_ERROR(changes.Finish());
      HASYNC_RETURN_IF_ERROR(load.BeginCopy(m));
      if (!begin.full && m.truncate) sum.copied_whole.push_back(m.schema + "." + m.name);
      return false;
    }
    case MsgType::kDbCopyData:
      if (!load.copying()) return Unexpected(f, "table copy begin");
      HASYNC_RETURN_IF_ERROR(load.CopyData(f.payload));
      return false;
    case MsgType::kDbCopyEnd: {
      if (!load.copying()) return Unexpected(f, "table copy begin");
      HASYNC_ASSIGN_OR_RETURN(DbCopyEnd m, DecodeDbCopyEnd(f.payload));
      HASYNC_RETURN_IF_ERROR(load.EndCopy(m));
      return false;
    }
    case MsgType::kDbChanges:
      if (begin.full) return Unexpected(f, "database schema or table copy");
      if (!begin.schema.empty() && !(sections_done & 1)) {
        return Unexpected(f, "the schema changes' pre-data script");
      }
      HASYNC_RETURN_IF_ERROR(ApplyChanges(f.payload));
      return false;
    case MsgType::kDbSequences: {
      HASYNC_ASSIGN_OR_RETURN(auto seqs, DecodeDbSequences(f.payload));
      HASYNC_RETURN_IF_ERROR(changes.Finish());
      HASYNC_RETURN_IF_ERROR(load.SetSequences(seqs));
      return false;
    }
    case MsgType::kDbEnd: {
      HASYNC_ASSIGN_OR_RETURN(DbEnd m, DecodeDbEnd(f.payload));
      HASYNC_RETURN_IF_ERROR(End(m, begin, load));
      return true;
    }
    default:
      return Unexpected(f, "database changes");
  }
}

// A table with FORCE ROW LEVEL SECURITY applies its policies to its owner, the apply role: its
// checks and foreign keys would see some rows only (or fail, with row_security off). Refused,
// with the fix, unless the role bypasses row-level security.
Status DbTarget::Impl::CheckRowSecurity() {
  HASYNC_ASSIGN_OR_RETURN(
      snapshot::PgResult r,
      conn.Exec("SELECT n.nspname, c.relname, current_user FROM pg_catalog.pg_class c JOIN "
                "pg_catalog.pg_namespace n ON n.oid = c.relnamespace WHERE c.relforcerowsecurity "
                "AND NOT (SELECT rolbypassrls OR rolsuper FROM pg_catalog.pg_roles WHERE rolname "
                "= current_user) ORDER BY 1, 2"));
  for (int i = 0; i < r.rows(); ++i) {
    if (!snapshot::SchemaInScope(scope, r.Get(i, 0))) continue;
    return Status(Code::kConfig,
                  "table " + r.Get(i, 0) + "." + r.Get(i, 1) +
                      " forces row-level security, which binds this node's apply role (it owns "
                      "the table) and would hide rows from the sync; nothing was applied: as a "
                      "superuser, run ALTER ROLE " +
                      conn.QuoteIdent(r.Get(i, 2)) + " BYPASSRLS on this node, then sync again");
  }
  return Status::Ok();
}

// A full copy's scripts, or an incremental's around its copies: pre-data once, then post-data
// once.
Status DbTarget::Impl::AddSql(const DbSql& m, const DbBegin& begin, FullLoad& load) {
  const uint8_t bit = m.section == DbSection::kPreData ? 1 : 2;
  if ((sections_done & bit) || (bit == 2 && !(sections_done & 1))) {
    return Status(Code::kProtocol, "a schema script out of order");
  }
  if (!begin.full) HASYNC_RETURN_IF_ERROR(changes.Finish());
  HASYNC_RETURN_IF_ERROR(load.AddSql(m));
  if (m.last) sections_done |= bit;
  return Status::Ok();
}

Status DbTarget::Impl::ApplyChanges(std::span<const std::byte> payload) {
  Status st = changes.Apply(payload);
  // The summary counts what was applied, also when it failed part way.
  sum.transactions = changes.transactions();
  sum.changes = changes.changes();
  return st;
}

Status DbTarget::Impl::End(const DbEnd& m, const DbBegin& begin, FullLoad& load) {
  if (changes.mid_record()) {
    return Status(Code::kProtocol, "database changes ended in the middle of a record");
  }
  if (load.sql_pending()) {
    return Status(Code::kProtocol, "the schema script ended without its last piece");
  }
  if (m.end_lsn == 0) return Status(Code::kProtocol, "database end without a position");
  HASYNC_RETURN_IF_ERROR(changes.Finish());
  sum.end_lsn = m.end_lsn;
  sum.slot_retained_bytes = m.slot_retained_bytes;
  HASYNC_RETURN_IF_ERROR(CheckRowSecurity());
  if (begin.full) {
    sum.changes = load.rows();
    // The copy must have produced the Primary's tables exactly.
    HASYNC_RETURN_IF_ERROR(CompareSchemas(conn, scope, begin.tables, "the Primary's copy"));
  }
  // What the Primary refreshed in the window, refreshed here at the sync's point.
  for (const auto& v : m.refresh) {
    if (begin.full || !snapshot::SchemaInScope(scope, v.schema)) {
      return Status(Code::kProtocol, "the Primary sent a refresh of " + v.schema + "." + v.name +
                                         ", which is outside this node's replicated schemas");
    }
    HASYNC_RETURN_IF_ERROR(changes.Finish());
    HASYNC_RETURN_IF_ERROR(conn.Run("REFRESH MATERIALIZED VIEW " + conn.QuoteIdent(v.schema) + "." +
                                    conn.QuoteIdent(v.name) + (v.populated ? "" : " WITH NO DATA"))
                               .Context("refreshing materialized view " + v.schema + "." + v.name));
    sum.refreshed.push_back(v.schema + "." + v.name);
  }
  if (!begin.full && !begin.schema.empty()) {
    if (sections_done != 3) {
      return Status(Code::kProtocol, "database end before the schema changes' scripts");
    }
    HASYNC_RETURN_IF_ERROR(schema.Finish(begin.schema));
    HASYNC_RETURN_IF_ERROR(CompareSchemas(conn, scope, begin.tables, "the Primary"));
  }
  KillPoint("db.applied");
  return Status::Ok();
}

Status DbTarget::Impl::Commit(uint64_t sync_id) {
  if (!in_txn) return Status::Ok();
  HASYNC_RETURN_IF_ERROR(changes.Finish());
  HASYNC_RETURN_IF_ERROR(
      state.Record(sync_id, sum.end_lsn, source_id, s.software_version, primary_tables));
  KillPoint("db.before-commit");
  Status st = conn.Run("COMMIT");
  in_txn = false;
  HASYNC_RETURN_IF_ERROR(st.Context("committing the database"));
  KillPoint("db.after-commit");
  return Status::Ok();
}

void DbTarget::Impl::Abort() {
  if (!in_txn) return;
  in_txn = false;
  if (changes.pipeline_on()) {
    // Whatever is queued is thrown away with the transaction; a fresh session is simplest.
    conn = PgConn();
    return;
  }
  (void)conn.Run("ROLLBACK");
}

DbTarget::DbTarget(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
DbTarget::~DbTarget() {
  if (impl_) impl_->Abort();
}

Result<std::unique_ptr<DbTarget>> DbTarget::Open(const Settings& s) {
  auto impl = std::make_unique<Impl>(s);
  HASYNC_RETURN_IF_ERROR(impl->Open());
  return std::unique_ptr<DbTarget>(new DbTarget(std::move(impl)));
}

Result<uint64_t> DbTarget::CommittedSyncId() { return impl_->state.CommittedSyncId(); }
Result<DbRequest> DbTarget::Request(const DbRequestOptions& options) {
  DbRequestOptions o = options;
  o.software_version = impl_->s.software_version;
  HASYNC_ASSIGN_OR_RETURN(DbRequest req, impl_->state.Request(o));
  HASYNC_RETURN_IF_ERROR(impl_->schema.Describe());
  req.has_schema = true;
  req.schema = impl_->schema.mine();
  return req;
}
Result<bool> DbTarget::DropSlotFor(const std::string& source_node) {
  return impl_->state.DropSlotFor(source_node);
}

Status DbTarget::Receive(PeerLink& link) { return impl_->Receive(link); }
Status DbTarget::Commit(uint64_t sync_id) { return impl_->Commit(sync_id); }
void DbTarget::Abort() { impl_->Abort(); }

Result<std::vector<TableCheck>> DbTarget::CheckInTransaction(const std::vector<TableCheck>& primary,
                                                             const verify::CheckOptions& options) {
  if (!impl_->in_txn) return Status(Code::kInternal, "table checks outside the sync's transaction");
  return verify::CheckTablesOn(impl_->conn, impl_->scope, &primary, options);
}
const DbSummary& DbTarget::summary() const { return impl_->sum; }

}  // namespace hasync::engine
