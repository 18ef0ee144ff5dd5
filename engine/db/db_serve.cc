#include "engine/db/db_serve.h"

#include <libpq-fe.h>

#include <chrono>
#include <future>
#include <map>
#include <random>
#include <thread>

#include "common/kill_point.h"
#include "common/log.h"
#include "common/process.h"
#include "engine/wire/peer_link.h"
#include "engine/wire/verify_protocol.h"
#include "snapshot/db_catalog.h"
#include "snapshot/pgoutput.h"
#include "transport/frame_io.h"
#include "verify/table_check.h"

namespace hasync::engine {
namespace {

using snapshot::Lsn;
using snapshot::PgConn;
using snapshot::PgMessage;
using snapshot::PgResult;

constexpr char kPublication[] = "hasync";
constexpr char kMarkerPrefix[] = "hasync";
constexpr size_t kChunk = 1 << 20;  // bytes per data frame

// pg_dump's plain output may carry psql's \restrict and \unrestrict lines (PostgreSQL 15.14
// and later); they guard psql, not the server, and are dropped. Any other meta-command is
// refused: the script goes to the server as SQL.
Result<std::string> StripMetaCommands(const std::string& script) {
  std::string out;
  out.reserve(script.size());
  size_t pos = 0;
  while (pos < script.size()) {
    size_t end = script.find('\n', pos);
    if (end == std::string::npos) end = script.size();
    std::string_view line(script.data() + pos, end - pos);
    if (!line.empty() && line[0] == '\\') {
      if (line.rfind("\\restrict", 0) != 0 && line.rfind("\\unrestrict", 0) != 0) {
        return Status(Code::kDatabase, "pg_dump wrote a psql command hasync cannot run: " +
                                           std::string(line.substr(0, 40)));
      }
    } else {
      out.append(line);
      out.push_back('\n');
    }
    pos = end + 1;
  }
  return out;
}

std::string RandomToken() {
  std::random_device rd;
  uint64_t v = (static_cast<uint64_t>(rd()) << 32) ^ rd() ^
               static_cast<uint64_t>(std::chrono::steady_clock::now().time_since_epoch().count());
  char buf[17];
  std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(v));
  return buf;
}

}  // namespace

struct DbSource::Impl {
  const Settings& s;
  PeerLink& link;
  std::string slot;
  snapshot::DbScope scope;
  PgConn conn;
  Lsn end_lsn = 0;
  std::shared_ptr<spdlog::logger> log = Log("database");

  Impl(const Settings& settings, PeerLink& l, const std::string& peer)
      : s(settings), link(l), slot(SlotName(peer)) {
    scope.include_schemas = s.database.include_schemas;
    scope.exclude_schemas = s.database.exclude_schemas;
    scope.exclude_tables = s.database.exclude_tables;
  }

  Status Send(MsgType t, std::span<const std::byte> payload) { return link.SendRaw(t, payload); }
  template <typename M>
  Status SendM(MsgType t, const M& m) {
    return link.Send(t, m);
  }

