// The leader lease's rule: the holder stops serving strictly before etcd can let its key go.
#include "engine/node/leader_lease.h"

#include <gtest/gtest.h>

namespace hasync::engine {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

TEST(LeaderLeaseTest, TimingFollowsPatronisRule) {
  LeaseTiming t = DeriveLeaseTiming(30);
  EXPECT_EQ(t.ttl, seconds(30));
  EXPECT_EQ(t.loop_wait, seconds(10));  // Patroni's defaults for ttl 30
  EXPECT_EQ(t.retry, seconds(10));
  for (int64_t ttl = 1; ttl <= 3600; ++ttl) {
    LeaseTiming d = DeriveLeaseTiming(ttl);
    EXPECT_LE(d.loop_wait + 2 * d.retry, d.ttl) << ttl;
    EXPECT_GT(d.loop_wait.count(), 0) << ttl;
    EXPECT_GT(d.retry.count(), 0) << ttl;
  }
}

TEST(LeaderLeaseTest, NotHeldUntilRenewed) {
  LeaderLease l(DeriveLeaseTiming(30));
  EXPECT_FALSE(l.held());
  EXPECT_FALSE(l.MayServe(LeaderLease::TimePoint{} + seconds(1)));
}

TEST(LeaderLeaseTest, ServesStrictlyBeforeTtlMinusMargin) {
  LeaderLease l(DeriveLeaseTiming(30));
  LeaderLease::TimePoint sent = LeaderLease::TimePoint{} + seconds(1000);
  l.Renewed(sent, 30);
  EXPECT_TRUE(l.MayServe(sent));
  EXPECT_EQ(l.ServeUntil(), sent + seconds(20));  // 30 s ttl - 10 s margin
  EXPECT_TRUE(l.MayServe(sent + seconds(20) - milliseconds(1)));
  EXPECT_FALSE(l.MayServe(sent + seconds(20)));  // strictly before
  EXPECT_FALSE(l.MayServe(sent + seconds(30)));  // etcd may have let it go
  EXPECT_EQ(l.NextRenew(), sent + seconds(10));
}

TEST(LeaderLeaseTest, RenewalMovesTheWindowFromWhenItWasSent) {
  LeaderLease l(DeriveLeaseTiming(30));
  auto t0 = LeaderLease::TimePoint{} + seconds(1000);
  l.Renewed(t0, 30);
  l.Renewed(t0 + seconds(10), 30);
  EXPECT_TRUE(l.MayServe(t0 + seconds(29)));
  EXPECT_FALSE(l.MayServe(t0 + seconds(30)));
  EXPECT_EQ(l.NextRenew(), t0 + seconds(20));
}

TEST(LeaderLeaseTest, LateAnswerToAnOlderRenewalChangesNothing) {
  LeaderLease l(DeriveLeaseTiming(30));
  auto t0 = LeaderLease::TimePoint{} + seconds(1000);
  l.Renewed(t0 + seconds(10), 30);
  l.Renewed(t0, 30);
  EXPECT_EQ(l.ServeUntil(), t0 + seconds(30));
}

TEST(LeaderLeaseTest, ShorterTtlFromEtcdIsBelievedLongerIsNot) {
  LeaderLease l(DeriveLeaseTiming(30));
  auto t0 = LeaderLease::TimePoint{} + seconds(1000);
  l.Renewed(t0, 15);
  EXPECT_EQ(l.ServeUntil(), t0 + seconds(5));
  l.Renewed(t0 + seconds(1), 60);
  EXPECT_EQ(l.ServeUntil(), t0 + seconds(21));
}

TEST(LeaderLeaseTest, ZeroTtlOrLostStopsServing) {
  LeaderLease l(DeriveLeaseTiming(30));
  auto t0 = LeaderLease::TimePoint{} + seconds(1000);
  l.Renewed(t0, 30);
  l.Renewed(t0 + seconds(1), 0);  // KeepAlive: the lease is gone
  EXPECT_FALSE(l.MayServe(t0 + seconds(2)));
  l.Renewed(t0 + seconds(3), 30);
  EXPECT_TRUE(l.MayServe(t0 + seconds(4)));
  l.Lost();
  EXPECT_FALSE(l.MayServe(t0 + seconds(4)));
}

}  // namespace
}  // namespace hasync::engine
