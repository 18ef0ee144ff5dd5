// The leader key's life on each node. Every etcd call is bounded by the lease's retry time, so
// the lease loop never outlives the margin LeaderLease keeps.
#include "engine/node/etcd_leader.h"

#include <nlohmann/json.hpp>

#include "common/log.h"

namespace hasync::engine {
namespace {

std::string MemberValue(int64_t last_sync_ms, int priority) {
  return nlohmann::json{{"last_sync_ms", last_sync_ms}, {"priority", priority}}.dump();
}

struct Member {
  std::string name;
  int64_t last_sync_ms = 0;
  int priority = 0;
};

// A member record a peer wrote; a damaged one reads as the least up to date.
Member ReadMember(const std::string& name, const std::string& value) {
  Member m{.name = name};
  auto j = nlohmann::json::parse(value, nullptr, false);
  if (j.is_object()) {
    if (j.contains("last_sync_ms") && j["last_sync_ms"].is_number_integer()) {
      m.last_sync_ms = j["last_sync_ms"].get<int64_t>();
    }
    if (j.contains("priority") && j["priority"].is_number_integer()) {
      m.priority = j["priority"].get<int>();
    }
  }
  return m;
}

// Which of two Secondaries should take over: the later last successful sync, then the higher
// priority, then the smaller name (so exactly one is preferred).
bool Better(const Member& a, const Member& b) {
  if (a.last_sync_ms != b.last_sync_ms) return a.last_sync_ms > b.last_sync_ms;
  if (a.priority != b.priority) return a.priority > b.priority;
  return a.name < b.name;
}

std::string MembersPrefix(const Settings& s) {
  return s.failover.etcd_prefix + s.failover.cluster + "/members/";
}

}  // namespace

Result<std::unique_ptr<EtcdLeader>> EtcdLeader::Create(const Settings& s) {
  if (s.failover.etcd.empty()) return std::unique_ptr<EtcdLeader>();
  HASYNC_ASSIGN_OR_RETURN(
      auto client,
      EtcdClient::Create(s.failover.etcd, static_cast<int>(s.failover.etcd_retry_ms())));
  return std::unique_ptr<EtcdLeader>(new EtcdLeader(s, std::move(client)));
}

EtcdLeader::EtcdLeader(const Settings& s, std::unique_ptr<EtcdClient> client)
    : s_(s),
      client_(std::move(client)),
      member_key_(MembersPrefix(s) + s.node_name),
      lease_(DeriveLeaseTiming(s.failover.lease_ttl_s)) {}

// Once per kind in a row: etcd's error texts vary from call to call (timings), and the lease loop
// steps several times a second while etcd is down.
void EtcdLeader::Say(NodeState& state, const std::string& kind, const std::string& message) {
  if (kind == said_) return;
  said_ = kind;
  Log("etcd")->warn("{}", message);
  (void)state.AddEvent(kind, message);
}

EtcdLeader::Clock::time_point EtcdLeader::Step(const NodeInfo& me, NodeState& state) {
  std::lock_guard<std::mutex> io(io_mu_);
  bool promoting =
      acquired_at_ != Clock::time_point{} && Clock::now() - acquired_at_ < lease_.timing().ttl;
  // Never sooner than 200 ms: a call that fails at once must not spin against etcd.
  Clock::time_point soon = Clock::now() + std::chrono::milliseconds(200);
  if (me.maintenance) {
    if (lease_id_ != 0 && !promoting) Release("this node is a maintenance Primary");
  } else if (me.serving() || promoting) {
    if (me.serving()) acquired_at_ = {};
    StepPrimary(me, state);
    if (lease_.held()) return std::max(soon, lease_.NextRenew());
  } else {
    if (lease_id_ != 0) Release("this node is no longer Primary");
    StepMember(state);
  }
  return std::max(soon, Clock::now() + std::min<std::chrono::milliseconds>(
                                           lease_.timing().loop_wait, std::chrono::seconds(1)));
}

Result<bool> EtcdLeader::Take(NodeState& state) {
  // A key another node holds: no lease granted (and revoked) for nothing at every step.
  HASYNC_ASSIGN_OR_RETURN(auto current, client_->Get(s_.failover.leader_key()));
  if (current.has_value() && current->value != s_.node_name) {
    Update([&] { holder_ = current->value; });
    return false;
  }
  Clock::time_point sent = Clock::now();
  HASYNC_ASSIGN_OR_RETURN(int64_t lease, client_->Grant(s_.failover.lease_ttl_s));
  auto created = client_->CreateIfAbsent(s_.failover.leader_key(), s_.node_name, lease);
  if (!created.ok() || !created->won) {
    (void)client_->Revoke(lease);
    if (!created.ok()) return created.status();
    Update([&] { holder_ = created->kv.value; });
    return false;
  }
  lease_id_ = lease;
  Update([&] {
    free_since_ = {};
    epoch_ = created->kv.create_revision;
    holder_ = s_.node_name;
    lease_.Renewed(sent, s_.failover.lease_ttl_s);
  });
  HASYNC_RETURN_IF_ERROR(state.AdoptEpoch(epoch_));
  return true;
}

void EtcdLeader::StepPrimary(const NodeInfo& me, NodeState& state) {
  if (lease_id_ != 0 && me.epoch < epoch_) {
    (void)state.AdoptEpoch(epoch_);  // a promotion whose epoch could not be recorded yet
  }
  if (lease_id_ != 0) {
    Clock::time_point sent = Clock::now();
    auto ttl = client_->KeepAlive(lease_id_);
    if (!ttl.ok()) {
      Update([&] { problem_ = ttl.status().message(); });
      if (!lease_.MayServe(Clock::now())) {
        Say(state, "etcd-lease-lost",
            "the leader lease could not be renewed (" + problem_ +
                "): this node stops serving before its lease can expire (no failsafe mode)");
      }
      return;
    }
    Update([&] { problem_.clear(); });
    if (*ttl == 0) {
      Release("the leader lease expired at etcd");
    } else {
      // The lease lives; is the key still on it? (Deleted by hand, or taken: then this node no
      // longer leads, whatever its lease says.)
      auto key = client_->Get(s_.failover.leader_key());
      if (!key.ok() || (key->has_value() && (*key)->lease == lease_id_)) {
        Update([&] { lease_.Renewed(sent, *ttl); });
        return;
      }
      Release("etcd's leader key is no longer on this node's lease");
    }
  }
  // No lease: take the key, or find who holds it.
  auto won = Take(state);
  if (!won.ok()) {
    Update([&] { problem_ = won.status().message(); });
    Say(state, "etcd-lease-lost",
        "etcd cannot be reached (" + problem_ +
            "): this node does not hold the leader key and does not "
            "serve");
    return;
  }
  Update([&] { problem_.clear(); });
  if (*won) {
    Say(state, "etcd-leader",
        "this node holds etcd's leader key (epoch " + std::to_string(epoch_) + ", lease " +
            std::to_string(s_.failover.lease_ttl_s) + " s)");
    return;
  }
  if (holder_ == s_.node_name) {
    // A key of this node's last run, on a lease that run can no longer renew: let it go now
    // rather than wait out the TTL (its epoch ends; the next Take starts a new one).
    (void)client_->DeleteIfValue(s_.failover.leader_key(), s_.node_name);
    return;
  }
  (void)me;
  Say(state, "etcd-not-leader",
      "etcd's leader key is held by " + Printable(holder_) +
          ": this node is Primary but does not serve (another node took over; run `failover "
          "mode secondary` and sync from it)");
}

void EtcdLeader::StepMember(NodeState& state) {
  auto last = state.Last("ok");
  int64_t last_ms = last.ok() && last->has_value() ? (*last)->finished : 0;
  if (member_lease_ != 0) {
    auto ttl = client_->KeepAlive(member_lease_);
    if (!ttl.ok()) {
      Update([&] { problem_ = ttl.status().message(); });
      return;
    }
    if (*ttl == 0) member_lease_ = 0;
  }
  if (member_lease_ == 0) {
    auto lease = client_->Grant(s_.failover.lease_ttl_s);
    if (!lease.ok()) {
      Update([&] { problem_ = lease.status().message(); });
      return;
    }
    member_lease_ = *lease;
  }
  Status put = client_->Put(member_key_, MemberValue(last_ms, s_.failover.priority), member_lease_);
  Update([&] { problem_ = put.ok() ? "" : put.message(); });
  auto leader = client_->Get(s_.failover.leader_key());
  if (!leader.ok()) return;
  Update([&] {
    holder_ = leader->has_value() ? (*leader)->value : "";
    if (!holder_.empty()) {
      free_since_ = {};
      deferring_since_ = {};
    } else if (free_since_ == Clock::time_point{}) {
      free_since_ = Clock::now();
    }
  });
}

bool EtcdLeader::LeaderMissing() const {
  std::lock_guard<std::mutex> lock(mu_);
  // The key's absence already proves the lease expired (or the key was deleted): a loop wait
  // of it is enough, not a whole TTL more.
  return free_since_ != Clock::time_point{} &&
         Clock::now() - free_since_ > lease_.timing().loop_wait;
}

void EtcdLeader::Shutdown() {
  std::lock_guard<std::mutex> io(io_mu_);
  if (lease_id_ != 0) Release("the daemon stops");
}

void EtcdLeader::Release(const std::string& why) {
  Log("etcd")->info("releasing the leader key: {}", why);
  if (lease_id_ != 0) (void)client_->Revoke(lease_id_);
  lease_id_ = 0;
  Update([&] { lease_.Lost(); });
}

std::string EtcdLeader::NotServing(const NodeInfo& me, Clock::time_point now) const {
  std::lock_guard<std::mutex> lock(mu_);
  if (me.maintenance || lease_.MayServe(now)) return "";
  if (!holder_.empty() && holder_ != s_.node_name) {
    return "etcd's leader key is held by " + holder_ + ", not this node";
  }
  if (!problem_.empty()) return "the etcd leader lease is not held or not renewed: " + problem_;
  return "this node does not hold etcd's leader key (yet)";
}

EtcdLeader::View EtcdLeader::Look(Clock::time_point now) const {
  std::lock_guard<std::mutex> lock(mu_);
  return {lease_.MayServe(now), epoch_, holder_, problem_};
}

Status EtcdLeader::JudgeSource(const Hello& source) const {
  HASYNC_ASSIGN_OR_RETURN(auto leader, client_->Get(s_.failover.leader_key()));
  if (!leader.has_value()) {
    return Status(Code::kGeneration, "no node holds etcd's leader key now: not syncing from " +
                                         Printable(source.node_name) + " until one does");
  }
  if (leader->value != source.node_name || leader->create_revision != source.epoch) {
    return Status(
        Code::kGeneration,
        "the source " + Printable(source.node_name) + " (epoch " + std::to_string(source.epoch) +
            ") is not etcd's leader: " + Printable(leader->value) + " holds the key (epoch " +
            std::to_string(leader->create_revision) + "); sync from it");
  }
  return Status::Ok();
}

Result<int64_t> EtcdLeader::TryAcquire(NodeState& state) {
  std::lock_guard<std::mutex> io(io_mu_);
  HASYNC_ASSIGN_OR_RETURN(auto leader, client_->Get(s_.failover.leader_key()));
  if (leader.has_value()) {
    Update([&] { holder_ = leader->value; });
    deferring_since_ = {};
    return Status(Code::kBusy, "etcd's leader key is still held by " + Printable(leader->value) +
                                   " (epoch " + std::to_string(leader->create_revision) +
                                   "): its lease is alive, so no fail-over");
  }
  // The most up-to-date Secondary goes first; a better one that does not take the key within a
  // lease TTL is passed over.
  HASYNC_ASSIGN_OR_RETURN(auto records, client_->GetPrefix(MembersPrefix(s_)));
  auto last = state.Last("ok");
  Member me{.name = s_.node_name,
            .last_sync_ms = last.ok() && last->has_value() ? (*last)->finished : 0,
            .priority = s_.failover.priority};
  const std::string prefix = MembersPrefix(s_);
  for (const EtcdKv& kv : records) {
    Member other = ReadMember(kv.key.substr(prefix.size()), kv.value);
    if (other.name == me.name || !Better(other, me)) continue;
    Clock::time_point now = Clock::now();
    if (deferring_since_ == Clock::time_point{}) deferring_since_ = now;
    if (now - deferring_since_ < lease_.timing().ttl) {
      return Status(Code::kBusy, "the Secondary " + Printable(other.name) +
                                     " is more up to date (or preferred): it takes over first");
    }
  }
  HASYNC_ASSIGN_OR_RETURN(bool won, Take(state));
  if (!won) {
    return Status(Code::kBusy, Printable(holder_) +
                                   " won etcd's leader key first: it is the new "
                                   "Primary; this node stays Standby");
  }
  deferring_since_ = {};
  acquired_at_ = Clock::now();
  return epoch_;
}

}  // namespace hasync::engine
