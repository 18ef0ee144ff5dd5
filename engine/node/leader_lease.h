// LeaderLease: the rule by which the Primary holding etcd's leader key (issue 16) knows whether
// it may still serve. Pure: it is told the times, it reads no clock and does no I/O, so every
// case is a unit test (tests/unit/engine/node/leader_lease_test.cc).
//
// etcd starts a lease's TTL again when it processes a keepalive, which is after this node sent
// it; so a keepalive sent at t that succeeded keeps the key at etcd until t + ttl at the
// earliest. The holder serves only while now < last_renew_sent + ttl - margin: it stops before
// etcd can have let the key go and another node taken it, by a margin (the request timeout) that
// covers a renewal that is slow to be answered and the two clocks' rates. It renews every
// loop_wait (Patroni's rule: loop_wait + 2 x retry <= ttl, so two timed-out tries still fit
// before the margin).
#pragma once

#include <chrono>
#include <cstdint>

namespace hasync::engine {

// The three times of the lease, derived from [failover] lease_ttl.
struct LeaseTiming {
  std::chrono::milliseconds ttl;        // the lease's TTL at etcd
  std::chrono::milliseconds loop_wait;  // between renewals: ttl / 3
  std::chrono::milliseconds
      retry;  // one etcd call's timeout, and the margin: (ttl - loop_wait) / 2
};

// loop_wait = ttl / 3 and retry = (ttl - loop_wait) / 2, so loop_wait + 2 x retry <= ttl holds
// (30 s gives Patroni's defaults: 10 s and 10 s). REQUIRES: lease_ttl_s >= 1.
LeaseTiming DeriveLeaseTiming(int64_t lease_ttl_s);

// Not thread-safe: one owner (the thread that renews) asks and tells it.
class LeaderLease {
 public:
  using TimePoint = std::chrono::steady_clock::time_point;

  explicit LeaderLease(LeaseTiming timing) : timing_(timing) {}

  // The grant or a keepalive sent at sent_at succeeded, etcd saying the lease now has
  // remaining_ttl_s seconds. A TTL of 0 (KeepAlive's "the lease is gone") is Lost(); an answer
  // to a renewal older than the last one counted changes nothing; a TTL shorter than the
  // configured one is believed, a longer one is not (the holder stops early, never late).
  void Renewed(TimePoint sent_at, int64_t remaining_ttl_s);
  // The lease is gone (revoked, expired, or the key taken): serve no more until renewed.
  void Lost() { held_ = false; }

  // Whether the holder may serve at now: strictly before ServeUntil().
  bool MayServe(TimePoint now) const { return held_ && now < ServeUntil(); }
  // The last renewal sent + the TTL etcd gave (at most the configured one) - the margin.
  TimePoint ServeUntil() const;
  // When to send the next keepalive: loop_wait after the last one sent.
  TimePoint NextRenew() const { return last_sent_ + timing_.loop_wait; }
  bool held() const { return held_; }
  const LeaseTiming& timing() const { return timing_; }

 private:
  LeaseTiming timing_;
  bool held_ = false;
  TimePoint last_sent_{};
  std::chrono::milliseconds ttl_{0};  // what etcd said at the last renewal, at most timing_.ttl
};

}  // namespace hasync::engine
