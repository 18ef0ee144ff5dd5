// NodeState on SQLite: one database per node (WAL mode, a busy timeout, since the CLI and the
// daemon open it at once); every change is one transaction, so the history and the node's mode
// never disagree after a crash.
#include "engine/state/node_state.h"

#include <signal.h>
#include <sqlite3.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <thread>

#include "common/env.h"
#include "common/log.h"
#include "engine/state/state_folder.h"

namespace hasync::engine {
namespace {

constexpr int kBusyTimeoutMs = 15000;

// A prepared statement, finalized on scope exit.
class Stmt {
 public:
  Stmt(sqlite3* db, const std::string& sql) : db_(db) {
    rc_ = sqlite3_prepare_v2(db, sql.c_str(), -1, &s_, nullptr);
  }
  ~Stmt() { sqlite3_finalize(s_); }
  Status ok(const std::string& what) const {
    if (rc_ != SQLITE_OK) return Err(what);
    return Status::Ok();
  }
  Stmt& Bind(int i, int64_t v) {
    sqlite3_bind_int64(s_, i, v);
    return *this;
  }
  Stmt& Bind(int i, double v) {
    sqlite3_bind_double(s_, i, v);
    return *this;
  }
  Stmt& Bind(int i, const std::string& v) {
    sqlite3_bind_text(s_, i, v.data(), static_cast<int>(v.size()), SQLITE_TRANSIENT);
    return *this;
  }
  // SQLITE_ROW, SQLITE_DONE, or an error.
  int Step() { return rc_ = sqlite3_step(s_); }
  int64_t Int(int c) const { return sqlite3_column_int64(s_, c); }
  double Real(int c) const { return sqlite3_column_double(s_, c); }
  std::string Text(int c) const {
    const auto* t = sqlite3_column_text(s_, c);
    return t ? reinterpret_cast<const char*>(t) : "";
  }
  Status Err(const std::string& what) const {
    return Status(Code::kIo, "node state (" + what + "): " + sqlite3_errmsg(db_));
  }

