// The daemon's side of [failover] etcd (issue 16): etcd, not the pair's own heartbeat, decides
// who is Primary. Three users, one object (thread-safe):
//   - the lease loop (Step, its own daemon thread): on a Primary, hold the leader key
//     (<prefix><cluster>/leader, its value the node name) on a lease and renew it every
//     loop_wait; on a Secondary, publish a member record (its last successful sync and
//     priority) on a lease, so several Secondaries can tell which is the most up to date;
//   - the status pages (NotServing): a Primary serves only while LeaderLease says its lease is
//     valid (it stops before etcd can let the key go: no failsafe mode), and not at all while
//     another node holds the key;
//   - the heartbeat (TryAcquire): a Secondary whose Primary failed its checks promotes only by
//     winning the key after the Primary's lease expired, deferring (for at most one lease TTL) to
//     a more up-to-date member. The key's create revision is the fencing epoch: recorded in the
//     node state, carried in hello, and a source of an older one is never synced from.
#pragma once

#include <chrono>
#include <memory>
#include <mutex>
#include <string>

#include "common/status.h"
#include "engine/config/settings.h"
#include "engine/node/etcd.h"
#include "engine/node/leader_lease.h"
#include "engine/state/node_state.h"
#include "engine/wire/protocol.h"

namespace hasync::engine {

class EtcdLeader {
 public:
  using Clock = std::chrono::steady_clock;
  // nullptr when [failover] etcd is not set.
  static Result<std::unique_ptr<EtcdLeader>> Create(const Settings& s);

  // One step of the lease loop for the node as it is now; returns when to step again.
  Clock::time_point Step(const NodeInfo& me, NodeState& state);
  // "" when etcd lets this node serve; else why not, for the status pages. A maintenance Primary
  // (the upgrade procedure's, HA disabled) neither holds the key nor is gated by it.
  std::string NotServing(const NodeInfo& me, Clock::time_point now) const;
  // The Secondary's question when its Primary failed: the epoch won, or why this node must not
  // promote (kBusy: the key is held, or a better member goes first; kUnreachable: no etcd).
  Result<int64_t> TryAcquire(NodeState& state);
  // Fencing for the scheduled sync: kGeneration unless the source is the leader key's holder in
  // the key's epoch (kUnreachable when etcd cannot say).
  Status JudgeSource(const Hello& source) const;
  // On a Secondary: etcd has had no leader key for a whole lease TTL (as the lease loop saw it):
  // the Primary lost its lease although it may still answer the heartbeat.
  bool LeaderMissing() const;
  // The daemon stops: a held key is released (revoked) so a Secondary need not wait it out.
  void Shutdown();
  // For /status.json and /metrics.
  struct View {
    bool lease_valid = false;
    int64_t epoch = 0;
    std::string holder;  // the leader key's node as last seen, "" when none
    std::string problem;
  };
  View Look(Clock::time_point now) const;

 private:
  EtcdLeader(const Settings& s, std::unique_ptr<EtcdClient> client);
  void StepPrimary(const NodeInfo& me, NodeState& state);
  void StepMember(NodeState& state);
  // Drops this node's hold on the key (a Secondary again, or the key taken): nothing serves.
  void Release(const std::string& why);
  // Takes the key on a fresh lease; true when won (epoch recorded). Called with mu_ held.
  Result<bool> Take(NodeState& state);
  void Say(NodeState& state, const std::string& kind, const std::string& message);

  // Writes the fields the pages read, briefly under mu_ (never across an etcd call).
  template <typename F>
  void Update(F f) {
    std::lock_guard<std::mutex> lock(mu_);
    f();
  }

  const Settings& s_;
  std::unique_ptr<EtcdClient> client_;
  std::string member_key_;
  // io_mu_ serialises the etcd side (Step, TryAcquire): they read the fields below without mu_
  // and write them through Update; the pages (NotServing, Look, LeaderMissing) take mu_ only.
  std::mutex io_mu_;
  mutable std::mutex mu_;
  LeaderLease lease_;
  int64_t lease_id_ = 0;  // the lease the leader key is on (0: none held)
  int64_t epoch_ = 0;     // its create revision
  std::string holder_;    // as last read
  std::string problem_;   // the last etcd failure, "" after a success
  int64_t member_lease_ = 0;
  Clock::time_point deferring_since_{};  // TryAcquire waiting for a better member
  Clock::time_point acquired_at_{};      // TryAcquire won: the promotion is under way
  Clock::time_point free_since_{};       // the lease loop found no leader key since
  std::string said_;                     // the last event's kind: each is recorded once in a row
};

}  // namespace hasync::engine
