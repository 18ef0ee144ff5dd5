// The load balancer's exact strings (DESIGN.md contracts) and the monitoring pages, from node
// snapshots; the notification policy.
#include "engine/node/status_pages.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <httplib.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <thread>

#include <nlohmann/json.hpp>

#include "engine/node/notify.h"
#include "tests/test_util.h"

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
  n.slots = {{"hasync_mdm_b", 4096}, {"hasync_mdm_c", 8192}};  // two Secondaries
  auto j = nlohmann::json::parse(JsonPage(n).body);
  EXPECT_EQ(j["mode"], "secondary");
  EXPECT_EQ(j["generation"], 1);
  EXPECT_EQ(j["last_success"]["id"], 7);
  EXPECT_DOUBLE_EQ(j["lag_s"].get<double>(), 60.0);
  EXPECT_EQ(j["heartbeat_failures"], 1);
  ASSERT_EQ(j["slots"].size(), 2u);
  EXPECT_EQ(j["slots"][1]["node"], "mdm-c");
  EXPECT_EQ(j["slots"][1]["slot"], "hasync_mdm_c");
  EXPECT_EQ(j["slots"][1]["wal_retained_bytes"], 8192);
  std::string m = MetricsPage(n).body;
  for (const char* line :
       {"hasync_syncs_total{result=\"ok\"} 5\n", "hasync_last_success_timestamp_seconds 42\n",
        "hasync_last_sync_bytes 1234\n", "hasync_heartbeat_failures_total 4\n",
        "hasync_slot_wal_retained_bytes{slot=\"hasync_mdm_b\",node=\"mdm-b\"} 4096\n",
        "hasync_slot_wal_retained_bytes{slot=\"hasync_mdm_c\",node=\"mdm-c\"} 8192\n",
        "hasync_serving 0\n", "# TYPE hasync_syncs_total counter\n"}) {
    EXPECT_NE(m.find(line), std::string::npos) << line << "\n" << m;
  }
}

// The superseded reason names nodes a peer chose: the load balancer's text/html pages escape it.
TEST(StatusPagesTest, SupersededReasonIsEscapedInHtml) {
  NodeSnapshot old = Node(Mode::kPrimary, NodeStatus::kActive);
  old.node.superseded = "superseded: <script>x()</script> & \"mdm-b\" is Primary";
  for (const Page& p : {StatusPage(old), HaStatusPage(old)}) {
    EXPECT_EQ(p.body.find("<script>"), std::string::npos) << p.body;
    EXPECT_NE(p.body.find("&lt;script&gt;x()&lt;/script&gt; &amp; &quot;mdm-b&quot;"),
              std::string::npos)
        << p.body;
  }
}

NodeSnapshot FailedSync() {
  NodeSnapshot n = Node(Mode::kSecondary, NodeStatus::kStandby);
  n.node.superseded = "";
  HistoryRow failed;
  failed.id = 3;
  failed.result = "failed";
  failed.peer = "mdm-a";
  failed.error = "writing /srv/secret/payroll.db: table salaries: permission denied";
  n.last = failed;
  n.slots = {{"hasync_mdm_b", 4096}};
  return n;
}

TEST(StatusPagesTest, DetailsOnlyWhenAsked) {
  NodeSnapshot n = FailedSync();
  std::string plain = JsonPage(n, {.details = false}).body;
  EXPECT_EQ(plain.find("/srv/secret"), std::string::npos) << plain;
  EXPECT_EQ(plain.find("mdm-a"), std::string::npos) << plain;
  EXPECT_EQ(plain.find("hasync_mdm_b"), std::string::npos) << plain;
  auto j = nlohmann::json::parse(plain);
  EXPECT_EQ(j["last_sync"]["result"], "failed");
  EXPECT_EQ(j["details"], false);
  EXPECT_NE(JsonPage(n, {.details = true}).body.find("/srv/secret"), std::string::npos);
  EXPECT_EQ(MetricsPage(n, {.details = false}).body.find("hasync_mdm_b"), std::string::npos);
  EXPECT_NE(MetricsPage(n, {.details = true}).body.find("hasync_mdm_b"), std::string::npos);
}

class StatusServerTest : public ::testing::Test {
 protected:
  // lb: also the load balancer's own listener ([status] lb_listen) on lb_port_.
  void Start(const std::string& token, bool lb = false) {
    port_ = testing::FreeLoopbackPort();
    if (lb) lb_port_ = testing::FreeLoopbackPort();
    StatusSettings s{.listen = "127.0.0.1:" + std::to_string(port_),
                     .lb_listen = lb ? "127.0.0.1:" + std::to_string(lb_port_) : "",
                     .token = token};
    auto server = StatusServer::Start(s, [] { return Result<NodeSnapshot>(FailedSync()); });
    ASSERT_TRUE(server.ok()) << server.status().ToString();
    server_ = std::move(*server);
    EXPECT_EQ(server_->port(), port_);
    EXPECT_EQ(server_->lb_port(), lb_port_);
  }
  httplib::Result Get(const std::string& path, const std::string& token = "") {
    return GetFrom(port_, path, token);
  }
  static httplib::Result GetFrom(int port, const std::string& path, const std::string& token = "") {
    httplib::Client c("127.0.0.1", port);
    c.set_connection_timeout(2, 0);
    c.set_read_timeout(2, 0);
    httplib::Headers h;
    if (!token.empty()) h.emplace("Authorization", "Bearer " + token);
    return c.Get(path.c_str(), h);
  }
  int port_ = 0;
  int lb_port_ = 0;
  std::unique_ptr<StatusServer> server_;
};

