#include "engine/db/db_apply.h"

#include <libpq-fe.h>

#include <chrono>
#include <deque>
#include <map>
#include <unordered_map>
#include <unordered_set>

#include "common/kill_point.h"
#include "common/log.h"
#include "engine/db/db_serve.h"
#include "engine/wire/peer_link.h"
#include "snapshot/db_catalog.h"
#include "snapshot/pg.h"
#include "verify/table_check.h"

namespace hasync::engine {
namespace {

using snapshot::PgConn;
using snapshot::PgMessage;
using snapshot::PgResult;
using snapshot::PgValue;

constexpr size_t kPipelineDepth = 1000;  // statements between two pipeline syncs
constexpr size_t kBatchRows = 500;       // rows per batched statement
constexpr size_t kCopyMinRows = 16;      // a run of inserts this long goes through COPY
constexpr size_t kMaxParams = 65535;     // PostgreSQL's limit per statement

double Since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

}  // namespace

struct DbTarget::Impl {
  const Settings& s;
  snapshot::DbScope scope;
  PgConn conn;
  DbSummary sum;
  bool in_txn = false;
  std::string source_id;
  std::shared_ptr<spdlog::logger> log = Log("database");

  // Incremental apply: the Primary's relations, prepared statements, the pipeline's queue.
  struct Rel {
    std::string qname;
    std::string display;
    std::vector<std::string> cols;  // quoted
    std::vector<bool> key;
    std::vector<std::string> types;  // this node's column types, for batched statements
    char replident = 'd';
  };
  // Consecutive changes of one kind to one table, applied as one statement: inserts through
  // COPY, updates (key unchanged) and deletes joined with a VALUES list. The key set keeps two
  // changes of one row out of a batch, so the batch means what the changes in order mean.
  struct Batch {
    PgMessage::Type type = PgMessage::kInsert;
    uint32_t rel = 0;
    std::vector<bool> set;  // update: which columns it sets
    std::vector<PgMessage> rows;
    std::unordered_set<std::string> keys;
  };
  Batch batch;
  std::map<uint32_t, Rel> rels;
  std::unordered_map<std::string, std::string> statements;  // SQL -> prepared name
  struct Pending {
    bool prepare = false;
    int64_t rows = -1;  // update/delete: exactly this many rows must match (-1: any)
    std::string what;   // for the error message
  };
  std::deque<Pending> pending;

  explicit Impl(const Settings& settings) : s(settings) {
    scope.include_schemas = s.database.include_schemas;
    scope.exclude_schemas = s.database.exclude_schemas;
    scope.exclude_tables = s.database.exclude_tables;
  }

  Status Open() {
    HASYNC_ASSIGN_OR_RETURN(conn, PgConn::Connect(s.database.conninfo));
    return Status::Ok();
  }

  // hasync's own table, created by the first sync's transaction (a dry run creates nothing).
  Status CreateStateTable() {
    return conn.Run(std::string("CREATE SCHEMA IF NOT EXISTS ") + snapshot::kStateSchema +
                    "; CREATE TABLE IF NOT EXISTS " + snapshot::kStateSchema +
                    ".sync_state (id int PRIMARY KEY CHECK (id = 1), sync_id bigint NOT NULL, "
                    "lsn pg_lsn NOT NULL, source_id text NOT NULL, "
                    "committed_at timestamptz NOT NULL DEFAULT now())");
  }

  // The recorded sync, or no rows before the first one.
  Result<PgResult> State() {
    std::string table = std::string(snapshot::kStateSchema) + ".sync_state";
    HASYNC_ASSIGN_OR_RETURN(
        PgResult exists, conn.ExecParams("SELECT pg_catalog.to_regclass($1) IS NOT NULL", {table}));
    if (exists.Get(0, 0) != "t") return conn.Exec("SELECT NULL WHERE false");
    return conn.Exec("SELECT sync_id, lsn, source_id FROM " + table + " WHERE id = 1");
  }

  std::string Qualified(const std::string& schema, const std::string& name) const {
    return conn.QuoteIdent(schema) + "." + conn.QuoteIdent(name);
  }

  Status CheckScope(const std::string& schema, const std::string& name) const {
    if (!snapshot::TableDataInScope(scope, schema, name)) {
      return Status(Code::kProtocol, "the Primary sent " + schema + "." + name +
                                         ", which is outside this node's replicated schemas");
    }
    return Status::Ok();
  }

