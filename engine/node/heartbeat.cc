// The heartbeat's state machine. Each check is logged under the "heartbeat" module (the guide's
// Step 7 task 5: an operator must be able to see the heartbeat activity).
#include "engine/node/heartbeat.h"

#include "common/log.h"

namespace hasync::engine {

int64_t Heartbeat::Tick(int64_t now_ms) {
  if (now_ms < next_) return next_;
  auto me = hooks_.state();
  if (!me.ok()) {
    Log("heartbeat")->error("reading the node state: {}", me.status().message());
    return next_ = now_ms + policy_.interval_ms;
  }
  if (me->mode == Mode::kPrimary || me->status == NodeStatus::kActive) {
    failures_ = 0;
    detected_ = false;
    return next_ = WatchPeer(*me, now_ms);
  }
  if (!me->ha_enabled) {  // HA disabled: no heartbeat, no fail-over
    failures_ = 0;
    detected_ = false;
    return next_ = now_ms + policy_.interval_ms;
  }
  return next_ = CheckPrimary(now_ms);
}

int64_t Heartbeat::CheckPrimary(int64_t now_ms) {
  auto log = Log("heartbeat");
  auto peer = hooks_.probe();
  if (peer.ok() && peer->primary && peer->health == NodeHealth::kNotServing) {
    // ssh and its serve side answer, but the load balancer's page does not: as failed a
    // Primary for the clients as one that is down (issue 16).
    peer =
        Status(Code::kPeer, "it answers ssh but does not serve: " + Printable(peer->health_detail));
  }
  if (peer.ok()) {
    if (peer->health == NodeHealth::kDraining && !draining_) {
      hooks_.event("peer-draining", "the Primary " + peer_ + " is draining on purpose (" +
                                        Printable(peer->health_detail) +
                                        "): not a failure, no fail-over");
    }
    draining_ = peer->health == NodeHealth::kDraining;
    if (failures_ > 0) {
      hooks_.event("heartbeat-restored", "the Primary " + peer_ + " answers again after " +
                                             std::to_string(failures_) + " failed checks");
    }
    failures_ = 0;
    detected_ = false;
    log->info("{} ({}) alive: {} {}, generation {}{}", peer_, peer->node_name,
              peer->primary ? "Primary" : "Secondary", peer->active ? "Active" : "Standby",
              DescribeGeneration(peer->lineage),
              peer->health == NodeHealth::kUnknown
                  ? std::string()
                  : std::string(", ") + NodeHealthName(peer->health));
    if (!peer->primary) {
      log->warn("{} answers but is not in Primary mode: check [secondary] primary", peer_);
    }
    return now_ms + policy_.interval_ms;
  }
  ++failures_;
  log->warn("{} failed check {}/{}: {}", peer_, failures_, policy_.failures,
            peer.status().message());
  if (failures_ == 1) {
    hooks_.event("heartbeat-lost", "the Primary " + peer_ +
                                       " did not answer the heartbeat: " + peer.status().message());
  }
  if (failures_ >= policy_.failures && !detected_) {
    if (hooks_.witness_sees_primary && hooks_.witness_sees_primary()) {
      // A network split, not a dead Primary: promoting would make two Primaries.
      log->warn("the witness still reaches the Primary: not failing over");
      hooks_.event("witness-sees-primary",
                   "the Primary " + peer_ + " failed " + std::to_string(failures_) +
                       " heartbeats but the witness still reaches it: not failing over (a "
                       "network split between the two nodes?)");
      return now_ms + policy_.recheck_ms;
    }
    if (policy_.promote && hooks_.arbiter) {
      Status a = hooks_.arbiter();
      if (!a.ok()) {
        log->warn("not failing over: {}", a.message());
        if (a.message() != arbiter_said_) {
          hooks_.event("etcd-no-failover", "the Primary " + peer_ + " failed " +
                                               std::to_string(failures_) +
                                               " heartbeats, and etcd says: " + a.message());
        }
        arbiter_said_ = a.message();
        return now_ms + policy_.recheck_ms;
      }
    }
    arbiter_said_.clear();
    detected_ = true;
    std::string why = "the Primary " + peer_ + " failed " + std::to_string(failures_) +
                      " consecutive heartbeats (last: " + peer.status().message() + ")";
    if (policy_.promote) {
      hooks_.event("failure-detected", why + "; If Failure Detected is Promote to Primary");
      Status st = hooks_.promote(why);
      if (!st.ok()) log->error("promotion failed: {}", st.message());
    } else {
      hooks_.event("failure-detected",
                   why + "; If Failure Detected is Keep in Standby: this node stays Standby");
    }
  }
  return now_ms + policy_.recheck_ms;
}

int64_t Heartbeat::WatchPeer(const NodeInfo& me, int64_t now_ms) {
  auto log = Log("heartbeat");
  if (peer_.empty()) return now_ms + policy_.interval_ms;
  auto peer = hooks_.probe();
  if (!peer.ok()) {
    log->debug("peer {} not reachable: {}", peer_, peer.status().message());
    return now_ms + policy_.interval_ms;
  }
  bool peer_serves = (peer->primary || peer->active) && !peer->superseded;
  std::string verdict;
  if (peer_serves) {
    switch (CompareGenerations(me.lineage, peer->lineage)) {
      case GenerationVerdict::kNewer:
        verdict = "newer";
        break;
      case GenerationVerdict::kDiverged: {
        // Both Primary from a common past: the generation started later is the one clients
        // moved to; the other steps aside (and says so) rather than both serving.
        bool peer_later = !me.lineage.empty() && !peer->lineage.empty() &&
                          peer->lineage.back().at_ms > me.lineage.back().at_ms;
        verdict = peer_later || me.lineage.empty() ? "diverged-peer-later" : "diverged-mine-later";
        break;
      }
      case GenerationVerdict::kSame:
        // A maintenance Primary (made Primary with HA disabled there, as the upgrade procedure
        // does): it started no generation, so nothing changes here.
        verdict = "same";
        break;
      default:
        verdict = "older";  // the peer is an old Primary that came back; it steps aside itself
        break;
    }
  }
  const std::string& name = peer->node_name;
  log->info("peer {}: {} {}, generation {}", name, peer->primary ? "Primary" : "Secondary",
            peer->active ? "Active" : "Standby", DescribeGeneration(peer->lineage));
  if (verdict == peer_verdict_) return now_ms + policy_.interval_ms;
  peer_verdict_ = verdict;
  std::string theirs = name + " is Primary in generation " + DescribeGeneration(peer->lineage) +
                       ", this node in generation " + DescribeGeneration(me.lineage);
  if (verdict == "newer" || verdict == "diverged-peer-later") {
    std::string reason =
        (verdict == "newer" ? "superseded: " : "split brain: ") + theirs +
        (verdict == "newer" ? " (promoted from this node's data)"
                            : " (diverged; theirs is later)") +
        ". This node must not take traffic: run `failover mode secondary` and `failover sync " +
        peer_ + "` to follow it, or `failover mode primary` here to take the role back";
    log->error("{}", reason);
    Status st = hooks_.supersede(reason);
    if (!st.ok()) log->error("recording it: {}", st.message());
  } else if (verdict == "diverged-mine-later") {
    hooks_.event("split-brain", "split brain: " + theirs +
                                    " (diverged; this node's is later: it keeps serving, the "
                                    "peer steps aside)");
  } else if (verdict == "same") {
    hooks_.event("peer-maintenance",
                 theirs + " (the same: a maintenance Primary, which does not take over)");
  } else if (verdict == "older") {
    hooks_.event("old-primary-returned", theirs + " (older): it steps aside by itself");
  }
  return now_ms + policy_.interval_ms;
}

}  // namespace hasync::engine