// /status.json and /metrics give their details (errors with paths and table names, peers,
// slots) only with `Authorization: Bearer <[status] token>`; the load balancer's pages are open.
TEST_F(StatusServerTest, DetailsNeedTheToken) {
  const std::string token = "0123456789abcdef-token";
  Start(token);
  auto plain = Get("/status.json");
  ASSERT_TRUE(plain);
  EXPECT_EQ(plain->status, 200);
  EXPECT_EQ(plain->body.find("/srv/secret"), std::string::npos) << plain->body;
  auto details = Get("/status.json", token);
  ASSERT_TRUE(details);
  EXPECT_NE(details->body.find("/srv/secret"), std::string::npos) << details->body;
  auto wrong = Get("/metrics", "0123456789abcdef-wrong");
  ASSERT_TRUE(wrong);
  EXPECT_EQ(wrong->status, 401);
  auto metrics = Get("/metrics", token);
  ASSERT_TRUE(metrics);
  EXPECT_NE(metrics->body.find("hasync_mdm_b"), std::string::npos);
  auto probe = Get("/hastatus.html", "whatever");
  ASSERT_TRUE(probe);
  EXPECT_EQ(probe->body, "MOBILEIRON-STATUS: OK (Mode: Standby)");
}

TEST_F(StatusServerTest, WithoutATokenDetailsAreNotServed) {
  Start("");
  auto asked = Get("/status.json", "0123456789abcdef");
  ASSERT_TRUE(asked);
  EXPECT_EQ(asked->status, 401);
  auto plain = Get("/status.json");
  ASSERT_TRUE(plain);
  EXPECT_EQ(plain->status, 200);
  EXPECT_EQ(plain->body.find("/srv/secret"), std::string::npos) << plain->body;
}

// Four clients that send their request a byte a second (for at most 10 s) hold a connection
// each; the load balancer's probe is still answered within a second.
TEST_F(StatusServerTest, SlowClientsDoNotStarveTheProbes) {
  Start("");
  std::atomic<bool> stop{false};
  std::vector<std::thread> drips;
  for (int i = 0; i < 4; ++i) {
    drips.emplace_back([&] {
      int fd = ::socket(AF_INET, SOCK_STREAM, 0);
      sockaddr_in a{};
      a.sin_family = AF_INET;
      a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
      a.sin_port = htons(static_cast<uint16_t>(port_));
      if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0) {
        const char kRequest[] = "GET /status.json HTTP/1.1\r\nHost: x\r\n";
        for (int s = 0; s < 10 && !stop; ++s) {  // one byte a second, 10 s at most
          if (::send(fd, kRequest + s, 1, MSG_NOSIGNAL) != 1) break;
          for (int t = 0; t < 10 && !stop; ++t) {
            std::this_thread::sleep_for(std::chrono::milliseconds(100));
          }
        }
      }
      ::close(fd);
    });
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(1500));  // every drip has connected
  for (const char* path : {"/hastatus.html", "/status/status.html"}) {
    auto t0 = std::chrono::steady_clock::now();
    httplib::Client c("127.0.0.1", port_);
    c.set_connection_timeout(1, 0);
    c.set_read_timeout(1, 0);
    auto r = c.Get(path);
    auto took = std::chrono::steady_clock::now() - t0;
    EXPECT_TRUE(r) << path << " was not answered within a second";
    EXPECT_LT(took, std::chrono::seconds(1)) << path;
  }
  stop = true;
  for (auto& t : drips) t.join();
}

// `count` loopback connections to `port`, each sent the start of a request line a byte a second
// (10 s at most) from one thread, until destroyed. cpp-httplib listens with a backlog of 5: a
// burst of connects overflows it, and the kernel then keeps the excess half-open out of the
// server's sight (or, connecting one at a time and blocking, waits for its SYN retries, longer
// than the server waits for a first byte). So the connects do not block and come 10 ms apart.
class SlowDrip {
 public:
  SlowDrip(int port, int count) : thread_([this, port, count] { Run(port, count); }) {}
  ~SlowDrip() {
    stop_ = true;
    thread_.join();
  }
  int connected() const { return connected_; }

 private:
  struct Conn {
    int fd;
    bool up = false;
    size_t sent = 0;
  };