  Status Serve(const DbRequest& req, bool verify_only) {
    HASYNC_ASSIGN_OR_RETURN(conn, PgConn::Connect(s.database.conninfo));
    HASYNC_ASSIGN_OR_RETURN(PgResult wl, conn.Exec("SHOW wal_level"));
    if (wl.Get(0, 0) != "logical") {
      return Status(Code::kConfig,
                    "the Primary's PostgreSQL runs with wal_level = " + wl.Get(0, 0) +
                        "; replicating its changes needs wal_level = logical: run ALTER SYSTEM SET "
                        "wal_level = logical; on the Primary, restart PostgreSQL, then sync again");
    }
    HASYNC_ASSIGN_OR_RETURN(PgResult sys,
                            conn.Exec("SELECT system_identifier::text || '/' || current_database() "
                                      "FROM pg_control_system()"));
    std::string source_id = sys.Get(0, 0);
    HASYNC_ASSIGN_OR_RETURN(auto tables, snapshot::ListTables(conn, scope));
    auto no_key = snapshot::TablesWithoutIdentity(tables);
    if (!no_key.empty()) {
      std::string list;
      for (const auto& t : no_key) list += (list.empty() ? "" : ", ") + t;
      return Status(Code::kConfig,
                    "on the Primary, " + list + (no_key.size() == 1 ? " has" : " have") +
                        " no primary key and no replica identity, so updates and deletes cannot "
                        "be replicated: add a primary key, or run ALTER TABLE ... REPLICA "
                        "IDENTITY FULL");
    }
    HASYNC_RETURN_IF_ERROR(EnsurePublication());
    HASYNC_ASSIGN_OR_RETURN(PgResult sr,
                            conn.ExecParams("SELECT confirmed_flush_lsn, coalesce(wal_status, '') "
                                            "FROM pg_replication_slots WHERE slot_name = $1 AND "
                                            "database = current_database()",
                                            {slot}));
    std::string reason;
    if (req.force_full) {
      reason = "a full copy was asked for";
    } else if (req.start_lsn == 0) {
      reason = "first sync of this database";
    } else if (req.source_id != source_id) {
      reason = "the Secondary's database was last synced from another server (" + req.source_id +
               ", this one is " + source_id + ")";
    } else if (sr.rows() == 0) {
      reason = "replication slot " + slot + " is missing on the Primary";
    } else if (sr.Get(0, 1) == "lost") {
      reason = "replication slot " + slot +
               " was invalidated: the WAL it needed was removed (max_slot_wal_keep_size)";
    } else {
      HASYNC_ASSIGN_OR_RETURN(Lsn confirmed, snapshot::ParseLsn(sr.Get(0, 0)));
      if (confirmed > req.start_lsn) {
        reason = "the Secondary's database is at " + snapshot::FormatLsn(req.start_lsn) +
                 ", behind the slot's " + snapshot::FormatLsn(confirmed) +
                 ": the changes between are gone";
      }
    }
    Status st;
    if (verify_only && !reason.empty()) {
      return Status(Code::kDatabase,
                    "the database cannot be verified at the Secondary's sync point (" + reason +
                        "): run a sync first");
    }
    if (!req.repair.empty() && !reason.empty()) {
      return Status(Code::kDatabase, "key ranges cannot be repaired: " + reason);
    }
    if (reason.empty()) {
      st = Incremental(req, source_id, tables);
    } else {
      log->warn("full copy of the database for the Secondary: {}", reason);
      st = Full(reason, source_id, sr.rows() > 0, req);
    }
    return st;
  }

  Status EnsurePublication() {
    HASYNC_ASSIGN_OR_RETURN(
        PgResult r, conn.ExecParams("SELECT puballtables FROM pg_publication WHERE pubname = $1",
                                    {std::string(kPublication)}));
    if (r.rows() == 1) {
      if (r.Get(0, 0) != "t") {
        return Status(Code::kConfig,
                      "publication hasync exists on the Primary but is not FOR "
                      "ALL TABLES; drop it and hasync recreates it");
      }
      return Status::Ok();
    }
    // Before the slot: the slot's decoding looks the publication up as of each change.
    return conn.Run(std::string("CREATE PUBLICATION ") + kPublication + " FOR ALL TABLES");
  }

  std::vector<std::string> DumpArgs(const std::string& snap, const char* section, int version) {
    std::vector<std::string> a = {
        s.database.pg_dump.empty() ? snapshot::PgDumpPath(version) : s.database.pg_dump,
        "--schema-only",
        std::string("--section=") + section,
        "--snapshot=" + snap,
        "--no-publications",
        "--no-subscriptions",
        "--no-password",
        std::string("--exclude-schema=") + snapshot::kStateSchema};
    for (const auto& n : scope.include_schemas) a.push_back("--schema=" + n);
    for (const auto& n : scope.exclude_schemas) a.push_back("--exclude-schema=" + n);
    return a;
  }

  Result<std::string> RunDump(const std::vector<std::string>& args,
                              const std::vector<std::string>& env) {
    HASYNC_ASSIGN_OR_RETURN(ProcessOutput o, RunProcess(args, env));
    if (o.status != 0) {
      std::string err = o.err.substr(0, 2000);
      while (!err.empty() && err.back() == '\n') err.pop_back();
      return Status(Code::kDatabase, "pg_dump failed on the Primary: " + err);
    }
    return StripMetaCommands(o.out);
  }

  Status SendSql(DbSection section, const std::string& sql) {
    size_t pos = 0;
    do {
      size_t n = std::min(kChunk, sql.size() - pos);
      DbSql m{.section = section,
              .last = pos + n == sql.size(),
              .text = std::as_bytes(std::span<const char>(sql.data() + pos, n))};
      HASYNC_RETURN_IF_ERROR(SendM(MsgType::kDbSql, m));
      pos += n;
    } while (pos < sql.size());
    return Status::Ok();
  }