  // A repair: the damaged key range goes before the Primary's rows of it arrive. The range's
  // key must be the table's one-column primary key here too.
  Status DeleteRange(const std::string& q, const DbRange& r) {
    HASYNC_ASSIGN_OR_RETURN(
        PgResult k,
        conn.ExecParams("SELECT a.attname, format_type(a.atttypid, a.atttypmod) FROM pg_index i "
                        "JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY "
                        "(i.indkey) WHERE i.indrelid = $1::regclass AND i.indisprimary",
                        {q}));
    if (k.rows() != 1 || k.Get(0, 0) != r.key) {
      return Status(Code::kProtocol, "a repair of " + q + " by a key (" + r.key +
                                         ") that is not its primary key here");
    }
    HASYNC_ASSIGN_OR_RETURN(PgResult d, conn.Exec("DELETE FROM ONLY " + q + " WHERE " +
                                                  verify::RangeCondition(conn, r, k.Get(0, 1))));
    log->info("repair: {} rows of {} deleted in [{}, {}) before the Primary's", d.CmdTuples(), q,
              r.from, r.to);
    return Status::Ok();
  }

  Status Receive(PeerLink& link) {
    HASYNC_ASSIGN_OR_RETURN(transport::Frame f, link.Read());
    if (f.type != U8(MsgType::kDbBegin)) return Unexpected(f, "database begin");
    HASYNC_ASSIGN_OR_RETURN(DbBegin begin, DecodeDbBegin(f.payload));
    sum.full = begin.full;
    sum.reason = begin.reason;
    source_id = begin.source_id;
    if (!begin.full) HASYNC_RETURN_IF_ERROR(CompareSchemas(begin.tables, "the Primary"));
    HASYNC_RETURN_IF_ERROR(conn.Run("BEGIN; SET LOCAL synchronous_commit = on"));
    in_txn = true;
    HASYNC_RETURN_IF_ERROR(CreateStateTable());
    if (begin.full) {
      log->warn("full copy of the database: {}", begin.reason);
      HASYNC_RETURN_IF_ERROR(DropReplicated());
      HASYNC_RETURN_IF_ERROR(conn.Run("SET LOCAL maintenance_work_mem = '256MB'"));
    } else {
      // As PostgreSQL's own apply worker: no user triggers, no re-checked foreign keys (the
      // Primary checked them).
      HASYNC_RETURN_IF_ERROR(conn.Run("SET LOCAL session_replication_role = replica"));
    }
    std::string sql[2];
    ChangeReader changes;
    bool copying = false;
    uint64_t copy_rows = 0;
    std::string copy_table;
    auto copy_start = std::chrono::steady_clock::now();
    for (;;) {
      HASYNC_ASSIGN_OR_RETURN(f, link.Read());
      if (copying && f.type != U8(MsgType::kDbCopyData) && f.type != U8(MsgType::kDbCopyEnd)) {
        return Unexpected(f, "table copy data");
      }
      switch (static_cast<MsgType>(f.type)) {
        case MsgType::kDbSql: {
          if (!begin.full) return Unexpected(f, "database changes");
          HASYNC_ASSIGN_OR_RETURN(DbSql m, DecodeDbSql(f.payload));
          std::string& text = sql[static_cast<int>(m.section)];
          if (text.size() + m.text.size() > (512u << 20)) {
            return Status(Code::kProtocol, "the Primary's schema script passes 512 MiB");
          }
          text.append(reinterpret_cast<const char*>(m.text.data()), m.text.size());
          if (m.last) {
            auto t0 = std::chrono::steady_clock::now();
            HASYNC_RETURN_IF_ERROR(
                conn.Run(text).Context(m.section == DbSection::kPreData
                                           ? "creating the Primary's tables"
                                           : "creating the Primary's indexes and constraints"));
            log->debug("{} script: {:.2f} s",
                       m.section == DbSection::kPreData ? "pre-data" : "post-data", Since(t0));
            text.clear();
          }
          break;
        }
        case MsgType::kDbCopyBegin: {
          HASYNC_ASSIGN_OR_RETURN(DbCopyBegin m, DecodeDbCopyBegin(f.payload));
          HASYNC_RETURN_IF_ERROR(FlushBatch());
          HASYNC_RETURN_IF_ERROR(ExitPipeline());
          HASYNC_RETURN_IF_ERROR(CheckScope(m.schema, m.name));
          copy_table = m.schema + "." + m.name;
          std::string q = Qualified(m.schema, m.name);
          if (m.truncate) HASYNC_RETURN_IF_ERROR(conn.Run("TRUNCATE ONLY " + q));
          if (!m.range.key.empty()) HASYNC_RETURN_IF_ERROR(DeleteRange(q, m.range));
          std::string cols;
          for (const auto& c : m.columns) cols += (cols.empty() ? "" : ", ") + conn.QuoteIdent(c);
          // FREEZE: the table was created (or emptied) in this transaction, so its rows can be
          // written frozen and never need a second write for hint bits or vacuum.
          HASYNC_RETURN_IF_ERROR(conn.Run("COPY " + q + " (" + cols +
                                          ") FROM STDIN (FORMAT binary" +
                                          (begin.full || m.truncate ? ", FREEZE" : "") + ")"));
          copying = true;
          copy_start = std::chrono::steady_clock::now();
          break;
        }
        case MsgType::kDbCopyData:
          if (!copying) return Unexpected(f, "table copy begin");
          if (PQputCopyData(conn.raw(), reinterpret_cast<const char*>(f.payload.data()),
                            static_cast<int>(f.payload.size())) != 1) {
            return snapshot::PgError(conn, "loading " + copy_table);
          }
          break;
        case MsgType::kDbCopyEnd: {
          if (!copying) return Unexpected(f, "table copy begin");
          HASYNC_ASSIGN_OR_RETURN(DbCopyEnd m, DecodeDbCopyEnd(f.payload));
          copying = false;
          HASYNC_ASSIGN_OR_RETURN(uint64_t rows, EndCopy(copy_table));
          if (rows != m.rows) {
            return Status(Code::kProtocol, "table " + copy_table + ": the Primary sent " +
                                               std::to_string(m.rows) + " rows, " +
                                               std::to_string(rows) + " arrived");
          }
          copy_rows += rows;
          log->debug("loaded {}: {} rows in {:.2f} s", copy_table, rows, Since(copy_start));
          break;
        }
        case MsgType::kDbChanges: {
          if (begin.full) return Unexpected(f, "database schema or table copy");
          changes.Append(f.payload);
          for (;;) {
            HASYNC_ASSIGN_OR_RETURN(auto m, changes.Next());
            if (!m) break;
            HASYNC_RETURN_IF_ERROR(Apply(std::move(*m)));
            if (pending.size() >= kPipelineDepth) HASYNC_RETURN_IF_ERROR(Drain());
          }
          HASYNC_RETURN_IF_ERROR(Drain());
          break;
        }
        case MsgType::kDbSequences: {
          HASYNC_ASSIGN_OR_RETURN(auto seqs, DecodeDbSequences(f.payload));
          HASYNC_RETURN_IF_ERROR(SetSequences(seqs));
          break;
        }
        case MsgType::kDbEnd: {
          HASYNC_ASSIGN_OR_RETURN(DbEnd m, DecodeDbEnd(f.payload));
          if (!changes.empty()) {
            return Status(Code::kProtocol, "database changes ended in the middle of a record");
          }
          if (!sql[0].empty() || !sql[1].empty()) {
            return Status(Code::kProtocol, "the schema script ended without its last piece");
          }
          if (m.end_lsn == 0) return Status(Code::kProtocol, "database end without a position");
          HASYNC_RETURN_IF_ERROR(FlushBatch());
          HASYNC_RETURN_IF_ERROR(ExitPipeline());
          sum.end_lsn = m.end_lsn;
          sum.slot_retained_bytes = m.slot_retained_bytes;
          if (begin.full) {
            sum.changes = copy_rows;
            // The copy must have produced the Primary's tables exactly.
            HASYNC_RETURN_IF_ERROR(CompareSchemas(begin.tables, "the Primary's copy"));
          }
          KillPoint("db.applied");
          return Status::Ok();
        }
        default:
          return Unexpected(f, "database changes");
      }
    }
  }

