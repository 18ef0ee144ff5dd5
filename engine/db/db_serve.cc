// The Primary's database side, the protocol half: decides between a full copy and the changes
// since the Secondary's position (copy_reason.h), and sends what snapshot::PgSource reads as the
// database messages (engine/FORMAT.md): database begin, the schema scripts, table copies, the
// change records cut into frames, sequences, database end, and a pinned request's table checks.
// Everything PostgreSQL-specific is in snapshot/; this file only orders and frames.
#include "engine/db/db_serve.h"

#include <algorithm>
#include <optional>
#include <span>

#include "common/kill_point.h"
#include "common/log.h"
#include "engine/db/copy_reason.h"
#include "engine/db/schema_plan.h"
#include "engine/wire/verify_protocol.h"
#include "snapshot/db_catalog.h"
#include "snapshot/large_objects.h"
#include "snapshot/pg_source.h"
#include "snapshot/schema_catalog.h"
#include "snapshot/table_copy.h"
#include "verify/table_check.h"

namespace hasync::engine {
namespace {

using snapshot::Lsn;
using snapshot::PgConn;
using snapshot::PgMessage;

constexpr size_t kChunk = 1 << 20;  // bytes per data frame

snapshot::PgSourceOptions SourceOptions(const Settings& s, const std::string& peer_node) {
  return snapshot::PgSourceOptions{.conninfo = s.database.conninfo,
                                   .scope = {.include_schemas = s.database.include_schemas,
                                             .exclude_schemas = s.database.exclude_schemas,
                                             .exclude_tables = s.database.exclude_tables},
                                   .slot = DbSource::SlotName(peer_node),
                                   .pg_dump = s.database.pg_dump};
}

// The change records as one byte stream cut into database-changes frames of kChunk bytes (the
// last one shorter): a record may span frames, and the Secondary's ChangeReader joins them.
class ChangeFrames {
 public:
  explicit ChangeFrames(PeerLink& link) : link_(link) {}

  // Encodes m and sends every full frame.
  Status Add(const PgMessage& m) {
    EncodeChange(m, out_);
    return Send(kChunk);
  }
  // Sends what is left.
  Status Flush() { return Send(1); }

 private:
  // Sends frames of up to kChunk bytes while at least min_bytes are buffered.
  // REQUIRES: 1 <= min_bytes <= kChunk.
  Status Send(size_t min_bytes) {
    auto v = out_.view();
    size_t pos = 0;
    while (v.size() - pos >= min_bytes) {
      size_t n = std::min(kChunk, v.size() - pos);
      HASYNC_RETURN_IF_ERROR(link_.SendRaw(MsgType::kDbChanges, v.subspan(pos, n)));
      pos += n;
    }
    out_.buffer().erase(out_.buffer().begin(), out_.buffer().begin() + static_cast<ptrdiff_t>(pos));
    return Status::Ok();
  }

  PeerLink& link_;
  Encoder out_;
};

DbBegin MakeBegin(DbBegin begin, const std::vector<snapshot::TableInfo>& tables) {
  for (const auto& t : tables) begin.tables.push_back({t.schema, t.name, t.description, t.token});
  return begin;
}

// What an incremental sync knows of the two schemas before it pins.
struct SchemaContext {
  std::vector<snapshot::SchemaObject> objects;  // the Primary's, read unpinned
  bool differ = false;                          // the first look found changes to carry
  bool verify_only = false;
};

// The first difference between two reads of the Primary's schema, for the log and the error.
std::string FirstDifference(const std::vector<snapshot::SchemaObject>& before,
                            const std::vector<snapshot::SchemaObject>& after) {
  SchemaPlan plan = PlanSchemaChanges(after, before);
  if (!plan.full_copy.empty()) return plan.full_copy;
  if (plan.changes.empty()) return "its schema changed";
  const SchemaChange& c = plan.changes[0];
  return std::string(snapshot::ObjectKindName(c.kind)) + " " + c.schema +
         (c.name.empty() ? "" : "." + c.name) + " " + SchemaActionWord(c.action);
}

struct TableCopyOptions {
  bool truncate = false;  // the Secondary empties the table first (an unlogged table's refresh)
};

}  // namespace

struct DbSource::Impl {
  const Settings& s;
  PeerLink& link;
  snapshot::PgSource pg;
  Lsn end_lsn = 0;  // what Confirm moves the slot to; 0 until a Serve succeeded
  std::shared_ptr<spdlog::logger> log = Log("database");