 private:
  sqlite3* db_;
  sqlite3_stmt* s_ = nullptr;
  int rc_ = SQLITE_OK;
};

constexpr char kSchema[] = R"sql(
CREATE TABLE IF NOT EXISTS node (
  id INTEGER PRIMARY KEY CHECK (id = 1),
  ha_enabled INTEGER NOT NULL, mode TEXT NOT NULL, node_status TEXT NOT NULL,
  generation INTEGER NOT NULL, client_connections INTEGER NOT NULL,
  schedule_anchor INTEGER NOT NULL DEFAULT 0, updated INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS history (
  id INTEGER PRIMARY KEY AUTOINCREMENT, trigger TEXT NOT NULL, peer TEXT NOT NULL,
  pid INTEGER NOT NULL, started INTEGER NOT NULL, finished INTEGER NOT NULL DEFAULT 0,
  result TEXT NOT NULL, error_code TEXT NOT NULL DEFAULT '', error TEXT NOT NULL DEFAULT '',
  duration_s REAL NOT NULL DEFAULT 0, bytes_wire INTEGER NOT NULL DEFAULT 0,
  bytes_changed INTEGER NOT NULL DEFAULT 0, files_changed INTEGER NOT NULL DEFAULT 0,
  files_deleted INTEGER NOT NULL DEFAULT 0, db_changes INTEGER NOT NULL DEFAULT 0,
  db_full INTEGER NOT NULL DEFAULT 0, db_reason TEXT NOT NULL DEFAULT '',
  phases TEXT NOT NULL DEFAULT '{}');
CREATE TABLE IF NOT EXISTS served (
  peer TEXT PRIMARY KEY, address TEXT NOT NULL, last_sync INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS events (
  id INTEGER PRIMARY KEY AUTOINCREMENT, at INTEGER NOT NULL, kind TEXT NOT NULL,
  message TEXT NOT NULL);
)sql";

// Columns added after the first release of a table: (table, column, definition).
constexpr const char* kAddedColumns[][3] = {
    {"node", "lineage", "TEXT NOT NULL DEFAULT '[]'"},
    {"node", "superseded", "TEXT NOT NULL DEFAULT ''"},
    {"events", "email_state", "TEXT NOT NULL DEFAULT 'pending'"},
    {"events", "command_state", "TEXT NOT NULL DEFAULT 'pending'"},
    {"events", "attempts", "INTEGER NOT NULL DEFAULT 0"},
    {"events", "next_try", "INTEGER NOT NULL DEFAULT 0"},
    {"history", "verified", "TEXT NOT NULL DEFAULT ''"},
    {"node", "maintenance", "INTEGER NOT NULL DEFAULT 0"},
    {"node", "epoch", "INTEGER NOT NULL DEFAULT 0"},
};

constexpr char kEventColumns[] = "id, at, kind, message, email_state, command_state, attempts";

EventRow ReadEvent(const Stmt& s) {
  return {s.Int(0), s.Int(1), s.Text(2), s.Text(3), s.Text(4), s.Text(5), s.Int(6)};
}

constexpr char kHistoryColumns[] =
    "id, trigger, peer, pid, started, finished, result, error_code, error, duration_s, "
    "bytes_wire, bytes_changed, files_changed, files_deleted, db_changes, db_full, db_reason, "
    "phases, verified";

HistoryRow ReadHistory(const Stmt& s) {
  HistoryRow h;
  h.id = s.Int(0);
  h.trigger = s.Text(1);
  h.peer = s.Text(2);
  h.pid = s.Int(3);
  h.started = s.Int(4);
  h.finished = s.Int(5);
  h.result = s.Text(6);
  h.error_code = s.Text(7);
  h.error = s.Text(8);
  h.duration_s = s.Real(9);
  h.bytes_wire = static_cast<uint64_t>(s.Int(10));
  h.bytes_changed = static_cast<uint64_t>(s.Int(11));
  h.files_changed = static_cast<uint64_t>(s.Int(12));
  h.files_deleted = static_cast<uint64_t>(s.Int(13));
  h.db_changes = static_cast<uint64_t>(s.Int(14));
  h.db_full = s.Int(15) != 0;
  h.db_reason = s.Text(16);
  h.phases_json = s.Text(17);
  h.verified = s.Text(18);
  return h;
}

bool ProcessAlive(int64_t pid) {
  return pid > 0 && (::kill(static_cast<pid_t>(pid), 0) == 0 || errno == EPERM);
}

}  // namespace

int64_t NowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

const char* ModeName(Mode m) { return m == Mode::kPrimary ? "primary" : "secondary"; }
const char* NodeStatusName(NodeStatus s) { return s == NodeStatus::kActive ? "active" : "standby"; }

Result<std::unique_ptr<NodeState>> NodeState::Open(const Settings& s) {
  HASYNC_ASSIGN_OR_RETURN(Env * env, Env::Default());
  HASYNC_RETURN_IF_ERROR(CreateDirs(*env, s.state_dir, 0700));
  HASYNC_RETURN_IF_ERROR(CheckStateFolder(*env, s));
  std::string path = s.state_dir + "/node.db";
  sqlite3* db = nullptr;
  int rc =
      sqlite3_open_v2(path.c_str(), &db,
                      SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_FULLMUTEX, nullptr);
  if (rc != SQLITE_OK) {
    std::string msg = db ? sqlite3_errmsg(db) : "out of memory";
    sqlite3_close(db);
    return Status(Code::kIo, "opening the node state " + path + ": " + msg);
  }
  sqlite3_busy_timeout(db, kBusyTimeoutMs);
  // The WAL stays when the last connection closes: each CLI run and serve session opens the
  // node state, and re-creating the WAL costs its header's fsync and the folder's at the
  // first commit (up to tens of ms each on a busy disk, on every sync's path).
  int persist = 1;
  (void)sqlite3_file_control(db, "main", SQLITE_FCNTL_PERSIST_WAL, &persist);
  std::unique_ptr<NodeState> n(new NodeState(db, s.node_name));
  HASYNC_RETURN_IF_ERROR(n->Exec("PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL;"));
  // The schema and its migration in one write transaction: several processes may open a new or
  // older node state at once (two Secondaries' serve sessions on a Primary), and each must see
  // the other's added columns instead of adding them again ("duplicate column name").
  HASYNC_RETURN_IF_ERROR(n->Exec("BEGIN IMMEDIATE"));
  Status schema = n->Exec(kSchema);
  if (schema.ok()) schema = n->Migrate();
  if (schema.ok()) schema = n->Exec("COMMIT");
  if (!schema.ok()) {
    (void)n->Exec("ROLLBACK");
    return schema;
  }
  // Seed from [ha] the first time only: afterwards the node's own state is the truth. A node
  // set up as Primary starts generation 1; a Secondary holds none until its first sync.
  Lineage lineage;
  if (s.ha.mode == "primary") lineage = StartGeneration({}, s.node_name, NowMs());
  Stmt seed(db,
            "INSERT OR IGNORE INTO node (id, ha_enabled, mode, node_status, generation, "
            "client_connections, schedule_anchor, updated, lineage) "
            "VALUES (1, ?, ?, ?, ?, 1, ?, ?, ?)");
  HASYNC_RETURN_IF_ERROR(seed.ok("seeding"));
  seed.Bind(1, int64_t{s.ha.enabled ? 1 : 0})
      .Bind(2, s.ha.mode)
      .Bind(3, s.ha.node_status)
      .Bind(4, static_cast<int64_t>(lineage.empty() ? 0 : lineage.back().number))
      .Bind(5, NowMs() / 1000)
      .Bind(6, NowMs())
      .Bind(7, LineageToJson(lineage));
  if (seed.Step() != SQLITE_DONE) return seed.Err("seeding");
  HASYNC_RETURN_IF_ERROR(n->RecoverInterrupted());
  return n;
}

NodeState::~NodeState() { sqlite3_close(db_); }

Status NodeState::Exec(const std::string& sql) {
  // SQLite answers some lock waits with SQLITE_BUSY at once, without its busy handler (a WAL
  // index another connection is recovering, or a journal-mode check racing a checkpoint): two
  // Secondaries' serve sessions opening the node state together failed "database is locked" in
  // about one run of SeveralSecondariesTest in five. Outside a transaction, a statement is tried
  // again for as long as the busy timeout.
  auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(kBusyTimeoutMs);
  for (int wait_ms = 1;; wait_ms = std::min(wait_ms * 2, 100)) {
    bool outside = sqlite3_get_autocommit(db_) != 0;
    char* err = nullptr;
    int rc = sqlite3_exec(db_, sql.c_str(), nullptr, nullptr, &err);
    if (rc == SQLITE_OK) return Status::Ok();
    std::string m = err ? err : sqlite3_errmsg(db_);
    sqlite3_free(err);
    if ((rc & 0xff) != SQLITE_BUSY || !outside || sqlite3_get_autocommit(db_) == 0 ||
        std::chrono::steady_clock::now() >= deadline) {
      return Status(Code::kIo, "node state: " + m);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(wait_ms));
  }
}

Status NodeState::Migrate() {
  for (const auto& [table, column, definition] : kAddedColumns) {
    Stmt q(db_, std::string("SELECT 1 FROM pragma_table_info('") + table + "') WHERE name = ?");
    HASYNC_RETURN_IF_ERROR(q.ok("migrating"));
    q.Bind(1, std::string(column));
    if (q.Step() == SQLITE_ROW) continue;
    HASYNC_RETURN_IF_ERROR(
        Exec(std::string("ALTER TABLE ") + table + " ADD COLUMN " + column + " " + definition));
  }
  return Status::Ok();
}

Status NodeState::RecoverInterrupted() {
  Stmt q(db_, "SELECT id, pid FROM history WHERE result = 'running'");
  HASYNC_RETURN_IF_ERROR(q.ok("history"));
  std::vector<int64_t> gone;
  while (q.Step() == SQLITE_ROW) {
    if (!ProcessAlive(q.Int(1))) gone.push_back(q.Int(0));
  }
  for (int64_t id : gone) {
    Stmt u(db_,
           "UPDATE history SET result = 'interrupted', finished = ?, error_code = 'aborted', "
           "error = 'the process running this sync ended before it finished (killed or "
           "crashed); the next sync recovered its state' WHERE id = ? AND result = 'running'");
    u.Bind(1, NowMs()).Bind(2, id);
    if (u.Step() != SQLITE_DONE) return u.Err("history");
    Log("node")->warn("sync {} was interrupted: recorded in the history", id);
  }
  return Status::Ok();
}

Result<NodeInfo> NodeState::Get() {
  Stmt q(db_,
         "SELECT ha_enabled, mode, node_status, generation, client_connections, schedule_anchor, "
         "lineage, superseded, maintenance, epoch FROM node WHERE id = 1");
  HASYNC_RETURN_IF_ERROR(q.ok("reading"));
  if (q.Step() != SQLITE_ROW) return q.Err("reading");
  NodeInfo n;
  n.ha_enabled = q.Int(0) != 0;
  n.mode = q.Text(1) == "primary" ? Mode::kPrimary : Mode::kSecondary;
  n.status = q.Text(2) == "active" ? NodeStatus::kActive : NodeStatus::kStandby;
  n.generation = static_cast<uint64_t>(q.Int(3));
  n.client_connections = q.Int(4) != 0;
  n.schedule_anchor = q.Int(5);
  HASYNC_ASSIGN_OR_RETURN(n.lineage, LineageFromJson(q.Text(6)));
  n.superseded = q.Text(7);
  n.maintenance = q.Int(8) != 0;
  n.epoch = q.Int(9);
  return n;
}

Status NodeState::AdoptEpoch(int64_t epoch) {
  Stmt u(db_, "UPDATE node SET epoch = MAX(epoch, ?), updated = ? WHERE id = 1");
  u.Bind(1, epoch).Bind(2, NowMs());
  if (u.Step() != SQLITE_DONE) return u.Err("epoch");
  return Status::Ok();
}

Status NodeState::AdoptLineage(const Lineage& source) {
  Stmt u(db_, "UPDATE node SET lineage = ?, generation = ?, updated = ? WHERE id = 1");
  u.Bind(1, LineageToJson(source))
      .Bind(2, static_cast<int64_t>(source.empty() ? 0 : source.back().number))
      .Bind(3, NowMs());
  if (u.Step() != SQLITE_DONE) return u.Err("generation");
  return Status::Ok();
}

Result<bool> NodeState::SetSuperseded(const std::string& reason) {
  HASYNC_ASSIGN_OR_RETURN(NodeInfo n, Get());
  if (n.superseded == reason) return false;
  // Only a node that still serves can be superseded: the check and the change are one
  // statement, so a `failover mode secondary` in between wins.
  Stmt u(db_,
         "UPDATE node SET superseded = ?, updated = ? WHERE id = 1 AND (? = '' OR mode = "
         "'primary' OR node_status = 'active')");
  u.Bind(1, reason).Bind(2, NowMs()).Bind(3, reason);
  if (u.Step() != SQLITE_DONE) return u.Err("superseded");
  if (sqlite3_changes(db_) == 0) return false;
  if (reason.empty()) {
    HASYNC_RETURN_IF_ERROR(AddEvent("superseded-cleared", "no other Primary seen any more"));
  } else {
    HASYNC_RETURN_IF_ERROR(AddEvent("superseded", reason));
  }
  return true;
}

Result<bool> NodeState::Promote(const std::string& why) {
  HASYNC_RETURN_IF_ERROR(Exec("BEGIN IMMEDIATE"));
  auto n = Get();
  if (!n.ok()) {
    (void)Exec("ROLLBACK");
    return n.status();
  }
  // Idempotent, unless the node was superseded: then promoting again takes the role back in a
  // new generation (the operator chose this node's data).
  if (n->mode == Mode::kPrimary && n->status == NodeStatus::kActive && n->superseded.empty() &&
      !n->maintenance) {
    HASYNC_RETURN_IF_ERROR(Exec("COMMIT"));
    return false;
  }
  Lineage next = StartGeneration(n->lineage, node_name_, NowMs());
  Stmt u(db_,
         "UPDATE node SET mode = 'primary', node_status = 'active', generation = ?, lineage = ?, "
         "superseded = '', maintenance = 0, updated = ? WHERE id = 1");
  u.Bind(1, static_cast<int64_t>(next.back().number)).Bind(2, LineageToJson(next)).Bind(3, NowMs());
  if (u.Step() != SQLITE_DONE) {
    (void)Exec("ROLLBACK");
    return u.Err("promoting");
  }
  Stmt e(db_, "INSERT INTO events (at, kind, message) VALUES (?, 'promoted', ?)");
  e.Bind(1, NowMs()).Bind(2, why + "; generation " + DescribeGeneration(next));
  if (e.Step() != SQLITE_DONE) {
    (void)Exec("ROLLBACK");
    return e.Err("promoting");
  }
  HASYNC_RETURN_IF_ERROR(Exec("COMMIT"));
  return true;
}

Result<bool> NodeState::EnterMaintenance(const std::string& why) {
  HASYNC_RETURN_IF_ERROR(Exec("BEGIN IMMEDIATE"));
  auto n = Get();
  if (!n.ok() || n->ha_enabled || n->maintenance || n->mode == Mode::kPrimary) {
    (void)Exec("ROLLBACK");
    if (!n.ok()) return n.status();
    if (n->ha_enabled) {
      return Status(Code::kUsage,
                    "HA is enabled: a maintenance Primary needs `hasync ha disable` first");
    }
    return false;  // already the Primary, for maintenance or for real
  }
  Stmt u(db_,
         "UPDATE node SET mode = 'primary', node_status = 'active', maintenance = 1, "
         "superseded = '', updated = ? WHERE id = 1");
  u.Bind(1, NowMs());
  Stmt e(db_, "INSERT INTO events (at, kind, message) VALUES (?, 'maintenance', ?)");
  e.Bind(1, NowMs())
      .Bind(2,
            why + "; a maintenance Primary, still in generation " + DescribeGeneration(n->lineage));
  if (u.Step() != SQLITE_DONE || e.Step() != SQLITE_DONE) {
    (void)Exec("ROLLBACK");
    return u.Err("changing mode");
  }
  HASYNC_RETURN_IF_ERROR(Exec("COMMIT"));
  return true;
}

Result<bool> NodeState::Demote(const std::string& why) {
  HASYNC_ASSIGN_OR_RETURN(NodeInfo n, Get());
  if (n.mode == Mode::kSecondary && n.status == NodeStatus::kStandby && !n.maintenance) {
    return false;
  }
  HASYNC_RETURN_IF_ERROR(Exec("BEGIN IMMEDIATE"));
  Stmt u(db_,
         "UPDATE node SET mode = 'secondary', node_status = 'standby', superseded = '', "
         "maintenance = 0, updated = ? WHERE id = 1");
  u.Bind(1, NowMs());
  Stmt e(db_, "INSERT INTO events (at, kind, message) VALUES (?, 'mode-changed', ?)");
  e.Bind(1, NowMs()).Bind(2, why);
  if (u.Step() != SQLITE_DONE || e.Step() != SQLITE_DONE) {
    (void)Exec("ROLLBACK");
    return u.Err("changing mode");
  }
  HASYNC_RETURN_IF_ERROR(Exec("COMMIT"));
  return true;
}

Status NodeState::SetHaEnabled(bool enabled) {
  if (enabled) {
    HASYNC_ASSIGN_OR_RETURN(NodeInfo n, Get());
    if (n.maintenance) {
      return Status(Code::kUsage,
                    "this node is a maintenance Primary (made Primary while HA was disabled, "
                    "as the upgrade procedure does): return it to Secondary first (`failover "
                    "mode secondary`), or take the Primary's role for real (`failover mode "
                    "primary --take-over`, a new generation), then enable HA");
    }
  }
  Stmt u(db_, "UPDATE node SET ha_enabled = ?, updated = ? WHERE id = 1");
  u.Bind(1, int64_t{enabled ? 1 : 0}).Bind(2, NowMs());
  if (u.Step() != SQLITE_DONE) return u.Err("HA enabled");
  return AddEvent(enabled ? "ha-enabled" : "ha-disabled", enabled ? "HA enabled" : "HA disabled");
}

Status NodeState::SetClientConnections(bool enabled) {
  Stmt u(db_, "UPDATE node SET client_connections = ?, updated = ? WHERE id = 1");
  u.Bind(1, int64_t{enabled ? 1 : 0}).Bind(2, NowMs());
  if (u.Step() != SQLITE_DONE) return u.Err("client connections");
  return AddEvent(enabled ? "clients-enabled" : "clients-disabled",
                  enabled ? "new client connections resumed" : "new client connections stopped");
}

Status NodeState::SetScheduleAnchor(int64_t unix_s) {
  Stmt u(db_, "UPDATE node SET schedule_anchor = ?, updated = ? WHERE id = 1");
  u.Bind(1, unix_s).Bind(2, NowMs());
  if (u.Step() != SQLITE_DONE) return u.Err("schedule");
  return Status::Ok();
}

Status NodeState::InTransaction(const std::function<void()>& fn) {
  HASYNC_RETURN_IF_ERROR(Exec("BEGIN IMMEDIATE"));
  fn();
  Status st = Exec("COMMIT");
  if (!st.ok()) (void)Exec("ROLLBACK");
  return st;
}

Result<int64_t> NodeState::BeginSync(const std::string& trigger, const std::string& peer) {
  Stmt i(
      db_,
      "INSERT INTO history (trigger, peer, pid, started, result) VALUES (?, ?, ?, ?, 'running')");
  i.Bind(1, trigger).Bind(2, peer).Bind(3, int64_t{::getpid()}).Bind(4, NowMs());
  if (i.Step() != SQLITE_DONE) return i.Err("history");
  return sqlite3_last_insert_rowid(db_);
}

Status NodeState::FinishSync(const HistoryRow& h) {
  Stmt u(db_,
         "UPDATE history SET finished = ?, result = ?, error_code = ?, error = ?, duration_s = ?, "
         "bytes_wire = ?, bytes_changed = ?, files_changed = ?, files_deleted = ?, "
         "db_changes = ?, db_full = ?, db_reason = ?, phases = ?, verified = ? WHERE id = ?");
  u.Bind(1, NowMs())
      .Bind(2, h.result)
      .Bind(3, h.error_code)
      .Bind(4, h.error)
      .Bind(5, h.duration_s)
      .Bind(6, static_cast<int64_t>(h.bytes_wire))
      .Bind(7, static_cast<int64_t>(h.bytes_changed))
      .Bind(8, static_cast<int64_t>(h.files_changed))
      .Bind(9, static_cast<int64_t>(h.files_deleted))
      .Bind(10, static_cast<int64_t>(h.db_changes))
      .Bind(11, int64_t{h.db_full ? 1 : 0})
      .Bind(12, h.db_reason)
      .Bind(13, h.phases_json.empty() ? std::string("{}") : h.phases_json)
      .Bind(14, h.verified)
      .Bind(15, h.id);
  if (u.Step() != SQLITE_DONE) return u.Err("history");
  return Status::Ok();
}

Status NodeState::RecordSkipped(const std::string& trigger, const std::string& peer,
                                const Status& why, const std::string& result) {
  Stmt i(db_,
         "INSERT INTO history (trigger, peer, pid, started, finished, result, error_code, error) "
         "VALUES (?, ?, ?, ?, ?, ?, ?, ?)");
  int64_t now = NowMs();
  i.Bind(1, trigger).Bind(2, peer).Bind(3, int64_t{::getpid()}).Bind(4, now).Bind(5, now);
  i.Bind(6, result).Bind(7, CodeName(why.code())).Bind(8, why.message());
  if (i.Step() != SQLITE_DONE) return i.Err("history");
  return Status::Ok();
}

Result<std::vector<HistoryRow>> NodeState::History(int limit) {
  Stmt q(db_, std::string("SELECT ") + kHistoryColumns + " FROM history ORDER BY id DESC LIMIT ?");
  HASYNC_RETURN_IF_ERROR(q.ok("history"));
  q.Bind(1, int64_t{limit});
  std::vector<HistoryRow> out;
  while (q.Step() == SQLITE_ROW) out.push_back(ReadHistory(q));
  return out;
}

Result<std::optional<HistoryRow>> NodeState::Running() {
  Stmt q(db_, std::string("SELECT ") + kHistoryColumns +
                  " FROM history WHERE result = 'running' ORDER BY id DESC LIMIT 1");
  HASYNC_RETURN_IF_ERROR(q.ok("history"));
  if (q.Step() != SQLITE_ROW) return std::optional<HistoryRow>();
  return std::optional<HistoryRow>(ReadHistory(q));
}

Result<std::optional<HistoryRow>> NodeState::Last(const std::string& result) {
  Stmt q(db_, std::string("SELECT ") + kHistoryColumns +
                  " FROM history WHERE result = ? ORDER BY id DESC LIMIT 1");
  HASYNC_RETURN_IF_ERROR(q.ok("history"));
  q.Bind(1, result);
  if (q.Step() != SQLITE_ROW) return std::optional<HistoryRow>();
  return std::optional<HistoryRow>(ReadHistory(q));
}

Result<std::vector<std::pair<std::string, int64_t>>> NodeState::ResultCounts() {
  Stmt q(db_, "SELECT result, count(*) FROM history GROUP BY result ORDER BY result");
  HASYNC_RETURN_IF_ERROR(q.ok("history"));
  std::vector<std::pair<std::string, int64_t>> out;
  while (q.Step() == SQLITE_ROW) out.emplace_back(q.Text(0), q.Int(1));
  return out;
}

Status NodeState::RecordServed(const std::string& peer, const std::string& address) {
  Stmt u(db_,
         "INSERT INTO served (peer, address, last_sync) VALUES (?, ?, ?) ON CONFLICT (peer) DO "
         "UPDATE SET address = excluded.address, last_sync = excluded.last_sync");
  u.Bind(1, peer).Bind(2, address).Bind(3, NowMs());
  if (u.Step() != SQLITE_DONE) return u.Err("served peers");
  return Status::Ok();
}

Result<std::vector<NodeState::Served>> NodeState::ServedPeers() {
  Stmt q(db_, "SELECT peer, address, last_sync FROM served ORDER BY last_sync DESC");
  HASYNC_RETURN_IF_ERROR(q.ok("served peers"));
  std::vector<Served> out;
  while (q.Step() == SQLITE_ROW) out.push_back({q.Text(0), q.Text(1), q.Int(2)});
  return out;
}

Status NodeState::AddEvent(const std::string& kind, const std::string& message) {
  Stmt i(db_, "INSERT INTO events (at, kind, message) VALUES (?, ?, ?)");
  i.Bind(1, NowMs()).Bind(2, kind).Bind(3, message);
  if (i.Step() != SQLITE_DONE) return i.Err("events");
  return Status::Ok();
}

Result<std::vector<EventRow>> NodeState::Events(int limit) {
  Stmt q(db_, std::string("SELECT ") + kEventColumns + " FROM events ORDER BY id DESC LIMIT ?");
  HASYNC_RETURN_IF_ERROR(q.ok("events"));
  q.Bind(1, int64_t{limit});
  std::vector<EventRow> out;
  while (q.Step() == SQLITE_ROW) out.push_back(ReadEvent(q));
  return out;
}

Result<std::vector<EventRow>> NodeState::PendingEvents(int64_t now_ms, int limit) {
  Stmt q(db_, std::string("SELECT ") + kEventColumns +
                  " FROM events WHERE (email_state = 'pending' OR command_state = 'pending') "
                  "AND next_try <= ? ORDER BY id LIMIT ?");
  HASYNC_RETURN_IF_ERROR(q.ok("events"));
  q.Bind(1, now_ms).Bind(2, int64_t{limit});
  std::vector<EventRow> out;
  while (q.Step() == SQLITE_ROW) out.push_back(ReadEvent(q));
  return out;
}

Status NodeState::SetDelivery(int64_t id, const std::string& email_state,
                              const std::string& command_state, int64_t attempts,
                              int64_t next_try_ms) {
  Stmt u(db_,
         "UPDATE events SET email_state = ?, command_state = ?, attempts = ?, next_try = ? "
         "WHERE id = ?");
  u.Bind(1, email_state).Bind(2, command_state).Bind(3, attempts).Bind(4, next_try_ms).Bind(5, id);
  if (u.Step() != SQLITE_DONE) return u.Err("events");
  return Status::Ok();
}

Status NodeState::ExpirePending(int64_t cutoff_ms) {
  Stmt u(db_,
         "UPDATE events SET email_state = CASE email_state WHEN 'pending' THEN 'expired' ELSE "
         "email_state END, command_state = CASE command_state WHEN 'pending' THEN 'expired' "
         "ELSE command_state END WHERE at < ? AND (email_state = 'pending' OR command_state = "
         "'pending')");
  u.Bind(1, cutoff_ms);
  if (u.Step() != SQLITE_DONE) return u.Err("events");
  return Status::Ok();
}

}  // namespace hasync::engine