  Result<uint64_t> EndCopy(const std::string& table) {
    if (PQputCopyEnd(conn.raw(), nullptr) != 1) return snapshot::PgError(conn, "loading " + table);
    PgResult r(PQgetResult(conn.raw()));
    while (PgResult(PQgetResult(conn.raw())).raw() != nullptr) {
    }
    if (PQresultStatus(r.raw()) != PGRES_COMMAND_OK) {
      return snapshot::PgError(conn, "loading " + table, r.raw());
    }
    return std::stoull(r.CmdTuples().empty() ? "0" : r.CmdTuples());
  }

  // Refuses to apply changes to tables that differ from the Primary's, naming the first.
  Status CompareSchemas(const std::vector<DbTableDesc>& theirs, const char* who) {
    HASYNC_ASSIGN_OR_RETURN(auto mine, snapshot::ListTables(conn, scope));
    std::map<std::string, const snapshot::TableInfo*> by_name;
    for (const auto& t : mine) by_name[t.Qualified()] = &t;
    for (const auto& t : theirs) {
      std::string name = t.schema + "." + t.name;
      auto it = by_name.find(name);
      if (it == by_name.end()) {
        return Status(Code::kSchema, "table " + name + " exists on " + who +
                                         " but not on this node; run hasync sync --full-db to "
                                         "copy the database whole");
      }
      if (it->second->description != t.description) {
        return Status(Code::kSchema, "table " + name + " differs: " + who + " has (" +
                                         t.description + "), this node has (" +
                                         it->second->description +
                                         "); bring both to the same software version, or run "
                                         "hasync sync --full-db");
      }
      by_name.erase(it);
    }
    if (!by_name.empty()) {
      return Status(Code::kSchema, "table " + by_name.begin()->first +
                                       " exists on this node but "
                                       "not on " +
                                       who + "; run hasync sync --full-db");
    }
    return Status::Ok();
  }