  Status Full(const std::string& reason, const std::string& source_id, bool slot_exists,
              const DbRequest& req) {
    HASYNC_ASSIGN_OR_RETURN(PgConn repl,
                            PgConn::Connect(s.database.conninfo, {.replication = true}));
    std::string qslot = repl.QuoteIdent(slot);
    if (slot_exists) HASYNC_RETURN_IF_ERROR(repl.Run("DROP_REPLICATION_SLOT " + qslot + " WAIT"));
    HASYNC_ASSIGN_OR_RETURN(PgResult cr, repl.Exec("CREATE_REPLICATION_SLOT " + qslot +
                                                   " LOGICAL pgoutput (SNAPSHOT 'export')"));
    HASYNC_ASSIGN_OR_RETURN(Lsn consistent, snapshot::ParseLsn(cr.Get(0, 1)));
    std::string snap = cr.Get(0, 2);
    log->info("slot {} created at {}; copying snapshot {}", slot, snapshot::FormatLsn(consistent),
              snap);
    // Everything below reads the database as of `consistent`; the slot streams what follows.
    HASYNC_ASSIGN_OR_RETURN(PgConn sc, PgConn::Connect(s.database.conninfo));
    HASYNC_RETURN_IF_ERROR(sc.Run("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY"));
    HASYNC_RETURN_IF_ERROR(sc.Run("SET TRANSACTION SNAPSHOT " + sc.QuoteLiteral(snap)));
    HASYNC_ASSIGN_OR_RETURN(auto tables, snapshot::ListTables(sc, scope));
    HASYNC_ASSIGN_OR_RETURN(auto env, snapshot::ConninfoEnvironment(s.database.conninfo));
    auto pre = std::async(std::launch::async, [&] {
      return RunDump(DumpArgs(snap, "pre-data", sc.server_version()), env);
    });
    auto post = std::async(std::launch::async, [&] {
      return RunDump(DumpArgs(snap, "post-data", sc.server_version()), env);
    });
    DbBegin begin{.full = true, .reason = reason, .source_id = source_id, .tables = {}};
    for (const auto& t : tables) begin.tables.push_back({t.schema, t.name, t.description});
    Status st = SendM(MsgType::kDbBegin, begin);
    auto pre_sql = pre.get();
    auto post_sql = post.get();
    HASYNC_RETURN_IF_ERROR(st);
    HASYNC_RETURN_IF_ERROR(pre_sql.status());
    HASYNC_RETURN_IF_ERROR(post_sql.status());
    HASYNC_RETURN_IF_ERROR(SendSql(DbSection::kPreData, *pre_sql));
    uint64_t rows = 0;
    for (const auto& t : tables) {
      if (t.data_excluded) continue;
      HASYNC_ASSIGN_OR_RETURN(uint64_t n, CopyTable(sc, t, false));
      rows += n;
    }
    HASYNC_RETURN_IF_ERROR(SendSequences(sc));
    HASYNC_RETURN_IF_ERROR(SendSql(DbSection::kPostData, *post_sql));
    // A verified sync: the copy's own snapshot is the point both sides are compared at.
    VerifyTables ranges, checks;
    if (req.pinned) {
      const verify::CheckOptions bounds{.counts_only = req.counts_only, .bounds_only = true};
      const verify::CheckOptions level{.counts_only = req.counts_only, .sample = req.SampleSeed()};
      HASYNC_ASSIGN_OR_RETURN(ranges.tables, verify::CheckTablesOn(sc, scope, nullptr, bounds));
      HASYNC_ASSIGN_OR_RETURN(checks.tables,
                              verify::CheckTablesOn(sc, scope, &ranges.tables, level));
    }
    HASYNC_RETURN_IF_ERROR(sc.Run("COMMIT"));
    end_lsn = consistent;
    log->info("database copied: {} tables, {} rows", tables.size(), rows);
    HASYNC_RETURN_IF_ERROR(
        SendEnd(DbEnd{.end_lsn = consistent, .transactions = 0, .changes = rows}));
    if (!req.pinned) return Status::Ok();
    HASYNC_RETURN_IF_ERROR(SendM(MsgType::kVerifyTables, ranges));
    return SendM(MsgType::kVerifyTables, checks);
  }

