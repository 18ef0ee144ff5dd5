// The Primary's side of change capture. A sync's end is a marker, a transactional logical
// message committed just before the stream starts: everything committed before it reaches the
// Secondary in this sync, everything after in the next, and the slot is advanced to the marker's
// commit only when the Secondary says it has committed, so a failed sync is simply read again.
#include "snapshot/pg_source.h"

#include <cctype>
#include <chrono>
#include <cstdio>
#include <random>
#include <string_view>
#include <thread>
#include <vector>

#include "common/hash.h"
#include "common/log.h"
#include "snapshot/change_filter.h"
#include "snapshot/change_stream.h"

namespace hasync::snapshot {

Status PgSource::Connect() {
  HASYNC_ASSIGN_OR_RETURN(conn_, PgConn::Connect(options_.conninfo));
  return Status::Ok();
}

Status PgSource::CheckWalLevel() {
  HASYNC_ASSIGN_OR_RETURN(PgResult wl, conn_.Exec("SHOW wal_level"));
  if (wl.Get(0, 0) == "logical") return Status::Ok();
  return Status(Code::kConfig,
                "the Primary's PostgreSQL runs with wal_level = " + wl.Get(0, 0) +
                    "; replicating its changes needs wal_level = logical: run ALTER SYSTEM SET "
                    "wal_level = logical; on the Primary, restart PostgreSQL, then sync again");
}

Result<std::string> PgSource::SourceId() {
  HASYNC_ASSIGN_OR_RETURN(PgResult sys,
                          conn_.Exec("SELECT system_identifier::text || '/' || current_database() "
                                     "FROM pg_control_system()"));
  return sys.Get(0, 0);
}

Result<std::vector<TableInfo>> PgSource::ListReplicatedTables(bool refuse_keyless) {
  HASYNC_ASSIGN_OR_RETURN(auto tables, ListTables(conn_, options_.scope));
  auto no_key = TablesWithoutIdentity(tables);
  if (no_key.empty() || !refuse_keyless) return tables;
  std::string list;
  for (const auto& t : no_key) list += (list.empty() ? "" : ", ") + t;
  return Status(Code::kConfig,
                "on the Primary, " + list + (no_key.size() == 1 ? " has" : " have") +
                    " no primary key and no replica identity, so updates and deletes cannot "
                    "be replicated: add a primary key, or run ALTER TABLE ... REPLICA "
                    "IDENTITY FULL");
}

Result<SlotState> PgSource::ReadSlot() {
  HASYNC_ASSIGN_OR_RETURN(PgResult sr,
                          conn_.ExecParams("SELECT confirmed_flush_lsn, coalesce(wal_status, '') "
                                           "FROM pg_replication_slots WHERE slot_name = $1 AND "
                                           "database = current_database()",
                                           {options_.slot}));
  if (sr.rows() == 0) return SlotState{};
  return SlotState{.exists = true, .lost = sr.Get(0, 1) == "lost", .confirmed_flush = sr.Get(0, 0)};
}

Result<PgSnapshot> PgSource::CreateSlot(const CreateSlotOptions& options) {
  HASYNC_ASSIGN_OR_RETURN(PgConn repl, PgConn::Connect(options_.conninfo, {.replication = true}));
  std::string qslot = repl.QuoteIdent(options_.slot);
  if (options.replace) HASYNC_RETURN_IF_ERROR(repl.Run("DROP_REPLICATION_SLOT " + qslot + " WAIT"));
  HASYNC_ASSIGN_OR_RETURN(PgResult cr, repl.Exec("CREATE_REPLICATION_SLOT " + qslot +
                                                 " LOGICAL pgoutput (SNAPSHOT 'export')"));
  HASYNC_ASSIGN_OR_RETURN(Lsn consistent, ParseLsn(cr.Get(0, 1)));
  ExportedSnapshot exported{.point = consistent, .name = cr.Get(0, 2)};
  Log("database")
      ->info("slot {} created at {}; copying snapshot {}", options_.slot, FormatLsn(consistent),
             exported.name);
  // repl stays open with the snapshot: pg_dump imports it as well.
  return PgSnapshot::Open(options_.conninfo, std::move(exported), std::move(repl));
}

Result<PgSnapshot> PgSource::Pin(const std::string& token) {
  HASYNC_ASSIGN_OR_RETURN(PgConn tmp, PgConn::Connect(options_.conninfo, {.replication = true}));
  HASYNC_ASSIGN_OR_RETURN(
      PgResult cr, tmp.Exec("CREATE_REPLICATION_SLOT " + tmp.QuoteIdent("hasync_v_" + token) +
                            " TEMPORARY LOGICAL pgoutput (SNAPSHOT 'export')"));
  HASYNC_ASSIGN_OR_RETURN(Lsn bound, ParseLsn(cr.Get(0, 1)));
  HASYNC_ASSIGN_OR_RETURN(
      PgSnapshot pinned,
      PgSnapshot::Open(options_.conninfo, {.point = bound, .name = cr.Get(0, 2)}, PgConn()));
  Log("database")->info("pinned at {}", FormatLsn(bound));
  return pinned;  // the temporary slot goes with tmp; the snapshot stays with `pinned`
}

Result<SchemaDump> PgSource::StartSchemaDump(
    PgSnapshot& snapshot, const std::vector<std::pair<std::string, std::string>>& objects) const {
  HASYNC_ASSIGN_OR_RETURN(auto env, ConninfoEnvironment(options_.conninfo));
  std::string pg_dump =
      options_.pg_dump.empty() ? PgDumpPath(snapshot.conn().server_version()) : options_.pg_dump;
  std::string name = snapshot.name();
  if (!objects.empty()) {
    HASYNC_ASSIGN_OR_RETURN(PgResult r, snapshot.conn().Exec("SELECT pg_export_snapshot()"));
    name = r.Get(0, 0);
  }
  return SchemaDump::Start(SchemaDumpOptions{.pg_dump = pg_dump,
                                             .snapshot = name,
                                             .scope = options_.scope,
                                             .env = env,
                                             .objects = objects});
}

Result<ChangesRead> PgSource::ReadChanges(const ReadChangesOptions& options,
                                          const ChangeSink& sink) {
  // The sync point. When a bound is set it only ends the stream: it commits after the bound.
  HASYNC_RETURN_IF_ERROR(conn_
                             .ExecParams("SELECT pg_logical_emit_message(true, $1, $2)",
                                         {std::string(kMarkerPrefix), options.token})
                             .status());
  HASYNC_ASSIGN_OR_RETURN(ChangeStream stream, ChangeStream::Start({.conninfo = options_.conninfo,
                                                                    .slot = options_.slot,
                                                                    .publication = kPublication,
                                                                    .start = options.start}));
  DbScope scope = options_.scope;
  scope.exclude_tables.insert(scope.exclude_tables.end(), options.copied.begin(),
                              options.copied.end());
  ChangeFilter filter({.scope = scope, .token = options.token, .bound = options.bound});
  while (!filter.done()) {
    HASYNC_ASSIGN_OR_RETURN(std::optional<PgMessage> m, stream.Next());
    if (!m) {
      return Status(Code::kDatabase, "replication slot " + options_.slot +
                                         " ended its stream before this sync's marker");
    }
    HASYNC_ASSIGN_OR_RETURN(std::optional<PgMessage> out, filter.Add(std::move(*m)));
    if (out) HASYNC_RETURN_IF_ERROR(sink(*out));
  }
  stream.End();
  return ChangesRead{.end_lsn = filter.end_lsn(),
                     .transactions = filter.transactions(),
                     .changes = filter.changes(),
                     .refreshed = {filter.refreshed().begin(), filter.refreshed().end()}};
}

Status PgSource::AdvanceSlot(Lsn lsn) {
  // The walsender of this sync may still be exiting: the slot is busy until it has.
  for (int attempt = 0;; ++attempt) {
    auto r = conn_.ExecParams("SELECT pg_replication_slot_advance($1, $2::pg_lsn)",
                              {options_.slot, FormatLsn(lsn)});
    if (r.ok()) return Status::Ok();
    if (attempt >= 100 || r.status().message().find("is active") == std::string::npos) {
      return r.status().Context("confirming the Secondary's position");
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
}

uint64_t PgSource::RetainedBytes() {
  auto r = conn_.ExecParams(
      "SELECT coalesce(pg_wal_lsn_diff(pg_current_wal_lsn(), restart_lsn), 0)::bigint "
      "FROM pg_replication_slots WHERE slot_name = $1",
      {options_.slot});
  return r.ok() && r->rows() == 1 ? std::stoull(r->Get(0, 0)) : 0;
}

// An injective fold into what a slot name may hold ([a-z0-9_], at most 63 bytes): one slot per
// Secondary, and two Secondaries never share one (b-1 and b_1 did: both became hasync_b_1).
// Lowercase letters stay, '-' becomes '_' (so the usual mdm-a, mdm-b keep their slots), every
// other byte (digits, '_', '.', capitals) becomes '0' and its two hex digits: a prefix-free code,
// so the fold can be read back. A fold longer than 63 bytes keeps its first codes and ends in
// "0z" and 16 hex digits of a hash of the name: "0z" never occurs in a fold that fits.
std::string PgSource::SlotName(const std::string& peer_node) {
  constexpr size_t kMax = 63;  // NAMEDATALEN - 1
  static const char kHex[] = "0123456789abcdef";
  std::string out = "hasync_";
  std::vector<size_t> boundaries;
  for (char ch : peer_node) {
    boundaries.push_back(out.size());
    auto c = static_cast<unsigned char>(ch);
    if (c >= 'a' && c <= 'z') {
      out += static_cast<char>(c);
    } else if (c == '-') {
      out += '_';
    } else {
      out += {'0', kHex[c >> 4], kHex[c & 15]};
    }
  }
  if (out.size() <= kMax) return out;
  constexpr size_t kSuffix = 2 + 16;
  size_t cut = 0;
  for (size_t b : boundaries) {
    if (b + kSuffix <= kMax) cut = b;
  }
  char suffix[kSuffix + 1];
  std::snprintf(suffix, sizeof suffix, "0z%016llx",
                static_cast<unsigned long long>(Hash64(peer_node.data(), peer_node.size())));
  return out.substr(0, cut) + suffix;
}

std::optional<std::string> PgSource::PeerOfSlot(const std::string& slot) {
  constexpr std::string_view kPrefix = "hasync_";
  if (slot.size() <= kPrefix.size() || slot.compare(0, kPrefix.size(), kPrefix) != 0) {
    return std::nullopt;
  }
  auto hex = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return -1;
  };
  std::string out;
  for (size_t i = kPrefix.size(); i < slot.size(); ++i) {
    char c = slot[i];
    if (c >= 'a' && c <= 'z') {
      out += c;
    } else if (c == '_') {
      out += '-';
    } else if (c == '0' && i + 2 < slot.size() && hex(slot[i + 1]) >= 0 && hex(slot[i + 2]) >= 0) {
      out += static_cast<char>(hex(slot[i + 1]) * 16 + hex(slot[i + 2]));
      i += 2;
    } else {
      return std::nullopt;  // "0z" (a hash suffix) or no fold at all
    }
  }
  if (SlotName(out) != slot) return std::nullopt;
  return out;
}

std::string NewMarkerToken() {
  std::random_device rd;
  uint64_t v = (static_cast<uint64_t>(rd()) << 32) ^ rd() ^
               static_cast<uint64_t>(std::chrono::steady_clock::now().time_since_epoch().count());
  char buf[17];
  std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(v));
  return buf;
}

Result<std::vector<std::pair<std::string, uint64_t>>> SlotRetention(const std::string& conninfo) {
  HASYNC_ASSIGN_OR_RETURN(PgConn c, PgConn::Connect(conninfo));
  HASYNC_ASSIGN_OR_RETURN(
      PgResult r,
      c.Exec("SELECT slot_name, coalesce(pg_wal_lsn_diff(pg_current_wal_lsn(), restart_lsn), "
             "0)::bigint FROM pg_replication_slots WHERE slot_name LIKE 'hasync\\_%' AND NOT "
             "temporary "
             "ORDER BY 1"));
  std::vector<std::pair<std::string, uint64_t>> out;
  for (int i = 0; i < r.rows(); ++i) out.emplace_back(r.Get(i, 0), std::stoull(r.Get(i, 1)));
  return out;
}

}  // namespace hasync::snapshot