  Status DropReplicated() {
    HASYNC_ASSIGN_OR_RETURN(auto schemas, snapshot::ListSchemas(conn, scope));
    for (const auto& n : schemas) {
      HASYNC_RETURN_IF_ERROR(conn.Run("DROP SCHEMA " + conn.QuoteIdent(n) + " CASCADE"));
    }
    // pg_dump never creates the public schema; every database starts with it, as initdb makes
    // it (its comment too: pg_dump leaves that default out, so it must be there already).
    if (snapshot::SchemaInScope(scope, "public")) {
      HASYNC_RETURN_IF_ERROR(conn.Run(
          "CREATE SCHEMA IF NOT EXISTS public; ALTER SCHEMA public OWNER TO pg_database_owner; "
          "GRANT USAGE ON SCHEMA public TO PUBLIC; "
          "COMMENT ON SCHEMA public IS 'standard public schema'"));
    }
    return Status::Ok();
  }

  Status SetSequences(const std::vector<DbSequence>& seqs) {
    HASYNC_RETURN_IF_ERROR(FlushBatch());
    HASYNC_RETURN_IF_ERROR(ExitPipeline());
    for (const auto& q : seqs) {
      HASYNC_RETURN_IF_ERROR(CheckScope(q.schema, q.name));
      HASYNC_RETURN_IF_ERROR(
          conn.ExecParams("SELECT pg_catalog.setval($1::regclass, $2::bigint, $3::boolean)",
                          {Qualified(q.schema, q.name), std::to_string(q.value),
                           std::string(q.called ? "true" : "false")})
              .status());
    }
    return Status::Ok();
  }

  // --- incremental apply through libpq's pipeline mode ---

  Status EnterPipeline() {
    if (PQpipelineStatus(conn.raw()) == PQ_PIPELINE_ON) return Status::Ok();
    if (PQenterPipelineMode(conn.raw()) != 1) return snapshot::PgError(conn, "pipeline mode");
    return Status::Ok();
  }

  Status ExitPipeline() {
    if (PQpipelineStatus(conn.raw()) != PQ_PIPELINE_ON) return Status::Ok();
    HASYNC_RETURN_IF_ERROR(Drain());
    if (PQexitPipelineMode(conn.raw()) != 1) return snapshot::PgError(conn, "pipeline mode");
    return Status::Ok();
  }

  Status Queue(const std::string& sql, const std::vector<const char*>& values, int64_t rows,
               const std::function<std::string()>& what) {
    HASYNC_RETURN_IF_ERROR(EnterPipeline());
    auto it = statements.find(sql);
    if (it == statements.end()) {
      std::string name = "hasync_" + std::to_string(statements.size());
      if (PQsendPrepare(conn.raw(), name.c_str(), sql.c_str(), static_cast<int>(values.size()),
                        nullptr) != 1) {
        return snapshot::PgError(conn, "preparing " + sql);
      }
      pending.push_back({true, -1, sql});
      it = statements.emplace(sql, name).first;
    }
    if (PQsendQueryPrepared(conn.raw(), it->second.c_str(), static_cast<int>(values.size()),
                            values.data(), nullptr, nullptr, 0) != 1) {
      return snapshot::PgError(conn, "sending a change");
    }
    pending.push_back({false, rows, what()});
    return Status::Ok();
  }