  Result<uint64_t> CopyTable(PgConn& c, const snapshot::TableInfo& t, bool truncate) {
    std::string cols;
    for (const auto& col : t.columns) cols += (cols.empty() ? "" : ", ") + c.QuoteIdent(col);
    return CopyQuery(
        c,
        DbCopyBegin{.schema = t.schema, .name = t.name, .columns = t.columns, .truncate = truncate},
        "COPY " + c.QuoteIdent(t.schema) + "." + c.QuoteIdent(t.name) + " (" + cols +
            ") TO STDOUT (FORMAT binary)");
  }

  // Sends table copy begin, the rows `copy` (a COPY ... TO STDOUT) produces, table copy end.
  Result<uint64_t> CopyQuery(PgConn& c, const DbCopyBegin& begin, const std::string& copy) {
    const std::string what = begin.schema + "." + begin.name;
    HASYNC_RETURN_IF_ERROR(SendM(MsgType::kDbCopyBegin, begin));
    HASYNC_RETURN_IF_ERROR(c.Run(copy));
    std::vector<std::byte> buf;
    buf.reserve(kChunk + 65536);
    for (;;) {
      char* row = nullptr;
      int n = PQgetCopyData(c.raw(), &row, 0);
      if (n > 0) {
        auto b = std::as_bytes(std::span<const char>(row, static_cast<size_t>(n)));
        // A row larger than a frame is cut: the Secondary feeds COPY a byte stream.
        size_t off = 0;
        while (off < b.size()) {
          size_t take = std::min(b.size() - off, kChunk - std::min(kChunk, buf.size()));
          if (take == 0) {
            HASYNC_RETURN_IF_ERROR(Send(MsgType::kDbCopyData, buf));
            buf.clear();
            continue;
          }
          buf.insert(buf.end(), b.begin() + off, b.begin() + off + take);
          off += take;
        }
        PQfreemem(row);
        if (buf.size() >= kChunk) {
          HASYNC_RETURN_IF_ERROR(Send(MsgType::kDbCopyData, buf));
          buf.clear();
        }
        continue;
      }
      if (n == -2) return snapshot::PgError(c, "copying " + what);
      break;
    }
    if (!buf.empty()) HASYNC_RETURN_IF_ERROR(Send(MsgType::kDbCopyData, buf));
    PgResult r(PQgetResult(c.raw()));
    if (PQresultStatus(r.raw()) != PGRES_COMMAND_OK) {
      return snapshot::PgError(c, "copying " + what, r.raw());
    }
    while (PgResult(PQgetResult(c.raw())).raw() != nullptr) {
    }
    uint64_t rows = std::stoull(r.CmdTuples().empty() ? "0" : r.CmdTuples());
    HASYNC_RETURN_IF_ERROR(SendM(MsgType::kDbCopyEnd, DbCopyEnd{.rows = rows}));
    return rows;
  }

  Status SendSequences(PgConn& c) {
    HASYNC_ASSIGN_OR_RETURN(auto seqs, snapshot::ReadSequences(c, scope));
    std::vector<DbSequence> out;
    for (const auto& v : seqs) {
      out.push_back(DbSequence{
          .schema = v.schema, .name = v.name, .called = v.called, .value = std::stoll(v.value)});
    }
    return SendM(MsgType::kDbSequences, out);
  }

  // The WAL the slot keeps on the Primary's disk (0 when it cannot be read).
  uint64_t RetainedBytes() {
    auto r = conn.ExecParams(
        "SELECT coalesce(pg_wal_lsn_diff(pg_current_wal_lsn(), restart_lsn), 0)::bigint "
        "FROM pg_replication_slots WHERE slot_name = $1",
        {slot});
    return r.ok() && r->rows() == 1 ? std::stoull(r->Get(0, 0)) : 0;
  }

  Status SendEnd(DbEnd end) {
    end.slot_retained_bytes = RetainedBytes();
    return SendM(MsgType::kDbEnd, end);
  }

