// The heartbeat and the fail-over policy (the guide's Fail Over Controls), driven by whoever owns
// the clock (the daemon, or a test with a fake one).
//
// On a Secondary in Standby with HA enabled: check the Primary every heartbeat interval (ssh and
// its serve side's hello; a Primary whose hello says it does not serve, its daemon dead or hung,
// fails the check as a dead one does; one draining on purpose passes it); after a
// failure re-check every re-check interval; after `failures` consecutive failures (and, when a
// witness is configured, the witness failing too) act once: promote (as `failover mode
// primary`) or keep in Standby (events and notifications only). A success resets the count.
// Promotion is never undone here (invariant 6).
//
// On a Primary (or an Active node): check the peer every heartbeat interval for the split-brain
// guard: a peer that is Primary too, in a generation descending from this node's or in a
// diverged one started later, supersedes this node (its status pages fail, an event says why).
#pragma once

#include <cstdint>
#include <functional>
#include <string>

#include "common/status.h"
#include "engine/state/node_state.h"
#include "engine/wire/protocol.h"

namespace hasync::engine {

struct HeartbeatPolicy {
  int64_t interval_ms = 10000;
  int64_t recheck_ms = 5000;
  int failures = 3;
  bool promote = true;  // false: Keep in Standby
};

class Heartbeat {
 public:
  struct Hooks {
    std::function<Result<NodeInfo>()> state;
    std::function<Result<Hello>()> probe;  // the peer's hello, or why it could not be had
    // When a witness is configured: does it still see the Primary alive? (null: no witness)
    std::function<bool()> witness_sees_primary;
    // With [failover] etcd: may this node take over now? Ok once it won etcd's leader key; else
    // why not (the Primary's lease is alive, another node won, etcd unreachable). Null: no etcd.
    std::function<Status()> arbiter;
    std::function<Status(const std::string& why)> promote;
    std::function<Status(const std::string& reason)> supersede;
    std::function<void(const std::string& kind, const std::string& message)> event;
  };
  Heartbeat(std::string peer, HeartbeatPolicy policy, Hooks hooks)
      : peer_(std::move(peer)), policy_(policy), hooks_(std::move(hooks)) {}

  // Runs the check that is due at now_ms, if any. Returns when it wants to be called next.
  int64_t Tick(int64_t now_ms);
  int failures() const { return failures_; }
  bool detected() const { return detected_; }

 private:
  int64_t CheckPrimary(int64_t now_ms);
  int64_t WatchPeer(const NodeInfo& me, int64_t now_ms);

  std::string peer_;
  HeartbeatPolicy policy_;
  Hooks hooks_;
  int64_t next_ = 0;
  int failures_ = 0;
  bool detected_ = false;     // acted on this outage already
  bool draining_ = false;     // the Primary said it drains on purpose (an event once)
  std::string peer_verdict_;  // the last split-brain finding, so each is an event once
  std::string arbiter_said_;  // the last refusal of etcd's arbiter, so each is an event once
};

}  // namespace hasync::engine