  // Waits for every queued statement; the first failure is the error.
  Status Drain() {
    if (pending.empty()) return Status::Ok();
    if (PQpipelineSync(conn.raw()) != 1) return snapshot::PgError(conn, "pipeline sync");
    Status first;
    for (const Pending& p : pending) {
      PgResult r(PQgetResult(conn.raw()));
      if (r.raw() == nullptr) {
        if (first.ok()) first = snapshot::PgError(conn, "applying " + p.what);
        continue;
      }
      while (PgResult(PQgetResult(conn.raw())).raw() != nullptr) {
      }
      auto st = PQresultStatus(r.raw());
      if (st == PGRES_PIPELINE_ABORTED) continue;
      if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
        if (first.ok()) first = snapshot::PgError(conn, "applying " + p.what, r.raw());
        continue;
      }
      if (p.rows >= 0 && r.CmdTuples() != std::to_string(p.rows) && first.ok()) {
        first = Status(Code::kDatabase,
                       "applying " + p.what + ": " + (p.rows == 1 ? "the row is" : "rows are") +
                           " not on this node (" + (r.CmdTuples().empty() ? "0" : r.CmdTuples()) +
                           " of " + std::to_string(p.rows) +
                           " matched), so its database differs from the Primary's; run "
                           "hasync sync --full-db");
      }
    }
    pending.clear();
    PgResult sync(PQgetResult(conn.raw()));
    if (PQresultStatus(sync.raw()) != PGRES_PIPELINE_SYNC && first.ok()) {
      first = snapshot::PgError(conn, "pipeline sync", sync.raw());
    }
    return first;
  }

  Status Apply(PgMessage&& m) {
    switch (m.type) {
      case PgMessage::kRelation: {
        HASYNC_RETURN_IF_ERROR(CheckScope(m.relation.schema, m.relation.name));
        HASYNC_RETURN_IF_ERROR(FlushBatch());
        Rel r;
        r.qname = Qualified(m.relation.schema, m.relation.name);
        r.display = m.relation.schema + "." + m.relation.name;
        r.replident = m.relation.replident;
        for (const auto& c : m.relation.columns) {
          r.cols.push_back(conn.QuoteIdent(c.name));
          r.key.push_back(c.key);
        }
        HASYNC_RETURN_IF_ERROR(LookUpTypes(m.relation, r));
        rels[m.relation.id] = std::move(r);
        return Status::Ok();
      }
      case PgMessage::kCommit:
        ++sum.transactions;
        return Status::Ok();
      case PgMessage::kTruncate: {
        std::string sql = "TRUNCATE ONLY ";
        for (size_t i = 0; i < m.truncate_rels.size(); ++i) {
          HASYNC_ASSIGN_OR_RETURN(const Rel* r, Find(m.truncate_rels[i]));
          sql += (i ? ", " : "") + r->qname;
        }
        if (m.truncate_options & 2) sql += " RESTART IDENTITY";
        if (m.truncate_options & 1) sql += " CASCADE";
        ++sum.changes;
        HASYNC_RETURN_IF_ERROR(FlushBatch());
        return Queue(sql, {}, -1, [sql] { return sql; });
      }
      case PgMessage::kInsert:
      case PgMessage::kUpdate:
      case PgMessage::kDelete:
        ++sum.changes;
        return AddToBatch(std::move(m));
      default:
        return Status(Code::kProtocol, "unexpected record in the database changes");
    }
  }

  Result<const Rel*> Find(uint32_t id) const {
    auto it = rels.find(id);
    if (it == rels.end()) {
      return Status(Code::kProtocol, "database changes name relation " + std::to_string(id) +
                                         " before describing it");
    }
    return &it->second;
  }