  // verify: stop at a point pinned by a temporary slot (its consistent point C, whose exported
  // snapshot shows exactly the transactions committed before C), stream only transactions
  // committed before C, and send the table checks of that snapshot after database end.
  Status Incremental(const DbRequest& req, const std::string& source_id,
                     const std::vector<snapshot::TableInfo>& tables) {
    const Lsn start = req.start_lsn;
    const bool verify = req.pinned;
    DbBegin begin{.full = false, .reason = "", .source_id = source_id, .tables = {}};
    for (const auto& t : tables) begin.tables.push_back({t.schema, t.name, t.description});
    HASYNC_RETURN_IF_ERROR(SendM(MsgType::kDbBegin, begin));
    std::string token = RandomToken();
    Lsn bound = 0;
    PgConn pinned;
    if (verify) {
      HASYNC_ASSIGN_OR_RETURN(PgConn tmp,
                              PgConn::Connect(s.database.conninfo, {.replication = true}));
      HASYNC_ASSIGN_OR_RETURN(
          PgResult cr, tmp.Exec("CREATE_REPLICATION_SLOT " + tmp.QuoteIdent("hasync_v_" + token) +
                                " TEMPORARY LOGICAL pgoutput (SNAPSHOT 'export')"));
      HASYNC_ASSIGN_OR_RETURN(bound, snapshot::ParseLsn(cr.Get(0, 1)));
      HASYNC_ASSIGN_OR_RETURN(pinned, PgConn::Connect(s.database.conninfo));
      HASYNC_RETURN_IF_ERROR(pinned.Run("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY"));
      HASYNC_RETURN_IF_ERROR(
          pinned.Run("SET TRANSACTION SNAPSHOT " + pinned.QuoteLiteral(cr.Get(0, 2))));
      log->info("verify: pinned at {}", snapshot::FormatLsn(bound));
    }  // the temporary slot goes with its connection; the snapshot stays with `pinned`
    // The sync point: a transactional message committed now. Everything committed before it
    // reaches the Secondary in this sync; everything after, in the next. (When verifying it
    // only ends the stream: it commits after the pinned point.)
    HASYNC_RETURN_IF_ERROR(conn.ExecParams("SELECT pg_logical_emit_message(true, $1, $2)",
                                           {std::string(kMarkerPrefix), token})
                               .status());
    HASYNC_ASSIGN_OR_RETURN(PgConn repl,
                            PgConn::Connect(s.database.conninfo, {.replication = true}));
    std::string cmd = "START_REPLICATION SLOT " + repl.QuoteIdent(slot) + " LOGICAL " +
                      snapshot::FormatLsn(start) + " (proto_version '1', publication_names '\"" +
                      kPublication + "\"', messages 'true')";
    HASYNC_RETURN_IF_ERROR(repl.Run(cmd));
    Encoder out;
    std::map<uint32_t, bool> in_scope;  // the Primary's relation OID -> replicated
    uint64_t txns = 0, changes = 0;
    bool txn_changed = false, marker = false;
    auto flush = [&](bool all) -> Status {
      auto v = out.view();
      size_t pos = 0;
      while (v.size() - pos >= kChunk || (all && pos < v.size())) {
        size_t n = std::min(kChunk, v.size() - pos);
        HASYNC_RETURN_IF_ERROR(Send(MsgType::kDbChanges, v.subspan(pos, n)));
        pos += n;
      }
      out.buffer().erase(out.buffer().begin(), out.buffer().begin() + static_cast<ptrdiff_t>(pos));
      return Status::Ok();
    };
    for (;;) {
      char* raw = nullptr;
      int n = PQgetCopyData(repl.raw(), &raw, 0);
      if (n == -2) return snapshot::PgError(repl, "reading replication slot " + slot);
      if (n == -1) {
        return Status(Code::kDatabase,
                      "replication slot " + slot + " ended its stream before this sync's marker");
      }
      std::unique_ptr<char, void (*)(void*)> hold(raw, PQfreemem);
      HASYNC_ASSIGN_OR_RETURN(
          snapshot::WalMessage w,
          snapshot::DecodeWalMessage(std::as_bytes(std::span<const char>(raw, n))));
      if (w.kind == snapshot::WalMessage::kKeepalive) {
        // Reports no position (0): the slot moves only in Confirm().
        std::string reply = snapshot::EncodeStatusUpdate(0, 0, 0, false);
        if (PQputCopyData(repl.raw(), reply.data(), static_cast<int>(reply.size())) != 1 ||
            PQflush(repl.raw()) != 0) {
          return snapshot::PgError(repl, "answering the replication stream");
        }
        continue;
      }
      HASYNC_ASSIGN_OR_RETURN(PgMessage m, snapshot::DecodePgOutput(w.payload));
      switch (m.type) {
        case PgMessage::kRelation: {
          bool keep = snapshot::TableDataInScope(scope, m.relation.schema, m.relation.name);
          in_scope[m.relation.id] = keep;
          if (keep) EncodeChange(m, out);
          break;
        }
        case PgMessage::kInsert:
        case PgMessage::kUpdate:
        case PgMessage::kDelete: {
          auto it = in_scope.find(m.rel_id);
          if (it == in_scope.end()) {
            return Status(Code::kDatabase, "the slot sent a change before its relation");
          }
          if (!it->second) break;
          EncodeChange(m, out);
          ++changes;
          txn_changed = true;
          break;
        }
        case PgMessage::kTruncate: {
          std::vector<uint32_t> keep;
          for (uint32_t id : m.truncate_rels) {
            if (in_scope.count(id) && in_scope[id]) keep.push_back(id);
          }
          if (keep.empty()) break;
          m.truncate_rels = keep;
          EncodeChange(m, out);
          ++changes;
          txn_changed = true;
          break;
        }
        case PgMessage::kMessage:
          if (m.prefix == kMarkerPrefix && m.content == token) marker = true;
          break;
        case PgMessage::kBegin:
          if (bound != 0 && m.final_lsn >= bound) end_lsn = bound;  // past the pinned point
          break;
        case PgMessage::kCommit:
          if (marker) {
            end_lsn = m.end_lsn;
            break;
          }
          if (txn_changed) {
            EncodeChange(m, out);
            ++txns;
          }
          txn_changed = false;
          break;
        default:
          break;
      }
      if (end_lsn != 0) break;
      HASYNC_RETURN_IF_ERROR(flush(false));
    }
    HASYNC_RETURN_IF_ERROR(flush(true));
    EndStream(repl);
    // Unlogged tables never reach the WAL, so the slot has nothing of them: they go whole.
    PgConn& source = verify ? pinned : conn;
    for (const auto& t : tables) {
      if (!t.unlogged || t.data_excluded) continue;
      HASYNC_ASSIGN_OR_RETURN(uint64_t rows, CopyTable(source, t, true));
      changes += rows;
    }
    // Repairs: each damaged key range again, as of the pinned point.
    for (const DbRange& r : req.repair) {
      HASYNC_ASSIGN_OR_RETURN(uint64_t rows, CopyRange(pinned, tables, r));
      changes += rows;
    }
    HASYNC_RETURN_IF_ERROR(SendSequences(source));
    log->info("{} transactions, {} changes from {} to {}", txns, changes,
              snapshot::FormatLsn(start), snapshot::FormatLsn(end_lsn));
    HASYNC_RETURN_IF_ERROR(
        SendEnd(DbEnd{.end_lsn = end_lsn, .transactions = txns, .changes = changes}));
    if (!verify) return Status::Ok();
    // The slot moves to the pinned point only if the Secondary commits (Confirm).
    return SendChecks(pinned, req.counts_only, req.SampleSeed());
  }

