// The load balancer's exact strings (DESIGN.md contracts) and the monitoring pages, from node
// snapshots; the notification policy.
#include "engine/node/status_pages.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "engine/node/notify.h"

namespace hasync::engine {
namespace {

NodeSnapshot Node(Mode mode, NodeStatus status) {
  NodeSnapshot n;
  n.node_name = "mdm-b";
  n.node.ha_enabled = true;
  n.node.mode = mode;
  n.node.status = status;
  n.now_ms = 100000;
  return n;
}

TEST(StatusPagesTest, PrimaryAndStandbyAnswerTheExactStrings) {
  NodeSnapshot primary = Node(Mode::kPrimary, NodeStatus::kActive);
  EXPECT_EQ(StatusPage(primary).code, 200);
  EXPECT_EQ(StatusPage(primary).body, "MOBILEIRON-STATUS: OK");
  EXPECT_EQ(HaStatusPage(primary).body, "MOBILEIRON-STATUS: OK (Mode: Primary)");
  NodeSnapshot standby = Node(Mode::kSecondary, NodeStatus::kStandby);
  EXPECT_EQ(StatusPage(standby).code, 503);
  EXPECT_EQ(HaStatusPage(standby).code, 200);
  EXPECT_EQ(HaStatusPage(standby).body, "MOBILEIRON-STATUS: OK (Mode: Standby)");
  // A promoted Secondary (Active) acts as Primary.
  NodeSnapshot promoted = Node(Mode::kSecondary, NodeStatus::kActive);
  EXPECT_EQ(StatusPage(promoted).body, "MOBILEIRON-STATUS: OK");
  EXPECT_EQ(HaStatusPage(promoted).body, "MOBILEIRON-STATUS: OK (Mode: Primary)");
}

TEST(StatusPagesTest, DrainedSupersededOrDisabledNodesFailTheirProbes) {
  NodeSnapshot drained = Node(Mode::kPrimary, NodeStatus::kActive);
  drained.node.client_connections = false;
  EXPECT_EQ(StatusPage(drained).code, 503);
  EXPECT_NE(StatusPage(drained).body.find("client connections are disabled"), std::string::npos);
  EXPECT_EQ(HaStatusPage(drained).code, 200) << "still the Primary, only drained";
  NodeSnapshot old = Node(Mode::kPrimary, NodeStatus::kActive);
  old.node.superseded = "superseded: mdm-b is Primary in generation 2";
  EXPECT_EQ(StatusPage(old).code, 503);
  EXPECT_EQ(HaStatusPage(old).code, 503);
  EXPECT_EQ(StatusPage(old).body.find("MOBILEIRON-STATUS: OK"), std::string::npos);
  NodeSnapshot off = Node(Mode::kSecondary, NodeStatus::kStandby);
  off.node.ha_enabled = false;
  EXPECT_EQ(HaStatusPage(off).code, 503);
}

TEST(StatusPagesTest, JsonAndMetricsCarryTheLastSyncAndHeartbeat) {
  NodeSnapshot n = Node(Mode::kSecondary, NodeStatus::kStandby);
  n.node.lineage = StartGeneration({}, "mdm-a", 1);
  n.node.generation = 1;
  HistoryRow ok;
  ok.id = 7;
  ok.started = 40000;
  ok.finished = 42000;
  ok.result = "ok";
  ok.duration_s = 2.0;
  ok.bytes_wire = 1234;
  n.last = ok;
  n.last_ok = ok;
  n.results = {{"failed", 2}, {"ok", 5}};
  n.heartbeat_failures = 1;
  n.heartbeat_failures_total = 4;
  n.slots = {{"hasync_mdm-b", 4096}};
  auto j = nlohmann::json::parse(JsonPage(n).body);
  EXPECT_EQ(j["mode"], "secondary");
  EXPECT_EQ(j["generation"], 1);
  EXPECT_EQ(j["last_success"]["id"], 7);
  EXPECT_DOUBLE_EQ(j["lag_s"].get<double>(), 60.0);
  EXPECT_EQ(j["heartbeat_failures"], 1);
  std::string m = MetricsPage(n).body;
  for (const char* line :
       {"hasync_syncs_total{result=\"ok\"} 5\n", "hasync_last_success_timestamp_seconds 42\n",
        "hasync_last_sync_bytes 1234\n", "hasync_heartbeat_failures_total 4\n",
        "hasync_slot_wal_retained_bytes{slot=\"hasync_mdm-b\"} 4096\n", "hasync_serving 0\n",
        "# TYPE hasync_syncs_total counter\n"}) {
    EXPECT_NE(m.find(line), std::string::npos) << line << "\n" << m;
  }
}

TEST(NotifyPolicyTest, EmailsFollowTheGuidesNotifyOnChoices) {
  NotifySettings n;
  EXPECT_FALSE(EmailFor(n, "sync-failed")) << "no address, no email";
  n.email = "ops@example.com";
  EXPECT_TRUE(EmailFor(n, "sync-failed"));
  EXPECT_TRUE(EmailFor(n, "promoted"));
  EXPECT_TRUE(EmailFor(n, "failure-detected"));
  EXPECT_FALSE(EmailFor(n, "sync-completed"));
  EXPECT_FALSE(EmailFor(n, "heartbeat-lost")) << "a single lost beat is not an outage";
  n.on_sync_completion = true;
  n.on_failure = false;
  EXPECT_TRUE(EmailFor(n, "sync-completed"));
  EXPECT_FALSE(EmailFor(n, "sync-failed"));
  EXPECT_EQ(EmailSubject("mdm-b", "promoted"), "[hasync] mdm-b: this server became Primary");
  EXPECT_EQ(MaskUrlPassword("smtp://u:secret@mail:25"), "smtp://mail:25");
  EXPECT_EQ(MaskUrlPassword("smtp://mail:25"), "smtp://mail:25");
}

}  // namespace
}  // namespace hasync::engine