  Status ApplyRow(const PgMessage& m) {
    HASYNC_ASSIGN_OR_RETURN(const Rel* r, Find(m.rel_id));
    size_t n = r->cols.size();
    if ((m.type != PgMessage::kDelete && m.new_tuple.size() != n) ||
        (m.old_kind != 0 && m.old_tuple.size() != n)) {
      return Status(Code::kProtocol, "a change to " + r->display + " has the wrong column count");
    }
    std::vector<const char*> values;
    std::string sql;
    auto param = [&values](const PgValue& v) {
      values.push_back(v.kind == PgValue::kText ? v.text.c_str() : nullptr);
      return "$" + std::to_string(values.size());
    };
    if (m.type == PgMessage::kInsert) {
      std::string cols, params;
      for (size_t i = 0; i < n; ++i) {
        if (m.new_tuple[i].kind == PgValue::kUnchanged) {
          return Status(Code::kProtocol, "an insert into " + r->display + " lacks a value");
        }
        cols += (i ? ", " : "") + r->cols[i];
        params += (i ? ", " : "") + param(m.new_tuple[i]);
      }
      // The Primary chose identity values; they are copied, not generated again.
      sql = "INSERT INTO " + r->qname + " (" + cols + ") OVERRIDING SYSTEM VALUE VALUES (" +
            params + ")";
      return Queue(sql, values, -1, [r] { return "an insert into " + r->display; });
    }
    std::string set;
    if (m.type == PgMessage::kUpdate) {
      for (size_t i = 0; i < n; ++i) {
        // An unchanged TOASTed value is not sent: the row keeps what it has.
        if (m.new_tuple[i].kind == PgValue::kUnchanged) continue;
        set += (set.empty() ? "" : ", ") + r->cols[i] + " = " + param(m.new_tuple[i]);
      }
      if (set.empty()) return Status::Ok();
    }
    const snapshot::PgTuple& key = m.old_kind != 0 ? m.old_tuple : m.new_tuple;
    std::string where;
    std::string key_text;
    for (size_t i = 0; i < n; ++i) {
      if (!r->key[i] || key[i].kind == PgValue::kUnchanged) continue;
      where += where.empty() ? "" : " AND ";
      if (key[i].kind == PgValue::kNull) {
        where += r->cols[i] + " IS NULL";
      } else {
        where += r->cols[i] + " = " + param(key[i]);
        if (key_text.size() < 200) key_text += (key_text.empty() ? "" : ", ") + key[i].text;
      }
    }
    if (where.empty()) {
      return Status(Code::kProtocol, "a change to " + r->display + " carries no key");
    }
    if (r->replident == 'f') {
      // No key: one row with these values, whichever it is (duplicates are interchangeable).
      where = "ctid = (SELECT ctid FROM " + r->qname + " WHERE " + where + " LIMIT 1)";
    }
    sql = m.type == PgMessage::kUpdate ? "UPDATE " + r->qname + " SET " + set + " WHERE " + where
                                       : "DELETE FROM " + r->qname + " WHERE " + where;
    const char* verb = m.type == PgMessage::kUpdate ? "an update of " : "a delete from ";
    return Queue(sql, values, 1,
                 [r, verb, key_text] { return verb + r->display + " (key " + key_text + ")"; });
  }

  Status LookUpTypes(const snapshot::PgRelation& rel, Rel& r) {
    HASYNC_RETURN_IF_ERROR(ExitPipeline());
    HASYNC_ASSIGN_OR_RETURN(PgResult t,
                            conn.ExecParams("SELECT a.attname, pg_catalog.format_type(a.atttypid, "
                                            "a.atttypmod) FROM pg_catalog.pg_attribute a WHERE "
                                            "a.attrelid = $1::regclass AND a.attnum > 0 AND NOT "
                                            "a.attisdropped",
                                            {r.qname}));
    std::map<std::string, std::string> by_name;
    for (int i = 0; i < t.rows(); ++i) by_name[t.Get(i, 0)] = t.Get(i, 1);
    for (const auto& c : rel.columns) {
      auto it = by_name.find(c.name);
      if (it == by_name.end()) {
        return Status(Code::kSchema, "column " + c.name + " of " + r.display +
                                         " is on the Primary but not on this node; run hasync "
                                         "sync --full-db");
      }
      r.types.push_back(it->second);
    }
    return Status::Ok();
  }

  // The key of a change as one string, or nullopt when it cannot join a batch (a NULL or
  // unchanged key value, REPLICA IDENTITY FULL, a changed key).
  static std::optional<std::string> BatchKey(const Rel& r, const PgMessage& m) {
    if (r.replident == 'f') return std::nullopt;
    if (m.type == PgMessage::kInsert) return std::string();
    if (m.type == PgMessage::kUpdate && m.old_kind != 0) return std::nullopt;
    const snapshot::PgTuple& t = m.type == PgMessage::kDelete ? m.old_tuple : m.new_tuple;
    if (t.size() != r.cols.size()) return std::nullopt;
    std::string key;
    for (size_t i = 0; i < t.size(); ++i) {
      if (!r.key[i]) continue;
      if (t[i].kind != PgValue::kText) return std::nullopt;
      key += t[i].text;
      key.push_back('\0');
    }
    if (key.empty()) return std::nullopt;
    return key;
  }

  Status AddToBatch(PgMessage&& m) {
    HASYNC_ASSIGN_OR_RETURN(const Rel* r, Find(m.rel_id));
    auto key = BatchKey(*r, m);
    if (!key) {
      HASYNC_RETURN_IF_ERROR(FlushBatch());
      return ApplyRow(m);
    }
    std::vector<bool> set;
    if (m.type == PgMessage::kUpdate) {
      for (const PgValue& v : m.new_tuple) set.push_back(v.kind != PgValue::kUnchanged);
    }
    size_t width = r->cols.size() + 1;
    if (!batch.rows.empty() && (batch.type != m.type || batch.rel != m.rel_id || batch.set != set ||
                                batch.rows.size() >= std::min(kBatchRows, kMaxParams / width) ||
                                (!key->empty() && batch.keys.count(*key)))) {
      HASYNC_RETURN_IF_ERROR(FlushBatch());
    }
    batch.type = m.type;
    batch.rel = m.rel_id;
    batch.set = std::move(set);
    if (!key->empty()) batch.keys.insert(std::move(*key));
    batch.rows.push_back(std::move(m));
    return Status::Ok();
  }