  // The key ranges first (the Secondary starts hashing them), then this side's checks.
  Status SendChecks(PgConn& c, bool counts_only, int sample) {
    VerifyTables ranges;
    const verify::CheckOptions bounds{.counts_only = counts_only, .bounds_only = true};
    const verify::CheckOptions level{.counts_only = counts_only, .sample = sample};
    HASYNC_ASSIGN_OR_RETURN(ranges.tables, verify::CheckTablesOn(c, scope, nullptr, bounds));
    HASYNC_RETURN_IF_ERROR(SendM(MsgType::kVerifyTables, ranges));
    HASYNC_ASSIGN_OR_RETURN(auto checks, verify::CheckTablesOn(c, scope, &ranges.tables, level));
    return SendM(MsgType::kVerifyTables, VerifyTables{checks});
  }

  // A repair: the Primary's rows of one key range of one table in scope, as of `c`'s snapshot.
  Result<uint64_t> CopyRange(PgConn& c, const std::vector<snapshot::TableInfo>& tables,
                             const DbRange& r) {
    const snapshot::TableInfo* t = nullptr;
    for (const auto& x : tables) {
      if (x.schema == r.schema && x.name == r.name && !x.data_excluded) t = &x;
    }
    if (t == nullptr) {
      return Status(Code::kDatabase, "repair: " + r.schema + "." + r.name +
                                         " is not a replicated table of the Primary");
    }
    std::string q = c.QuoteIdent(t->schema) + "." + c.QuoteIdent(t->name);
    HASYNC_ASSIGN_OR_RETURN(
        PgResult k,
        c.ExecParams("SELECT a.attname, format_type(a.atttypid, a.atttypmod) FROM pg_index i JOIN "
                     "pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY (i.indkey) "
                     "WHERE i.indrelid = $1::regclass AND i.indisprimary",
                     {q}));
    if (k.rows() != 1 || k.Get(0, 0) != r.key) {
      return Status(Code::kDatabase,
                    "repair: " + t->Qualified() + "'s primary key is not (" + r.key + ")");
    }
    std::string where = verify::RangeCondition(c, r, k.Get(0, 1));
    std::string cols;
    for (const auto& col : t->columns) cols += (cols.empty() ? "" : ", ") + c.QuoteIdent(col);
    DbCopyBegin begin{.schema = t->schema, .name = t->name, .columns = t->columns, .range = r};
    return CopyQuery(c, begin,
                     "COPY (SELECT " + cols + " FROM ONLY " + q + " WHERE " + where +
                         ") TO STDOUT (FORMAT binary)");
  }