  void Run(int port, int count) {
    std::vector<Conn> conns;
    for (int i = 0; i < count; ++i) {
      int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
      sockaddr_in a{};
      a.sin_family = AF_INET;
      a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
      a.sin_port = htons(static_cast<uint16_t>(port));
      if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 && errno != EINPROGRESS) {
        ::close(fd);
        continue;
      }
      conns.push_back({.fd = fd});
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    const char kRequest[] = "GET /status.json HTTP/1.1\r\nHost: x\r\n";
    for (int tick = 0; tick < 100 && !stop_; ++tick) {  // 100 ms each
      for (Conn& c : conns) {
        if (!c.up) {
          pollfd p{.fd = c.fd, .events = POLLOUT, .revents = 0};
          int err = 0;
          socklen_t len = sizeof err;
          if (::poll(&p, 1, 0) != 1) continue;  // still connecting
          if (::getsockopt(c.fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0 || err != 0) continue;
          c.up = true;
          ++connected_;
        }
        // The first byte at once, then one a second.
        if ((c.sent == 0 || tick % 10 == 0) && c.sent < sizeof kRequest - 1 &&
            ::send(c.fd, kRequest + c.sent, 1, MSG_NOSIGNAL) == 1) {
          ++c.sent;
        }
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    for (const Conn& c : conns) ::close(c.fd);
  }

  std::atomic<bool> stop_{false};
  std::atomic<int> connected_{0};
  std::thread thread_;  // last: starts once the rest exists
};

// [status] lb_listen serves the load balancer's two pages (GET and HEAD) and nothing else: the
// details' pages are 404 there, with or without the token, and stay on listen.
TEST_F(StatusServerTest, LbListenServesOnlyTheLoadBalancersPages) {
  const std::string token = "0123456789abcdef-token";
  Start(token, /*lb=*/true);
  auto ha = GetFrom(lb_port_, "/hastatus.html");
  ASSERT_TRUE(ha);
  EXPECT_EQ(ha->status, 200);
  EXPECT_EQ(ha->body, "MOBILEIRON-STATUS: OK (Mode: Standby)");
  auto st = GetFrom(lb_port_, "/status/status.html");
  ASSERT_TRUE(st);
  EXPECT_EQ(st->status, 503) << "a Standby does not take traffic";
  EXPECT_EQ(st->body.rfind("MOBILEIRON-STATUS: FAILED (", 0), 0u) << st->body;
  httplib::Client c("127.0.0.1", lb_port_);
  c.set_read_timeout(2, 0);
  auto head = c.Head("/hastatus.html");
  ASSERT_TRUE(head);
  EXPECT_EQ(head->status, 200);
  EXPECT_TRUE(head->body.empty());
  for (const char* path : {"/status.json", "/metrics", "/", "/status"}) {
    for (const std::string& t : {std::string(), token}) {
      auto r = GetFrom(lb_port_, path, t);
      ASSERT_TRUE(r) << path;
      EXPECT_EQ(r->status, 404) << path << (t.empty() ? "" : " with the token");
      EXPECT_EQ(r->body.find("/srv/secret"), std::string::npos) << r->body;
    }
  }
  auto details = Get("/status.json", token);
  ASSERT_TRUE(details);
  EXPECT_EQ(details->status, 200);
  EXPECT_NE(details->body.find("/srv/secret"), std::string::npos) << "listen still serves all";
  EXPECT_EQ(Get("/hastatus.html")->body, "MOBILEIRON-STATUS: OK (Mode: Standby)");
}

// More slow clients on listen than it has workers (64): they hold every one of them, so a probe
// there waits in line (this shows the load is real). The load balancer's probe on lb_listen, its
// own listener with its own workers, is still answered within 2 s.
TEST_F(StatusServerTest, SlowClientsOnListenDoNotStarveLbListen) {
  constexpr int kDrips = 72;
  Start("", /*lb=*/true);
  SlowDrip drip(port_, kDrips);
  for (int i = 0; i < 50 && drip.connected() < kDrips; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  ASSERT_EQ(drip.connected(), kDrips);
  std::this_thread::sleep_for(std::chrono::milliseconds(1000));  // each drip holds its worker
  for (const char* path : {"/hastatus.html", "/status/status.html"}) {
    auto t0 = std::chrono::steady_clock::now();
    httplib::Client c("127.0.0.1", lb_port_);
    c.set_connection_timeout(2, 0);
    c.set_read_timeout(2, 0);
    auto r = c.Get(path);
    auto took = std::chrono::steady_clock::now() - t0;
    ASSERT_TRUE(r) << path << " on lb_listen was not answered within 2 s";
    EXPECT_NE(r->body.find("MOBILEIRON-STATUS: "), std::string::npos) << r->body;
    EXPECT_LT(took, std::chrono::seconds(2)) << path;
  }
  httplib::Client main("127.0.0.1", port_);
  main.set_connection_timeout(1, 0);
  main.set_read_timeout(1, 0);
  EXPECT_FALSE(main.Get("/hastatus.html"))
      << "listen answered under " << kDrips
      << " slow clients: they no longer hold its workers, so this test shows nothing";
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