  Status FlushBatch() {
    if (batch.rows.empty()) return Status::Ok();
    std::vector<PgMessage> rows = std::move(batch.rows);
    batch.rows.clear();
    batch.keys.clear();
    HASYNC_ASSIGN_OR_RETURN(const Rel* r, Find(batch.rel));
    if (batch.type == PgMessage::kInsert && rows.size() >= kCopyMinRows) {
      return CopyInserts(*r, rows);
    }
    if (rows.size() == 1 || batch.type == PgMessage::kInsert) {
      for (const auto& m : rows) HASYNC_RETURN_IF_ERROR(ApplyRow(m));
      return Status::Ok();
    }
    // UPDATE t SET c = v.c ... FROM (VALUES ...) v WHERE t.k = v.k, or DELETE ... USING.
    size_t n = r->cols.size();
    std::vector<size_t> used;  // the columns each VALUES row carries: keys, then set columns
    for (size_t i = 0; i < n; ++i) {
      if (r->key[i]) used.push_back(i);
    }
    if (batch.type == PgMessage::kUpdate) {
      for (size_t i = 0; i < n; ++i) {
        if (batch.set[i] && !r->key[i]) used.push_back(i);
      }
    }
    std::vector<const char*> values;
    std::string list;
    for (size_t row = 0; row < rows.size(); ++row) {
      const snapshot::PgTuple& t =
          batch.type == PgMessage::kDelete ? rows[row].old_tuple : rows[row].new_tuple;
      list += row ? ", (" : "(";
      for (size_t j = 0; j < used.size(); ++j) {
        const PgValue& v = t[used[j]];
        values.push_back(v.kind == PgValue::kText ? v.text.c_str() : nullptr);
        list += (j ? ", $" : "$") + std::to_string(values.size());
        if (row == 0) list += "::" + r->types[used[j]];
      }
      list += ")";
    }
    std::string alias, where, set;
    for (size_t j = 0; j < used.size(); ++j) {
      std::string v = "v" + std::to_string(j);
      alias += (j ? ", " : "") + v;
      size_t c = used[j];
      if (r->key[c]) {
        where += (where.empty() ? "" : " AND ") + ("t." + r->cols[c]) + " = v." + v;
      } else {
        set += (set.empty() ? "" : ", ") + r->cols[c] + " = v." + v;
      }
    }
    std::string sql;
    if (batch.type == PgMessage::kUpdate) {
      if (set.empty()) return Status::Ok();  // only the key, unchanged: nothing to do
      sql = "UPDATE " + r->qname + " AS t SET " + set + " FROM (VALUES " + list + ") AS v(" +
            alias + ") WHERE " + where;
    } else {
      sql = "DELETE FROM " + r->qname + " AS t USING (VALUES " + list + ") AS v(" + alias +
            ") WHERE " + where;
    }
    HASYNC_RETURN_IF_ERROR(EnterPipeline());
    if (PQsendQueryParams(conn.raw(), sql.c_str(), static_cast<int>(values.size()), nullptr,
                          values.data(), nullptr, nullptr, 0) != 1) {
      return snapshot::PgError(conn, "sending changes");
    }
    const char* verb = batch.type == PgMessage::kUpdate ? " updates of " : " deletes from ";
    pending.push_back({false, static_cast<int64_t>(rows.size()),
                       std::to_string(rows.size()) + verb + r->display});
    return Status::Ok();
  }