  // Ends the replication stream politely; the connection closes either way.
  static void EndStream(PgConn& repl) {
    if (PQputCopyEnd(repl.raw(), nullptr) != 1) return;
    (void)PQflush(repl.raw());
    for (int i = 0; i < 1000; ++i) {
      char* raw = nullptr;
      int n = PQgetCopyData(repl.raw(), &raw, 0);
      if (raw != nullptr) PQfreemem(raw);
      if (n < 0) break;
    }
    for (int i = 0; i < 10; ++i) {
      PgResult r(PQgetResult(repl.raw()));
      if (r.raw() == nullptr) break;
    }
  }

  Status Confirm() {
    if (end_lsn == 0 || !conn.connected()) return Status::Ok();
    // The walsender of this sync may still be exiting: the slot is busy until it has.
    for (int attempt = 0;; ++attempt) {
      auto r = conn.ExecParams("SELECT pg_replication_slot_advance($1, $2::pg_lsn)",
                               {slot, snapshot::FormatLsn(end_lsn)});
      if (r.ok()) break;
      if (attempt >= 100 || r.status().message().find("is active") == std::string::npos) {
        return r.status().Context("confirming the Secondary's position");
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    uint64_t retained = RetainedBytes();
    if (retained > s.database.max_slot_wal_mb << 20) {
      log->warn(
          "replication slot {} retains {} MiB of WAL, more than [database] "
          "max_slot_wal_mb = {}",
          slot, retained >> 20, s.database.max_slot_wal_mb);
    }
    log->info("slot {} confirmed at {}", slot, snapshot::FormatLsn(end_lsn));
    return Status::Ok();
  }
};

DbSource::DbSource(const Settings& s, PeerLink& link, const std::string& peer_node)
    : impl_(std::make_unique<Impl>(s, link, peer_node)) {}
DbSource::~DbSource() = default;
Status DbSource::Serve(const DbRequest& req, const DbServeOptions& options) {
  return impl_->Serve(req, options.verify_only);
}
Status DbSource::Confirm() { return impl_->Confirm(); }

std::string DbSource::SlotName(const std::string& peer_node) {
  std::string out = "hasync_";
  for (char c : peer_node) {
    out += isalnum(static_cast<unsigned char>(c)) ? static_cast<char>(tolower(c)) : '_';
  }
  return out.substr(0, 63);
}

Result<std::vector<std::pair<std::string, uint64_t>>> SlotRetention(const std::string& conninfo) {
  HASYNC_ASSIGN_OR_RETURN(PgConn c, PgConn::Connect(conninfo));
  HASYNC_ASSIGN_OR_RETURN(
      PgResult r,
      c.Exec("SELECT slot_name, coalesce(pg_wal_lsn_diff(pg_current_wal_lsn(), restart_lsn), "
             "0)::bigint FROM pg_replication_slots WHERE slot_name LIKE 'hasync\\_%' ORDER BY 1"));
  std::vector<std::pair<std::string, uint64_t>> out;
  for (int i = 0; i < r.rows(); ++i) out.emplace_back(r.Get(i, 0), std::stoull(r.Get(i, 1)));
  return out;
}

}  // namespace hasync::engine