  Impl(const Settings& settings, PeerLink& l, const std::string& peer)
      : s(settings), link(l), pg(SourceOptions(settings, peer)) {}

  Status Serve(const DbRequest& req, const DbServeOptions& options);
  Status Full(const DbRequest& req, const DbBegin& begin, const snapshot::SlotState& slot);
  Status Incremental(const DbRequest& req, const DbBegin& begin,
                     std::vector<snapshot::TableInfo> tables, snapshot::TableSet copied,
                     const SchemaContext& context, const snapshot::SlotState& slot);
  Result<std::vector<DbRefresh>> Refreshed(PgConn& c, const std::vector<uint32_t>& oids);
  Status SendSchemaScript(snapshot::PgSnapshot& pinned, const std::vector<SchemaChange>& schema,
                          std::string& post_data);
  Result<snapshot::ChangesRead> SendChanges(const snapshot::ReadChangesOptions& options);
  Status SendSql(DbSection section, const std::string& sql);
  Result<uint64_t> SendCopy(PgConn& c, const DbCopyBegin& begin, const std::string& copy);
  Result<uint64_t> SendTable(PgConn& c, const snapshot::TableInfo& t, const TableCopyOptions& o);
  Result<uint64_t> SendRange(PgConn& c, const std::vector<snapshot::TableInfo>& tables,
                             const DbRange& r);
  Status SendSequences(PgConn& c);
  Status SendEnd(DbEnd end);
  Status SendChecks(PgConn& c, const DbRequest& req);
  Status Confirm();
  void WarnLargeObjects();
};

Status DbSource::Impl::Serve(const DbRequest& req, const DbServeOptions& options) {
  HASYNC_RETURN_IF_ERROR(pg.Connect());
  HASYNC_RETURN_IF_ERROR(pg.CheckWalLevel());
  HASYNC_ASSIGN_OR_RETURN(std::string source_id, pg.SourceId());
  HASYNC_ASSIGN_OR_RETURN(snapshot::PublicationState pubs, pg.EnsurePublications());
  HASYNC_ASSIGN_OR_RETURN(auto tables,
                          pg.ListReplicatedTables(pubs.legacy || s.database.keyless == "refuse"));
  HASYNC_ASSIGN_OR_RETURN(snapshot::SlotState slot, pg.ReadSlot());
  HASYNC_ASSIGN_OR_RETURN(std::string reason, FullCopyReason(req, source_id, slot, pg.slot()));
  // The two schemas, compared at each incremental sync: what differs is carried (schema_plan.h)
  // or, where it cannot be, makes the sync a full copy that says why.
  SchemaContext context{.verify_only = options.verify_only};
  if (reason.empty() && req.has_schema) {
    HASYNC_ASSIGN_OR_RETURN(context.objects, snapshot::ReadSchemaObjects(pg.conn(), pg.scope()));
    SchemaPlan plan = PlanSchemaChanges(context.objects, req.schema, req.primary_tables);
    if (!plan.empty() && (options.verify_only || !req.repair.empty())) {
      return Status(Code::kSchema, "the two databases' schemas differ (" +
                                       (plan.full_copy.empty() ? DescribeChange(plan.changes[0])
                                                               : plan.full_copy) +
                                       "): run a sync first");
    }
    if (!plan.full_copy.empty()) reason = "the schema changed: " + plan.full_copy;
    context.differ = !plan.changes.empty();
  }
  if (options.verify_only && !reason.empty()) {
    return Status(Code::kDatabase,
                  "the database cannot be verified at the Secondary's sync point (" + reason +
                      "): run a sync first");
  }
  if (!req.repair.empty() && !reason.empty()) {
    return Status(Code::kDatabase, "key ranges cannot be repaired: " + reason);
  }
  if (reason.empty()) {
    return Incremental(req, {.full = false, .source_id = source_id}, std::move(tables),
                       pubs.outside, context, slot);
  }
  log->warn("full copy of the database for the Secondary: {}", reason);
  return Full(req, {.full = true, .reason = reason, .source_id = source_id}, slot);
}

// Everything is read as of the new slot's consistent point; the slot streams what follows.
// begin: without its tables, which are listed in the snapshot.
Status DbSource::Impl::Full(const DbRequest& req, const DbBegin& begin,
                            const snapshot::SlotState& slot) {
  HASYNC_ASSIGN_OR_RETURN(snapshot::PgSnapshot snap, pg.CreateSlot({.replace = slot.exists}));
  HASYNC_ASSIGN_OR_RETURN(auto tables, snapshot::ListTables(snap.conn(), pg.scope()));
  HASYNC_ASSIGN_OR_RETURN(snapshot::SchemaDump dump, pg.StartSchemaDump(snap));
  // pg_dump runs while database begin goes out.
  Status st = link.Send(MsgType::kDbBegin, MakeBegin(begin, tables));
  auto scripts = dump.Wait();
  HASYNC_RETURN_IF_ERROR(st);
  HASYNC_RETURN_IF_ERROR(scripts.status());
  HASYNC_RETURN_IF_ERROR(SendSql(DbSection::kPreData, scripts->pre_data));
  uint64_t rows = 0;
  for (const auto& t : tables) {
    if (t.data_excluded) continue;
    HASYNC_ASSIGN_OR_RETURN(uint64_t n, SendTable(snap.conn(), t, {.truncate = false}));
    rows += n;
  }
  HASYNC_RETURN_IF_ERROR(SendSequences(snap.conn()));
  HASYNC_RETURN_IF_ERROR(SendSql(DbSection::kPostData, scripts->post_data));
  // A verified sync: the copy's own snapshot is the point both sides are compared at.
  VerifyTables ranges, checks;
  if (req.pinned) {
    const verify::CheckOptions bounds{.counts_only = req.counts_only, .bounds_only = true};
    const verify::CheckOptions level{.counts_only = req.counts_only, .sample = req.SampleSeed()};
    HASYNC_ASSIGN_OR_RETURN(ranges.tables,
                            verify::CheckTablesOn(snap.conn(), pg.scope(), nullptr, bounds));
    HASYNC_ASSIGN_OR_RETURN(checks.tables,
                            verify::CheckTablesOn(snap.conn(), pg.scope(), &ranges.tables, level));
  }
  HASYNC_RETURN_IF_ERROR(snap.Commit());
  end_lsn = snap.point();
  log->info("database copied: {} tables, {} rows", tables.size(), rows);
  HASYNC_RETURN_IF_ERROR(
      SendEnd(DbEnd{.end_lsn = snap.point(), .transactions = 0, .changes = rows}));
  if (!req.pinned) return Status::Ok();
  HASYNC_RETURN_IF_ERROR(link.Send(MsgType::kVerifyTables, ranges));
  return link.Send(MsgType::kVerifyTables, checks);
}

// A pinned request stops at a point pinned by a temporary slot (its consistent point C, whose
// exported snapshot shows exactly the transactions committed before C), streams only
// transactions committed before C, and sends the table checks of that snapshot after database
// end. The slot moves to C only if the Secondary commits (Confirm).
// Tables outside publication `hasync` (no replica identity now, or none at some moment since the
// last sync: `copied` holds those it lacked when this sync began) are pinned the same way and
// copied whole in C's snapshot instead of streamed, so they and the streamed tables are at one
// point. So are schema changes: planned again from C's catalog (a DDL between the first look and
// C is seen), the definitions dumped from C's snapshot, the tables they touch left out of the
// stream and copied whole at C. Unpinned, the schema is read again after the marker: a DDL
// committed meanwhile fails the sync (nothing applied; the next sync carries it).
Status DbSource::Impl::Incremental(const DbRequest& req, const DbBegin& begin_in,
                                   std::vector<snapshot::TableInfo> tables,
                                   snapshot::TableSet copied, const SchemaContext& context,
                                   const snapshot::SlotState& slot) {
  const std::string token = snapshot::NewMarkerToken();
  std::optional<snapshot::PgSnapshot> pinned;
  DbBegin begin = begin_in;
  if (req.pinned || context.differ || !copied.empty() ||
      !snapshot::TablesWithoutIdentity(tables).empty()) {
    HASYNC_ASSIGN_OR_RETURN(snapshot::PgSnapshot p, pg.Pin(token));
    pinned.emplace(std::move(p));
    KillPoint("db.pinned");
    if (req.has_schema) {
      HASYNC_ASSIGN_OR_RETURN(auto objects,
                              snapshot::ReadSchemaObjects(pinned->conn(), pg.scope()));
      SchemaPlan plan = PlanSchemaChanges(objects, req.schema, req.primary_tables);
      if (!plan.empty() && context.verify_only) {
        return Status(Code::kSchema,
                      "the Primary's schema changed as the verify began: run a "
                      "sync first");
      }
      if (!plan.full_copy.empty()) {
        pinned.reset();
        std::string reason = "the schema changed: " + plan.full_copy;
        log->warn("full copy of the database for the Secondary: {}", reason);
        return Full(req, {.full = true, .reason = reason, .source_id = begin.source_id}, slot);
      }
      begin.schema = std::move(plan.changes);
      if (!begin.schema.empty()) {
        HASYNC_ASSIGN_OR_RETURN(tables, snapshot::ListTables(pinned->conn(), pg.scope()));
      }
    }
    HASYNC_ASSIGN_OR_RETURN(auto at_pin,
                            snapshot::TablesOutsidePublication(pinned->conn(), tables));
    copied.insert(at_pin.begin(), at_pin.end());
  }
  HASYNC_RETURN_IF_ERROR(link.Send(MsgType::kDbBegin, MakeBegin(begin, tables)));
  std::string post_data;
  if (!begin.schema.empty()) {
    HASYNC_RETURN_IF_ERROR(SendSchemaScript(*pinned, begin.schema, post_data));
    for (const auto& t : TablesLeftOutOfTheStream(begin.schema)) copied.insert(t);
  }
  HASYNC_ASSIGN_OR_RETURN(snapshot::ChangesRead read,
                          SendChanges({.start = req.start_lsn,
                                       .token = token,
                                       .bound = pinned ? pinned->point() : 0,
                                       .copied = copied}));
  uint64_t changes = read.changes;
  if (!pinned) {
    KillPoint("db.streamed");
    // A table that lost its identity between this sync's start and its marker: its changes
    // since then are not in the stream, and no snapshot is at the marker to copy it in.
    HASYNC_ASSIGN_OR_RETURN(auto now, snapshot::TablesOutsidePublication(pg.conn(), tables));
    if (!now.empty()) {
      return Status(Code::kDatabase, "on the Primary, " + *now.begin() +
                                         " lost its replica identity while this sync ran; "
                                         "nothing was applied: the next sync copies it whole");
    }
    if (req.has_schema) {
      HASYNC_ASSIGN_OR_RETURN(auto after, snapshot::ReadSchemaObjects(pg.conn(), pg.scope()));
      if (after != context.objects) {
        return Status(Code::kDatabase, "on the Primary, " +
                                           FirstDifference(context.objects, after) +
                                           " while this sync ran; nothing was applied: the "
                                           "next sync carries it");
      }
    }
  }
  // Unlogged tables never reach the WAL, so the slot has nothing of them: they go whole.
  PgConn& source = pinned ? pinned->conn() : pg.conn();
  for (const auto& t : tables) {
    if (t.data_excluded || !(t.unlogged || copied.count(t.Qualified()))) continue;
    HASYNC_ASSIGN_OR_RETURN(uint64_t rows, SendTable(source, t, {.truncate = true}));
    changes += rows;
  }
  if (!copied.empty()) {
    std::string list;
    for (const auto& t : copied) list += (list.empty() ? "" : ", ") + t;
    log->info("left out of the stream and copied whole (if still there) at {}: {}",
              snapshot::FormatLsn(pinned->point()), list);
  }
  if (!begin.schema.empty()) HASYNC_RETURN_IF_ERROR(SendSql(DbSection::kPostData, post_data));
  // Repairs: each damaged key range again, as of the pinned point.
  for (const DbRange& r : req.repair) {
    if (!pinned) return Status(Code::kProtocol, "a repair of key ranges without a pinned point");
    HASYNC_ASSIGN_OR_RETURN(uint64_t rows, SendRange(pinned->conn(), tables, r));
    changes += rows;
  }
  HASYNC_RETURN_IF_ERROR(SendSequences(source));
  HASYNC_ASSIGN_OR_RETURN(auto refresh, Refreshed(source, read.refreshed));
  log->info("{} transactions, {} changes from {} to {}", read.transactions, changes,
            snapshot::FormatLsn(req.start_lsn), snapshot::FormatLsn(end_lsn));
  HASYNC_RETURN_IF_ERROR(SendEnd(DbEnd{.end_lsn = end_lsn,
                                       .transactions = read.transactions,
                                       .changes = changes,
                                       .slot_retained_bytes = 0,
                                       .refresh = std::move(refresh)}));
  // Table checks only when asked for: a sync may pin for its own reasons (keyless tables, schema
  // changes) without a post-sync check.
  if (!req.pinned) return Status::Ok();
  return SendChecks(pinned->conn(), req);
}

// The materialized views in scope behind the refresh messages of the window, as c sees them (one
// dropped since is left out), in OID order: a view over another was created after it.
Result<std::vector<DbRefresh>> DbSource::Impl::Refreshed(PgConn& c,
                                                         const std::vector<uint32_t>& oids) {
  std::vector<DbRefresh> out;
  for (uint32_t oid : oids) {
    HASYNC_ASSIGN_OR_RETURN(
        snapshot::PgResult r,
        c.ExecParams("SELECT n.nspname, c.relname, c.relispopulated FROM pg_catalog.pg_class c "
                     "JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace WHERE c.oid = "
                     "$1::oid AND c.relkind = 'm'",
                     {std::to_string(oid)}));
    if (r.rows() != 1 || !snapshot::SchemaInScope(pg.scope(), r.Get(0, 0))) continue;
    out.push_back({.schema = r.Get(0, 0), .name = r.Get(0, 1), .populated = r.Get(0, 2) == "t"});
    log->info("materialized view {}.{} was refreshed on the Primary", out.back().schema,
              out.back().name);
  }
  return out;
}

// The schema changes' pre-data script (the functions they define, then pg_dump's definitions of
// their tables, sequences and views, from the pinned snapshot); post_data is kept for after the
// copies.
Status DbSource::Impl::SendSchemaScript(snapshot::PgSnapshot& pinned,
                                        const std::vector<SchemaChange>& schema,
                                        std::string& post_data) {
  for (const auto& c : schema) log->info("schema change to carry: {}", DescribeChange(c));
  std::optional<snapshot::SchemaDump> dump;
  auto objects = ObjectsToDump(schema);
  if (!objects.empty()) {
    HASYNC_ASSIGN_OR_RETURN(snapshot::SchemaDump d, pg.StartSchemaDump(pinned, objects));
    dump.emplace(std::move(d));
  }
  std::vector<std::pair<std::string, std::string>> functions;
  for (const auto& c : schema) {
    if (c.kind == snapshot::ObjectKind::kFunction && c.action != SchemaAction::kDropped) {
      functions.emplace_back(c.schema, c.name);
    }
  }
  auto defs = snapshot::FunctionDefinitions(pinned.conn(), functions);
  std::string pre = "SET check_function_bodies = false;\n";
  if (defs.ok()) {
    for (const auto& d : *defs) pre += d + ";\n";
  }
  if (dump) {
    auto scripts = dump->Wait();
    HASYNC_RETURN_IF_ERROR(scripts.status());
    pre += scripts->pre_data;
    post_data = std::move(scripts->post_data);
  }
  HASYNC_RETURN_IF_ERROR(defs.status());
  return SendSql(DbSection::kPreData, pre);
}

// The slot's changes in scope as database-changes frames, up to this sync's end.
Result<snapshot::ChangesRead> DbSource::Impl::SendChanges(
    const snapshot::ReadChangesOptions& options) {
  ChangeFrames frames(link);
  HASYNC_ASSIGN_OR_RETURN(
      snapshot::ChangesRead read,
      pg.ReadChanges(options, [&frames](const PgMessage& m) { return frames.Add(m); }));
  end_lsn = read.end_lsn;
  HASYNC_RETURN_IF_ERROR(frames.Flush());
  return read;
}

// A schema script in kChunk pieces, the last one marked (an empty script is one empty piece).
Status DbSource::Impl::SendSql(DbSection section, const std::string& sql) {
  size_t pos = 0;
  do {
    size_t n = std::min(kChunk, sql.size() - pos);
    DbSql m{.section = section,
            .last = pos + n == sql.size(),
            .text = std::as_bytes(std::span<const char>(sql.data() + pos, n))};
    HASYNC_RETURN_IF_ERROR(link.Send(MsgType::kDbSql, m));
    pos += n;
  } while (pos < sql.size());
  return Status::Ok();
}

// Table copy begin, the rows `copy` (a COPY ... TO STDOUT) produces, table copy end.
Result<uint64_t> DbSource::Impl::SendCopy(PgConn& c, const DbCopyBegin& begin,
                                          const std::string& copy) {
  HASYNC_RETURN_IF_ERROR(link.Send(MsgType::kDbCopyBegin, begin));
  HASYNC_ASSIGN_OR_RETURN(
      uint64_t rows,
      snapshot::CopyOut(c, copy, {.table = begin.schema + "." + begin.name, .piece_bytes = kChunk},
                        [this](std::span<const std::byte> piece) {
                          return link.SendRaw(MsgType::kDbCopyData, piece);
                        }));
  HASYNC_RETURN_IF_ERROR(link.Send(MsgType::kDbCopyEnd, DbCopyEnd{.rows = rows}));
  return rows;
}

Result<uint64_t> DbSource::Impl::SendTable(PgConn& c, const snapshot::TableInfo& t,
                                           const TableCopyOptions& o) {
  return SendCopy(
      c,
      DbCopyBegin{.schema = t.schema, .name = t.name, .columns = t.columns, .truncate = o.truncate},
      snapshot::CopyTableSql(c, t));
}

// A repair: the Primary's rows of one key range of one table in scope, as of c's snapshot.
Result<uint64_t> DbSource::Impl::SendRange(PgConn& c,
                                           const std::vector<snapshot::TableInfo>& tables,
                                           const DbRange& r) {
  const snapshot::TableInfo* t = nullptr;
  for (const auto& x : tables) {
    if (x.schema == r.schema && x.name == r.name && !x.data_excluded) t = &x;
  }
  if (t == nullptr) {
    return Status(Code::kDatabase, "repair: " + r.schema + "." + r.name +
                                       " is not a replicated table of the Primary");
  }
  HASYNC_ASSIGN_OR_RETURN(auto key, snapshot::PrimaryKeyColumns(
                                        c, c.QuoteIdent(t->schema) + "." + c.QuoteIdent(t->name)));
  if (key.size() != 1 || key[0].name != r.key) {
    return Status(Code::kDatabase,
                  "repair: " + t->Qualified() + "'s primary key is not (" + r.key + ")");
  }
  std::string where = verify::RangeCondition(c, r, key[0].type);
  DbCopyBegin begin{.schema = t->schema, .name = t->name, .columns = t->columns, .range = r};
  return SendCopy(c, begin, snapshot::CopyRowsSql(c, *t, where));
}

Status DbSource::Impl::SendSequences(PgConn& c) {
  HASYNC_ASSIGN_OR_RETURN(auto seqs, snapshot::ReadSequences(c, pg.scope()));
  std::vector<DbSequence> out;
  for (const auto& v : seqs) {
    out.push_back(DbSequence{
        .schema = v.schema, .name = v.name, .called = v.called, .value = std::stoll(v.value)});
  }
  return link.Send(MsgType::kDbSequences, out);
}

Status DbSource::Impl::SendEnd(DbEnd end) {
  end.slot_retained_bytes = pg.RetainedBytes();
  return link.Send(MsgType::kDbEnd, end);
}

// The key ranges first (the Secondary starts hashing them), then this side's checks.
Status DbSource::Impl::SendChecks(PgConn& c, const DbRequest& req) {
  VerifyTables ranges;
  const verify::CheckOptions bounds{.counts_only = req.counts_only, .bounds_only = true};
  const verify::CheckOptions level{.counts_only = req.counts_only, .sample = req.SampleSeed()};
  HASYNC_ASSIGN_OR_RETURN(ranges.tables, verify::CheckTablesOn(c, pg.scope(), nullptr, bounds));
  HASYNC_RETURN_IF_ERROR(link.Send(MsgType::kVerifyTables, ranges));
  HASYNC_ASSIGN_OR_RETURN(auto checks, verify::CheckTablesOn(c, pg.scope(), &ranges.tables, level));
  return link.Send(MsgType::kVerifyTables, VerifyTables{checks});
}

Status DbSource::Impl::Confirm() {
  if (end_lsn == 0 || !pg.connected()) return Status::Ok();
  HASYNC_RETURN_IF_ERROR(pg.AdvanceSlot(end_lsn));
  uint64_t retained = pg.RetainedBytes();
  if (retained > s.database.max_slot_wal_mb << 20) {
    log->warn(
        "replication slot {} retains {} MiB of WAL, more than [database] "
        "max_slot_wal_mb = {}",
        pg.slot(), retained >> 20, s.database.max_slot_wal_mb);
  }
  log->info("slot {} confirmed at {}", pg.slot(), snapshot::FormatLsn(end_lsn));
  return Status::Ok();
}

// Once per sync served, the large objects the Secondary will not get (snapshot/large_objects.h).
// Only a warning: the count failing takes nothing from a sync that was served.
void DbSource::Impl::WarnLargeObjects() {
  if (!pg.connected()) return;
  Result<uint64_t> n = snapshot::CountLargeObjects(pg.conn());
  if (!n.ok()) {
    log->warn("could not count the large objects on the Primary: {}", n.status().message());
  } else if (*n > 0) {
    log->warn(
        "{} large objects on the Primary are not replicated (logical decoding does not carry "
        "pg_largeobject)",
        *n);
  }
}

DbSource::DbSource(const Settings& s, PeerLink& link, const std::string& peer_node)
    : impl_(std::make_unique<Impl>(s, link, peer_node)) {}
DbSource::~DbSource() = default;
Status DbSource::Serve(const DbRequest& req, const DbServeOptions& options) {
  Status st = impl_->Serve(req, options);
  if (st.ok()) impl_->WarnLargeObjects();
  return st;
}
Status DbSource::Confirm() { return impl_->Confirm(); }

std::string DbSource::SlotName(const std::string& peer_node) {
  return snapshot::PgSource::SlotName(peer_node);
}

std::optional<std::string> DbSource::PeerOfSlot(const std::string& slot) {
  return snapshot::PgSource::PeerOfSlot(slot);
}

Result<std::vector<std::pair<std::string, uint64_t>>> SlotRetention(const std::string& conninfo) {
  return snapshot::SlotRetention(conninfo);
}

}  // namespace hasync::engine