  // A run of inserts as one COPY (text format; COPY cannot run inside a pipeline).
  Status CopyInserts(const Rel& r, const std::vector<PgMessage>& rows) {
    HASYNC_RETURN_IF_ERROR(ExitPipeline());
    std::string cols;
    for (const auto& c : r.cols) cols += (cols.empty() ? "" : ", ") + c;
    HASYNC_RETURN_IF_ERROR(conn.Run("COPY " + r.qname + " (" + cols + ") FROM STDIN"));
    std::string buf;
    for (const auto& m : rows) {
      for (size_t i = 0; i < m.new_tuple.size(); ++i) {
        if (i) buf.push_back('\t');
        const PgValue& v = m.new_tuple[i];
        if (v.kind != PgValue::kText) {
          buf += "\\N";
          continue;
        }
        for (char ch : v.text) {
          switch (ch) {
            case '\\':
              buf += "\\\\";
              break;
            case '\n':
              buf += "\\n";
              break;
            case '\r':
              buf += "\\r";
              break;
            case '\t':
              buf += "\\t";
              break;
            default:
              buf.push_back(ch);
          }
        }
      }
      buf.push_back('\n');
      if (buf.size() >= (1u << 20)) {
        if (PQputCopyData(conn.raw(), buf.data(), static_cast<int>(buf.size())) != 1) {
          return snapshot::PgError(conn, "inserting into " + r.display);
        }
        buf.clear();
      }
    }
    if (!buf.empty() && PQputCopyData(conn.raw(), buf.data(), static_cast<int>(buf.size())) != 1) {
      return snapshot::PgError(conn, "inserting into " + r.display);
    }
    HASYNC_ASSIGN_OR_RETURN(uint64_t n,
                            EndCopy(std::to_string(rows.size()) + " inserts into " + r.display));
    if (n != rows.size()) {
      return Status(Code::kDatabase, "inserting into " + r.display + ": " + std::to_string(n) +
                                         " of " + std::to_string(rows.size()) + " rows went in");
    }
    return Status::Ok();
  }

  Status Commit(uint64_t sync_id) {
    if (!in_txn) return Status::Ok();
    HASYNC_RETURN_IF_ERROR(FlushBatch());
    HASYNC_RETURN_IF_ERROR(ExitPipeline());
    HASYNC_RETURN_IF_ERROR(
        conn.ExecParams(std::string("INSERT INTO ") + snapshot::kStateSchema +
                            ".sync_state (id, sync_id, lsn, source_id) VALUES (1, $1, $2, $3) "
                            "ON CONFLICT (id) DO UPDATE SET sync_id = EXCLUDED.sync_id, "
                            "lsn = EXCLUDED.lsn, source_id = EXCLUDED.source_id, "
                            "committed_at = now()",
                        {std::to_string(static_cast<int64_t>(sync_id)),
                         snapshot::FormatLsn(sum.end_lsn), source_id})
            .status());
    KillPoint("db.before-commit");
    Status st = conn.Run("COMMIT");
    in_txn = false;
    HASYNC_RETURN_IF_ERROR(st.Context("committing the database"));
    KillPoint("db.after-commit");
    return Status::Ok();
  }

  void Abort() {
    if (!in_txn) return;
    in_txn = false;
    if (PQpipelineStatus(conn.raw()) == PQ_PIPELINE_ON) {
      // Whatever is queued is thrown away with the transaction; a fresh session is simplest.
      conn = PgConn();
      return;
    }
    (void)conn.Run("ROLLBACK");
  }
};

DbTarget::DbTarget(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
DbTarget::~DbTarget() {
  if (impl_) impl_->Abort();
}

Result<std::unique_ptr<DbTarget>> DbTarget::Open(const Settings& s) {
  auto impl = std::make_unique<Impl>(s);
  HASYNC_RETURN_IF_ERROR(impl->Open());
  return std::unique_ptr<DbTarget>(new DbTarget(std::move(impl)));
}

Result<uint64_t> DbTarget::CommittedSyncId() {
  HASYNC_ASSIGN_OR_RETURN(PgResult r, impl_->State());
  if (r.rows() == 0) return uint64_t{0};
  return static_cast<uint64_t>(std::stoll(r.Get(0, 0)));
}

Result<DbRequest> DbTarget::Request(const DbRequestOptions& options) {
  const bool force_full = options.force_full;
  HASYNC_ASSIGN_OR_RETURN(PgResult r, impl_->State());
  DbRequest req{.force_full = force_full, .start_lsn = 0, .source_id = ""};
  if (r.rows() == 1) {
    HASYNC_ASSIGN_OR_RETURN(req.start_lsn, snapshot::ParseLsn(r.Get(0, 1)));
    req.source_id = r.Get(0, 2);
  }
  return req;
}

Result<bool> DbTarget::DropSlotFor(const std::string& source_node) {
  std::string slot = DbSource::SlotName(source_node);
  HASYNC_ASSIGN_OR_RETURN(
      PgResult r, impl_->conn.ExecParams("SELECT pg_drop_replication_slot(slot_name) FROM "
                                         "pg_replication_slots WHERE slot_name = $1 AND NOT active",
                                         {slot}));
  if (r.rows() == 0) return false;
  impl_->log->warn(
      "dropped this node's slot {}: {} is now the source, and changes applied here must not flow "
      "back to it; should it follow this node again it gets a full copy",
      slot, source_node);
  return true;
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
