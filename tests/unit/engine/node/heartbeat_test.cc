// The heartbeat's fail-over policy and split-brain watch, driven by a fake clock and scripted
// probe results (the guide's Fail Over Controls).
#include "engine/node/heartbeat.h"

#include <gtest/gtest.h>

#include <deque>

namespace hasync::engine {
namespace {

struct Rig {
  NodeInfo me{.ha_enabled = true};
  std::deque<bool> script;  // probe results, in order; empty: alive
  Hello peer_hello{.node_name = "mdm-a", .primary = true, .active = true};
  std::vector<int64_t> probes;  // when each probe ran
  int64_t now = 0;
  int promotions = 0;
  std::vector<std::string> superseded;
  std::vector<std::string> events;
  bool witness_alive = false;
  bool with_witness = false;

  Heartbeat Make(HeartbeatPolicy p) {
    Heartbeat::Hooks h{
        .state = [this]() -> Result<NodeInfo> { return me; },
        .probe = [this]() -> Result<Hello> {
          probes.push_back(now);
          bool ok = true;
          if (!script.empty()) {
            ok = script.front();
            script.pop_front();
          }
          if (!ok) return Status(Code::kUnreachable, "connection refused");
          return peer_hello;
        },
        .witness_sees_primary = nullptr,
        .promote =
            [this](const std::string&) {
              ++promotions;
              me.mode = Mode::kPrimary;
              me.status = NodeStatus::kActive;
              return Status::Ok();
            },
        .supersede =
            [this](const std::string& r) {
              superseded.push_back(r);
              return Status::Ok();
            },
        .event = [this](const std::string& kind, const std::string&) { events.push_back(kind); }};
    if (with_witness) h.witness_sees_primary = [this] { return witness_alive; };
    return Heartbeat("mdm-a", p, h);
  }
  // Runs the heartbeat until `until`, calling it exactly when it asks.
  void RunUntil(Heartbeat& hb, int64_t until) {
    while (now < until) now = hb.Tick(now);
  }
  int Count(const std::string& kind) const {
    return static_cast<int>(std::count(events.begin(), events.end(), kind));
  }
};

constexpr HeartbeatPolicy kPolicy{
    .interval_ms = 10000, .recheck_ms = 5000, .failures = 3, .promote = true};

TEST(HeartbeatTest, ChecksEveryIntervalAndRechecksSoonerAfterAFailure) {
  Rig r;
  r.script = {true, false, true};
  Heartbeat hb = r.Make(kPolicy);
  r.RunUntil(hb, 30001);
  // 0 ok -> 10000 fails -> 15000 (re-check) ok -> 25000.
  EXPECT_EQ(r.probes, (std::vector<int64_t>{0, 10000, 15000, 25000}));
  EXPECT_EQ(r.Count("heartbeat-lost"), 1);
  EXPECT_EQ(r.Count("heartbeat-restored"), 1);
}

TEST(HeartbeatTest, FlappingBelowTheThresholdNeverPromotes) {
  Rig r;
  for (int i = 0; i < 50; ++i) {
    r.script.push_back(false);
    r.script.push_back(false);
    r.script.push_back(true);  // two failures, then a success resets the count
  }
  Heartbeat hb = r.Make(kPolicy);
  r.RunUntil(hb, 3600 * 1000);
  EXPECT_EQ(r.promotions, 0);
  EXPECT_EQ(r.Count("failure-detected"), 0);
  EXPECT_EQ(r.me.mode, Mode::kSecondary);
}

TEST(HeartbeatTest, ConsecutiveFailuresPromoteOnceAndNeverRevert) {
  Rig r;
  r.script = {true, false, false, false};  // then alive again: the old Primary returns
  Heartbeat hb = r.Make(kPolicy);
  r.RunUntil(hb, 10000 + 5000 + 5000 + 1);
  EXPECT_EQ(r.promotions, 1);
  EXPECT_EQ(r.Count("failure-detected"), 1);
  EXPECT_EQ(r.probes.back(), 20000) << "the third failure came a re-check interval after the 2nd";
  // The Primary answers again (as an old Primary of the older generation): this node stays
  // Primary (invariant 6), and the heartbeat only watches it now.
  r.peer_hello.lineage = StartGeneration({}, "mdm-a", 1);
  r.me.lineage = StartGeneration(r.peer_hello.lineage, "mdm-b", 2);
  r.RunUntil(hb, 3600 * 1000);
  EXPECT_EQ(r.promotions, 1);
  EXPECT_EQ(r.me.mode, Mode::kPrimary);
  EXPECT_TRUE(r.superseded.empty());
  EXPECT_EQ(r.Count("old-primary-returned"), 1) << "once, not every check";
}

// What the load balancer judges: a Primary that answers ssh, its daemon dead (its hello says
// not serving), is a failed Primary; one restarted in time is not.
TEST(HeartbeatTest, APrimaryThatAnswersSshButDoesNotServeIsFailedOver) {
  Rig r;
  r.peer_hello.health = NodeHealth::kNotServing;
  r.peer_hello.health_detail = "its hasync daemon is not running";
  Heartbeat hb = r.Make(kPolicy);
  r.RunUntil(hb, 5000 + 5000 + 1);  // checks at 0, 5000, 10000
  EXPECT_EQ(r.promotions, 1);
  EXPECT_EQ(r.Count("heartbeat-lost"), 1);
  EXPECT_EQ(r.Count("failure-detected"), 1);

  Rig back;
  back.peer_hello.health = NodeHealth::kNotServing;
  Heartbeat hb2 = back.Make(kPolicy);
  back.RunUntil(hb2, 5000 + 1);                   // two failed checks
  back.peer_hello.health = NodeHealth::kServing;  // systemd restarted the daemon
  back.RunUntil(hb2, 100 * 1000);
  EXPECT_EQ(back.promotions, 0);
  EXPECT_EQ(back.Count("heartbeat-restored"), 1);
}

// `failover client-connection disable` on the Primary: its page fails on purpose, the load
// balancer drops it, and the Secondary must not take over (the operator drains for maintenance).
TEST(HeartbeatTest, APrimaryDrainingOnPurposeIsNotAFailure) {
  Rig r;
  r.peer_hello.health = NodeHealth::kDraining;
  Heartbeat hb = r.Make(kPolicy);
  r.RunUntil(hb, 3600 * 1000);
  EXPECT_EQ(r.promotions, 0);
  EXPECT_EQ(hb.failures(), 0);
  EXPECT_EQ(r.Count("peer-draining"), 1) << "said once, not every check";
  EXPECT_EQ(r.Count("heartbeat-lost"), 0);
}

TEST(HeartbeatTest, KeepInStandbyAlertsButNeverPromotes) {
  Rig r;
  for (int i = 0; i < 100; ++i) r.script.push_back(false);
  Heartbeat hb =
      r.Make({.interval_ms = 10000, .recheck_ms = 5000, .failures = 3, .promote = false});
  r.RunUntil(hb, 400 * 1000);
  EXPECT_EQ(r.promotions, 0);
  EXPECT_EQ(r.Count("failure-detected"), 1) << "acted on once per outage";
  EXPECT_EQ(r.me.mode, Mode::kSecondary);
  EXPECT_GE(hb.failures(), 3);
}

TEST(HeartbeatTest, AWitnessThatStillSeesThePrimaryHoldsThePromotion) {
  Rig r;
  r.with_witness = true;
  r.witness_alive = true;
  for (int i = 0; i < 100; ++i) r.script.push_back(false);
  Heartbeat hb = r.Make(kPolicy);
  r.RunUntil(hb, 100 * 1000);
  EXPECT_EQ(r.promotions, 0);
  EXPECT_GE(r.Count("witness-sees-primary"), 1);
  r.witness_alive = false;  // now the witness loses it too: a dead Primary
  r.RunUntil(hb, 200 * 1000);
  EXPECT_EQ(r.promotions, 1);
}

TEST(HeartbeatTest, DisabledHaOrAnActiveNodeNeverPromotes) {
  Rig r;
  r.me.ha_enabled = false;
  for (int i = 0; i < 100; ++i) r.script.push_back(false);
  Heartbeat hb = r.Make(kPolicy);
  r.RunUntil(hb, 300 * 1000);
  EXPECT_EQ(r.promotions, 0);
  EXPECT_TRUE(r.probes.empty()) << "no heartbeat while HA is disabled";
}

TEST(HeartbeatTest, APrimaryStepsAsideForItsPeersNewerGeneration) {
  Rig r;
  r.me.mode = Mode::kPrimary;
  r.me.status = NodeStatus::kActive;
  r.me.lineage = StartGeneration({}, "mdm-a", 1000);
  r.peer_hello.node_name = "mdm-b";
  r.peer_hello.lineage = StartGeneration(r.me.lineage, "mdm-b", 2000);  // promoted from mine
  Heartbeat hb = r.Make(kPolicy);
  r.RunUntil(hb, 60 * 1000);
  ASSERT_EQ(r.superseded.size(), 1u);
  EXPECT_NE(r.superseded[0].find("superseded"), std::string::npos) << r.superseded[0];
  EXPECT_NE(r.superseded[0].find("failover mode secondary"), std::string::npos);
}

TEST(HeartbeatTest, SplitBrainTheEarlierPromotionStepsAside) {
  Lineage base = StartGeneration({}, "mdm-a", 1000);
  Lineage early = StartGeneration(base, "mdm-a", 2000);
  Lineage late = StartGeneration(base, "mdm-b", 3000);
  for (bool mine_later : {false, true}) {
    Rig r;
    r.me.mode = Mode::kPrimary;
    r.me.status = NodeStatus::kActive;
    r.me.lineage = mine_later ? late : early;
    r.peer_hello.lineage = mine_later ? early : late;
    Heartbeat hb = r.Make(kPolicy);
    r.RunUntil(hb, 60 * 1000);
    EXPECT_EQ(r.superseded.size(), mine_later ? 0u : 1u);
    EXPECT_EQ(r.Count("split-brain"), mine_later ? 1 : 0);
  }
}

// The upgrade procedure makes the Secondary Primary for a while with HA disabled: a maintenance
// Primary, in the Primary's own generation. The Primary watching it is not superseded.
TEST(HeartbeatTest, AMaintenancePrimaryInTheSameGenerationSupersedesNothing) {
  Rig r;
  r.me.mode = Mode::kPrimary;
  r.me.status = NodeStatus::kActive;
  r.me.lineage = StartGeneration({}, "mdm-a", 1000);
  r.peer_hello.node_name = "mdm-b";
  r.peer_hello.lineage = r.me.lineage;  // synced from mine, then made Primary for maintenance
  Heartbeat hb = r.Make(kPolicy);
  r.RunUntil(hb, 60 * 1000);
  EXPECT_TRUE(r.superseded.empty());
  EXPECT_EQ(r.Count("peer-maintenance"), 1) << "said once";
  EXPECT_EQ(r.Count("old-primary-returned"), 0);
}

}  // namespace
}  // namespace hasync::engine
