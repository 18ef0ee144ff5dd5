// The node's own state (DESIGN.md: node-local, never replicated): HA enabled, mode, node status,
// generation, client connections, the sync history and the event log, in SQLite at
// <state_dir>/node.db. WAL journal mode and a busy timeout make the CLI and the daemon safe to
// use at once; every change is one transaction.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/status.h"
#include "engine/config/settings.h"
#include "engine/state/generation.h"

struct sqlite3;

namespace hasync::engine {

enum class Mode { kPrimary, kSecondary };
enum class NodeStatus { kStandby, kActive };
const char* ModeName(Mode m);              // "primary"
const char* NodeStatusName(NodeStatus s);  // "standby"

struct NodeInfo {
  bool ha_enabled = false;
  Mode mode = Mode::kSecondary;
  NodeStatus status = NodeStatus::kStandby;
  uint64_t generation = 0;  // lineage.back().number; 0: no data of any generation yet
  Lineage lineage;          // DESIGN.md invariant 8: every promotion starts a new generation
  bool client_connections = true;
  int64_t schedule_anchor = 0;  // unix seconds when the schedule was last saved
  // Set on a Primary that found its peer Primary too, in a newer or diverged generation: it
  // must not take traffic as if nothing happened (its status pages fail). Cleared by
  // `failover mode primary` (taking the role back) or `failover mode secondary`.
  std::string superseded;
  // A maintenance Primary: made Primary with HA disabled (the guide's upgrade makes the
  // Secondary Primary for a while to fetch the upgrade). It keeps its generation, so it neither
  // supersedes the real Primary nor makes the next sync from it a split brain; HA cannot be
  // enabled until it is a Secondary again or takes over for real.
  bool maintenance = false;
  // With [failover] etcd: the fencing epoch, the leader key's create revision when this node
  // (or the Primary its data came from) won it; never goes back. 0: none yet.
  int64_t epoch = 0;
  bool serving() const {
    return (mode == Mode::kPrimary || status == NodeStatus::kActive) && superseded.empty();
  }
};

// What a finished sync moved and how long it took: the part of a sync's summary
// (engine/session/pull.h's SyncSummary) that its Sync History row keeps. Both derive from it,
// so the row takes it in one assignment.
struct SyncTotals {
  double duration_s = 0;
  uint64_t bytes_wire = 0;     // both directions, as framed and compressed
  uint64_t bytes_changed = 0;  // file data received
  uint64_t files_changed = 0;  // created or updated (content, symlinks, links)
  uint64_t files_deleted = 0;
  std::string verified;  // the verification level that passed ("none": not checked)
};

// One row of the Sync History.
struct HistoryRow : SyncTotals {
  int64_t id = 0;
  std::string trigger;  // manual | failover | scheduled
  std::string peer;
  int64_t pid = 0;
  int64_t started = 0;  // unix ms
  int64_t finished = 0;
  std::string result;  // running | ok | failed | interrupted | skipped
  std::string error_code;
  std::string error;
  uint64_t db_changes = 0;
  bool db_full = false;
  std::string db_reason;
  std::string phases_json;  // {"connect and scan": 0.1, ...}
};

struct EventRow {
  int64_t id = 0;
  int64_t at = 0;  // unix ms
  std::string kind;
  std::string message;
  // Delivery to the notifiers (engine/notify.h): pending | sent | skipped | failed.
  std::string email_state;
  std::string command_state;
  int64_t attempts = 0;
};

class NodeState {
 public:
  // Opens (creating on first use, seeded from the settings' [ha]) and marks syncs whose
  // process is gone as interrupted.
  static Result<std::unique_ptr<NodeState>> Open(const Settings& s);
  ~NodeState();

  Result<NodeInfo> Get();
  // `failover mode primary` (HA enabled, or --take-over): Primary and Active, a new generation;
  // idempotent (ok, changed), except that a maintenance Primary takes over in a new generation.
  Result<bool> Promote(const std::string& why);
  // `failover mode primary` with HA disabled: Primary and Active in the same generation (a
  // maintenance Primary); kUsage when HA is enabled; false when already a Primary.
  Result<bool> EnterMaintenance(const std::string& why);
  // `failover mode secondary`: Secondary and Standby (no longer a maintenance Primary);
  // idempotent.
  Result<bool> Demote(const std::string& why);
  // After a committed sync: this node's data now descends from the source's lineage.
  Status AdoptLineage(const Lineage& source);
  // Raises the fencing epoch (a promotion through etcd, or a committed sync from a Primary of a
  // later one); a lower value changes nothing.
  Status AdoptEpoch(int64_t epoch);
  // A Primary that found its peer Primary in a newer or diverged generation (reason), or ""
  // when that is over. Returns whether it changed (an event is recorded when it did).
  Result<bool> SetSuperseded(const std::string& reason);
  Status SetHaEnabled(bool enabled);
  Status SetClientConnections(bool enabled);
  Status SetScheduleAnchor(int64_t unix_s);

  // fn's writes as one transaction (BEGIN IMMEDIATE ... COMMIT): one commit, so one fsync,
  // instead of one per statement. fn's own errors are its to handle; a failed COMMIT is
  // returned (and everything fn wrote is rolled back).
  Status InTransaction(const std::function<void()>& fn);
  Result<int64_t> BeginSync(const std::string& trigger, const std::string& peer);
  Status FinishSync(const HistoryRow& row);  // by row.id
  // A sync that did not start: another was running or the node may not sync ("skipped"), or
  // its peer could not be reached at all ("failed").
  Status RecordSkipped(const std::string& trigger, const std::string& peer, const Status& why,
                       const std::string& result = "skipped");
  Result<std::vector<HistoryRow>> History(int limit);
  Result<std::optional<HistoryRow>> Running();
  // The newest row with this result (e.g. the last successful sync), if any.
  Result<std::optional<HistoryRow>> Last(const std::string& result);
  // How many history rows each result has (for /metrics).
  Result<std::vector<std::pair<std::string, int64_t>>> ResultCounts();

  // On the serving side: `peer` (its node name, reached from `address`) committed a sync
  // from this node now. The guide's HA Status on a Primary shows these.
  Status RecordServed(const std::string& peer, const std::string& address);
  struct Served {
    std::string peer;
    std::string address;
    int64_t last_sync = 0;  // unix ms
  };
  Result<std::vector<Served>> ServedPeers();

  Status AddEvent(const std::string& kind, const std::string& message);
  Result<std::vector<EventRow>> Events(int limit);
  // The notifiers' outbox: events with a delivery still pending whose next try is due.
  Result<std::vector<EventRow>> PendingEvents(int64_t now_ms, int limit);
  Status SetDelivery(int64_t id, const std::string& email_state, const std::string& command_state,
                     int64_t attempts, int64_t next_try_ms);
  // Events older than cutoff still pending are not sent any more (a daemon starting after a
  // long stop does not mail yesterday's news): marked "expired".
  Status ExpirePending(int64_t cutoff_ms);

 private:
  NodeState(sqlite3* db, std::string node_name) : db_(db), node_name_(std::move(node_name)) {}
  Status Exec(const std::string& sql);
  Status Migrate();
  Status RecoverInterrupted();
  sqlite3* db_;
  std::string node_name_;
};

int64_t NowMs();

}  // namespace hasync::engine
