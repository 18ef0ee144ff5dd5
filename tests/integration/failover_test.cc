// Fail-over with real parts: two nodes' daemons (heartbeat, status pages, notifier), a loopback
// SMTP sink receiving their email through libcurl, HAProxy in front of the pair configured as
// the guide's "Load balancer setup" says, and the split-brain guard. "Stopping the Primary"
// stops its daemon (its status pages go away) and makes its serve side unreachable (the
// channel command fails before hello, as a dead host would).
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <httplib.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <functional>
#include <thread>

#include <nlohmann/json.hpp>

#include "tests/etcd_harness.h"
#include "tests/pair.h"
#include "tests/smtp_sink.h"

namespace hasync {
namespace {

using testing::Pair;
using testing::Shell;

bool WaitUntil(const std::function<bool()>& done, int timeout_ms) {
  for (int waited = 0; waited < timeout_ms; waited += 50) {
    if (done()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return done();
}

struct Reply {
  int code = 0;  // 0: no answer
  std::string body;
};

Reply Get(int port, const std::string& path) {
  httplib::Client c("127.0.0.1", port);
  c.set_connection_timeout(1, 0);
  c.set_read_timeout(2, 0);
  auto r = c.Get(path.c_str());
  if (!r) return {};
  return {r->status, r->body};
}

class FailoverTest : public ::testing::Test {
 protected:
  enum Side { kA, kB };  // mdm-a starts as Primary, mdm-b as its Secondary

  void SetUp() override {
    testing::WriteFile(Up(kA), "");
    testing::WriteFile(Up(kB), "");
    Configure("promote");
  }
  void TearDown() override {
    for (pid_t pid : pids_) Stop(pid);
  }
  void Configure(const std::string& if_failure) {
    std::string failover =
        "[failover]\nheartbeat_interval = \"300ms\"\nrecheck_interval = "
        "\"200ms\"\nfailures_before_failover = 3\nif_failure_detected = \"" +
        if_failure + "\"\n" + failover_extra_;
    std::string notify = "[notify]\nemail = \"ops@example.com\"\nsmtp_url = \"" + sink_.url() +
                         "\"\non_sync_completion = true\nretry_interval = \"200ms\"\n";
    // Pair's files end in [status]: the extra's first line is each side's lb_listen.
    pair_.SetExtra(LbListen(kA) +
                       "[ha]\nenabled = true\nmode = \"primary\"\nnode_status = \"active\"\n" +
                       failover + notify,
                   LbListen(kB) + "[ha]\nenabled = true\n" + failover + notify +
                       "command = \"echo $HASYNC_EVENT >> " + pair_.dir() + "/events.log\"\n");
  }
  std::string LbListen(Side s) {
    return "lb_listen = \"127.0.0.1:" + std::to_string(LbPort(s)) + "\"\n";
  }
  std::string Config(Side s) { return s == kA ? pair_.primary_config() : pair_.secondary_config(); }
  std::string Up(Side s) { return pair_.dir() + (s == kA ? "/a-up" : "/b-up"); }
  int StatusPort(Side s) {
    return s == kA ? pair_.primary_status_port() : pair_.secondary_status_port();
  }
  // Each side's [status] lb_listen: the load balancer's pages only, on workers of their own.
  int LbPort(Side s) { return s == kA ? lb_port_a_ : lb_port_b_; }
  // The channel to a side's serve command: fails before hello while that side is "down".
  std::string To(Side s) {
    return "test -e " + Up(s) + " && exec " HASYNC_BIN " serve --stdio --log-level warn --config " +
           Config(s);
  }
  testing::Cmd As(Side s, const std::string& args, const char* binary = "hasync") {
    std::string bin = std::string(HASYNC_BIN);
    bin = bin.substr(0, bin.rfind('/') + 1) + binary;
    return Shell(bin + " --log-level error --config " + Config(s) + " " + args);
  }
  nlohmann::json Json(Side s, const std::string& args) {
    auto r = As(s, args + " --json");
    EXPECT_EQ(r.code, 0) << r.out;
    return nlohmann::json::parse(r.out, nullptr, false);
  }
  std::string Log(Side s) { return pair_.dir() + (s == kA ? "/a-daemon.log" : "/b-daemon.log"); }
  // Starts `hasync daemon` for a side, its peer reached through To(other side).
  pid_t StartDaemon(Side s, const std::string& env = "") {
    Side peer = s == kA ? kB : kA;
    std::string pidfile = pair_.dir() + "/daemon.pid";
    std::string cmd = env + " " HASYNC_BIN " daemon --log-level info --config " + Config(s) +
                      " --transport '" + To(peer) + "' >>" + Log(s) + " 2>&1 & echo $! >" + pidfile;
    EXPECT_EQ(std::system(cmd.c_str()), 0);
    pid_t pid = std::stoi(testing::ReadFile(pidfile));
    pids_.push_back(pid);
    EXPECT_TRUE(WaitUntil([&] { return Get(StatusPort(s), "/status.json").code == 200; }, 10000))
        << testing::ReadFile(Log(s));
    return pid;
  }
  static void Stop(pid_t pid) {
    if (::kill(pid, SIGTERM) != 0) return;
    for (int i = 0; i < 100 && ::kill(pid, 0) == 0; ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
  }
  // "The Primary dies": its daemon stops and its serve side cannot be reached.
  void StopNode(Side s, pid_t daemon) {
    std::filesystem::remove(Up(s));
    Stop(daemon);
  }
  bool HasEvent(Side s, const std::string& kind) {
    for (const auto& e : Json(s, "events -n 200")) {
      if (e["kind"] == kind) return true;
    }
    return false;
  }
  bool HasMail(const std::string& subject) {
    for (const auto& m : sink_.messages()) {
      if (m.Header("Subject") == subject) return true;
    }
    return false;
  }

  // HAProxy as the guide's load balancer. Each node's check (on its lb_listen, the listener of
  // the load balancer's pages, while traffic goes to the other port) reads /hastatus.html (it must
  // say "MOBILEIRON-STATUS: OK (Mode: ...": up, Standby or acting Primary) and then
  // /status/status.html (it must say OK: serving). mdm-b is a backup, so it takes traffic only
  // when mdm-a's probe fails and its own passes, i.e. once it has promoted itself from a
  // healthy Standby; a stick table gives Manual Resume (traffic never returns by itself).
  void StartLoadBalancer() {
    front_ = testing::FreeLoopbackPort();
    std::string cfg = pair_.dir() + "/haproxy.cfg";
    testing::WriteFile(
        cfg,
        "defaults\n  mode http\n  timeout connect 1s\n  timeout client 5s\n"
        "  timeout server 5s\n  timeout check 2s\nfrontend fe\n  bind 127.0.0.1:" +
            std::to_string(front_) +
            "\n  default_backend mdm\nbackend mdm\n  stick-table type integer size 1 nopurge\n"
            "  stick on int(1)\n  option httpchk\n"
            "  http-check connect\n  http-check send meth GET uri /hastatus.html\n"
            "  http-check expect string MOBILEIRON-STATUS:\\ OK\\ (Mode:\n"
            "  http-check connect\n  http-check send meth GET uri /status/status.html\n"
            "  http-check expect string MOBILEIRON-STATUS:\\ OK\n"
            "  server mdm-a 127.0.0.1:" +
            std::to_string(StatusPort(kA)) + " check port " + std::to_string(LbPort(kA)) +
            " inter 200 fall 2 rise 2\n  server mdm-b 127.0.0.1:" + std::to_string(StatusPort(kB)) +
            " check port " + std::to_string(LbPort(kB)) + " inter 200 fall 2 rise 2 backup\n");
    auto started =
        Shell("haproxy -f " + cfg + " -db >" + pair_.dir() + "/haproxy.log 2>&1 & echo $!");
    ASSERT_EQ(started.code, 0);
    pids_.push_back(std::stoi(started.out));
  }
  // The node the load balancer sends a client's request to.
  std::string ServedBy() {
    Reply r = Get(front_, "/status.json");
    if (r.code != 200) return std::string("none (" + std::to_string(r.code) + ")");
    return nlohmann::json::parse(r.body)["node"].get<std::string>();
  }
  std::string EventMessages(Side s, const std::string& kind) {
    std::string out;
    for (const auto& e : Json(s, "events -n 200")) {
      if (e["kind"] == kind) out += e["message"].get<std::string>() + "\n";
    }
    return out;
  }

  int front_ = 0;
  std::string failover_extra_;  // more [failover] keys (etcd)
  testing::SmtpSink sink_;
  Pair pair_;
  int lb_port_a_ = testing::FreeLoopbackPort();
  int lb_port_b_ = testing::FreeLoopbackPort();
  std::vector<pid_t> pids_;
};

TEST_F(FailoverTest, TestEmailReachesTheSinkAndFailuresSayWhy) {
  auto r = As(kB, "notify test");
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_NE(r.out.find("Test email sent to ops@example.com"), std::string::npos) << r.out;
  auto mail = sink_.WaitFor(1);
  ASSERT_EQ(mail.size(), 1u);
  EXPECT_EQ(mail[0].Header("Subject"), "[hasync] mdm-b: test email");
  EXPECT_EQ(mail[0].Header("To"), "<ops@example.com>");
  EXPECT_EQ(mail[0].from, "<hasync@mdm-b>");
  EXPECT_NE(mail[0].Body().find("test email from hasync on mdm-b"), std::string::npos);
  // The server refuses: exit 8 with its reply; nobody listening: exit 17.
  sink_.RefuseNext(1);
  r = As(kB, "notify test");
  EXPECT_EQ(r.code, 8) << r.out;
  EXPECT_NE(r.out.find("451"), std::string::npos) << r.out;
  ASSERT_EQ(As(kB, "config set notify.smtp_url smtp://127.0.0.1:" +
                       std::to_string(testing::FreeLoopbackPort()))
                .code,
            0);
  r = As(kB, "notify test");
  EXPECT_EQ(r.code, 17) << r.out;
  EXPECT_NE(r.out.find("Test email failed"), std::string::npos) << r.out;
}

TEST_F(FailoverTest, StatusPagesDrainAndServeHttps) {
  ASSERT_EQ(As(kB, "sync --transport '" + To(kA) + "'").code, 0);
  pid_t a = StartDaemon(kA);
  // Until its first look at the peer, a Primary's daemon does not take traffic.
  ASSERT_TRUE(WaitUntil(
      [&] { return Get(StatusPort(kA), "/status/status.html").body == "MOBILEIRON-STATUS: OK"; },
      10000))
      << Get(StatusPort(kA), "/status/status.html").body;
  EXPECT_EQ(Get(StatusPort(kA), "/hastatus.html").body, "MOBILEIRON-STATUS: OK (Mode: Primary)");
  // HEAD: the status without a body.
  httplib::Client c("127.0.0.1", StatusPort(kA));
  auto head = c.Head("/status/status.html");
  ASSERT_TRUE(head);
  EXPECT_EQ(head->status, 200);
  EXPECT_TRUE(head->body.empty());
  // Draining: the load balancer's probe fails at once, and passes again on enable.
  ASSERT_EQ(As(kA, "client-connection disable", "failover").code, 0);
  Reply drained = Get(StatusPort(kA), "/status/status.html");
  EXPECT_EQ(drained.code, 503);
  EXPECT_NE(drained.body.find("client connections are disabled"), std::string::npos);
  ASSERT_EQ(As(kA, "client-connection enable", "failover").code, 0);
  EXPECT_EQ(Get(StatusPort(kA), "/status/status.html").code, 200);
  // The Primary's metrics: the node and its history; the Secondary's JSON: its last sync.
  Reply metrics = Get(StatusPort(kA), "/metrics");
  EXPECT_NE(metrics.body.find("hasync_node_info{node=\"mdm-a\",mode=\"primary\""),
            std::string::npos)
      << metrics.body;
  Stop(a);
  // HTTPS with the node's certificate, verified by the client.
  std::string cert = pair_.dir() + "/cert.pem", key = pair_.dir() + "/key.pem";
  ASSERT_EQ(Shell("openssl req -x509 -newkey rsa:2048 -nodes -keyout " + key + " -out " + cert +
                  " -days 2 -subj /CN=127.0.0.1 -addext subjectAltName=IP:127.0.0.1")
                .code,
            0);
  ASSERT_EQ(As(kB, "config set status.tls_cert " + cert).code, 3) << "a cert needs its key";
  std::string text = testing::ReadFile(Config(kB));
  std::string listen = "listen = \"127.0.0.1:" + std::to_string(StatusPort(kB)) + "\"\n";
  ASSERT_NE(text.find(listen), std::string::npos);
  text.replace(text.find(listen), listen.size(),
               listen + "tls_cert = \"" + cert + "\"\ntls_key = \"" + key + "\"\n");
  testing::WriteFile(Config(kB), text);
  std::string log = pair_.dir() + "/b-https.log";
  ASSERT_EQ(
      std::system((std::string(HASYNC_BIN) + " daemon --config " + Config(kB) + " --transport '" +
                   To(kA) + "' >" + log + " 2>&1 & echo $! >" + pair_.dir() + "/b.pid")
                      .c_str()),
      0);
  pids_.push_back(std::stoi(testing::ReadFile(pair_.dir() + "/b.pid")));
  httplib::SSLClient tls("127.0.0.1", StatusPort(kB));
  tls.set_ca_cert_path(cert.c_str());
  tls.enable_server_certificate_verification(true);
  std::string body;
  ASSERT_TRUE(WaitUntil(
      [&] {
        auto res = tls.Get("/hastatus.html");
        if (res) body = res->body;
        return static_cast<bool>(res);
      },
      10000))
      << testing::ReadFile(log);
  EXPECT_EQ(body, "MOBILEIRON-STATUS: OK (Mode: Standby)");
  auto j = nlohmann::json::parse(tls.Get("/status.json")->body);
  EXPECT_EQ(j["last_success"]["result"], "ok");
  EXPECT_EQ(j["mode"], "secondary");
  // lb_listen has the same TLS, and only the load balancer's pages.
  httplib::SSLClient lb("127.0.0.1", LbPort(kB));
  lb.set_ca_cert_path(cert.c_str());
  lb.enable_server_certificate_verification(true);
  auto lb_page = lb.Get("/hastatus.html");
  ASSERT_TRUE(lb_page) << testing::ReadFile(log);
  EXPECT_EQ(lb_page->body, "MOBILEIRON-STATUS: OK (Mode: Standby)");
  auto lb_json = lb.Get("/status.json");
  ASSERT_TRUE(lb_json);
  EXPECT_EQ(lb_json->status, 404);
}

TEST_F(FailoverTest, HeartbeatPromotesAndTheLoadBalancerFollowsOnlyThen) {
  testing::WriteFile(pair_.primary() + "/before.conf", "1");
  ASSERT_EQ(As(kB, "sync --transport '" + To(kA) + "'").code, 0);
  pid_t a = StartDaemon(kA);
  StartDaemon(kB);
  ASSERT_NO_FATAL_FAILURE(StartLoadBalancer());
  auto served_by = [&] { return ServedBy(); };
  ASSERT_TRUE(WaitUntil([&] { return served_by() == "mdm-a"; }, 10000))
      << served_by() << testing::ReadFile(pair_.dir() + "/haproxy.log");
  EXPECT_EQ(Get(StatusPort(kB), "/hastatus.html").body, "MOBILEIRON-STATUS: OK (Mode: Standby)");
  EXPECT_EQ(Get(StatusPort(kB), "/status/status.html").code, 503);
  // The heartbeat is in the log under its own module (the guide's Step 7, task 5).
  EXPECT_TRUE(WaitUntil(
      [&] {
        return testing::ReadFile(Log(kB)).find("[heartbeat] the --transport peer (mdm-a) alive") !=
               std::string::npos;
      },
      5000))
      << testing::ReadFile(Log(kB));

  // The Primary dies. Until mdm-b is promoted the load balancer has nobody to send to; then
  // everything goes to mdm-b.
  StopNode(kA, a);
  ASSERT_TRUE(WaitUntil([&] { return served_by() == "mdm-b"; }, 15000))
      << served_by() << testing::ReadFile(Log(kB));
  auto status = Json(kB, "status");
  EXPECT_EQ(status["mode"], "primary");
  EXPECT_EQ(status["generation"], 2);
  EXPECT_EQ(Get(StatusPort(kB), "/hastatus.html").body, "MOBILEIRON-STATUS: OK (Mode: Primary)");
  for (const char* kind : {"heartbeat-lost", "failure-detected", "promoted"}) {
    EXPECT_TRUE(HasEvent(kB, kind)) << kind;
  }
  sink_.WaitFor(2);
  EXPECT_TRUE(
      WaitUntil([&] { return HasMail("[hasync] mdm-b: this server became Primary"); }, 10000));
  EXPECT_TRUE(HasMail("[hasync] mdm-b: Primary failure detected"));
  EXPECT_TRUE(WaitUntil(
      [&] {
        return testing::ReadFile(pair_.dir() + "/events.log").find("promoted\n") !=
               std::string::npos;
      },
      5000));
  // Clients write on the new Primary.
  testing::WriteFile(pair_.secondary() + "/after.conf", "2");

  // The old Primary returns, still believing it is Primary: it sees mdm-b's newer generation
  // and steps aside; the load balancer keeps sending everything to mdm-b.
  testing::WriteFile(Up(kA), "");
  a = StartDaemon(kA);
  ASSERT_TRUE(WaitUntil(
      [&] {
        Reply r = Get(StatusPort(kA), "/status/status.html");
        return r.code == 503 && r.body.find("superseded") != std::string::npos;
      },
      10000))
      << testing::ReadFile(Log(kA));
  EXPECT_TRUE(HasEvent(kA, "superseded"));
  for (int i = 0; i < 10; ++i) {
    ASSERT_EQ(served_by(), "mdm-b")
        << testing::ReadFile(pair_.dir() + "/haproxy.log") << testing::ReadFile(Log(kA));
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  EXPECT_EQ(Json(kB, "status")["mode"], "primary") << "promotion is never undone by itself";

  // The guide's recovery with the commands alone: the old Primary follows the new one...
  ASSERT_EQ(As(kA, "mode secondary", "failover").code, 0);
  auto r = As(kA, "sync mdm-b --transport '" + To(kB) + "'", "failover");
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_EQ(testing::ReadFile(pair_.primary() + "/after.conf"), "2");
  EXPECT_EQ(Json(kA, "status")["generation"], 2);
  // ... then the roles swap back: mdm-a Primary in a new generation, mdm-b following it.
  ASSERT_EQ(As(kB, "mode secondary", "failover").code, 0);
  ASSERT_EQ(As(kA, "mode primary", "failover").code, 0);
  EXPECT_EQ(Json(kA, "status")["generation"], 3);
  testing::WriteFile(pair_.primary() + "/swapped.conf", "3");
  r = As(kB, "sync mdm-a --transport '" + To(kA) + "'", "failover");
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_EQ(testing::ReadFile(pair_.secondary() + "/swapped.conf"), "3");
  EXPECT_EQ(Get(StatusPort(kA), "/status/status.html").code, 200);
  EXPECT_EQ(Get(StatusPort(kB), "/hastatus.html").body, "MOBILEIRON-STATUS: OK (Mode: Standby)");
}

TEST_F(FailoverTest, KeepInStandbyAlertsAndRetriesTheEmail) {
  Configure("keep-standby");
  ASSERT_EQ(As(kB, "sync --transport '" + To(kA) + "'").code, 0);
  StartDaemon(kB);
  ASSERT_TRUE(WaitUntil([&] { return HasMail("[hasync] mdm-b: sync completed"); }, 10000));
  sink_.RefuseNext(1);  // the next delivery fails: the notifier retries
  std::filesystem::remove(Up(kA));
  ASSERT_TRUE(WaitUntil([&] { return HasEvent(kB, "failure-detected"); }, 10000))
      << testing::ReadFile(Log(kB));
  ASSERT_TRUE(WaitUntil([&] { return HasMail("[hasync] mdm-b: Primary failure detected"); }, 10000))
      << testing::ReadFile(Log(kB));
  EXPECT_EQ(sink_.refused(), 1);
  // Seconds later: still Standby, no promotion, one alert for the one outage.
  std::this_thread::sleep_for(std::chrono::milliseconds(1500));
  auto status = Json(kB, "status");
  EXPECT_EQ(status["mode"], "secondary");
  EXPECT_EQ(status["node_status"], "standby");
  EXPECT_FALSE(HasEvent(kB, "promoted"));
  int alerts = 0;
  for (const auto& e : Json(kB, "events -n 200")) {
    if (e["kind"] == "failure-detected") {
      ++alerts;
      EXPECT_EQ(e["email"], "sent");
      EXPECT_EQ(e["attempts"], 1) << "one failed attempt before it was sent";
    }
  }
  EXPECT_EQ(alerts, 1);
  EXPECT_EQ(Get(StatusPort(kB), "/hastatus.html").body, "MOBILEIRON-STATUS: OK (Mode: Standby)");
  Reply metrics = Get(StatusPort(kB), "/metrics");
  EXPECT_EQ(metrics.body.find("hasync_heartbeat_failures 0\n"), std::string::npos) << metrics.body;
}

// A network split between the two nodes, not a dead Primary: the heartbeat fails, but the
// witness (here the Primary's own status page, as a load balancer would see it) still answers,
// so the Secondary holds; when the witness loses the Primary too, it promotes.
TEST_F(FailoverTest, AWitnessThatStillSeesThePrimaryHoldsThePromotion) {
  std::string text = testing::ReadFile(Config(kB));
  std::string section = "[failover]\n";
  ASSERT_NE(text.find(section), std::string::npos);
  text.replace(text.find(section), section.size(),
               section + "witness_url = \"http://127.0.0.1:" + std::to_string(StatusPort(kA)) +
                   "/status/status.html\"\n");
  testing::WriteFile(Config(kB), text);
  ASSERT_EQ(As(kB, "sync --transport '" + To(kA) + "'").code, 0);
  pid_t a = StartDaemon(kA);
  StartDaemon(kB);
  std::filesystem::remove(Up(kA));  // mdm-b cannot reach mdm-a; the witness still can
  ASSERT_TRUE(WaitUntil([&] { return HasEvent(kB, "witness-sees-primary"); }, 10000))
      << testing::ReadFile(Log(kB));
  std::this_thread::sleep_for(std::chrono::milliseconds(1000));
  EXPECT_EQ(Json(kB, "status")["mode"], "secondary");
  EXPECT_FALSE(HasEvent(kB, "promoted"));
  Stop(a);  // now the witness loses it too
  ASSERT_TRUE(WaitUntil([&] { return HasEvent(kB, "promoted"); }, 10000))
      << testing::ReadFile(Log(kB));
  EXPECT_EQ(Json(kB, "status")["mode"], "primary");
}

// The load balancer's port already taken: the daemon says so and does not start half-way.
// The outage issue 16 found: the Primary's daemon dies (kill -9) while its server and sshd stay
// up. Its status page goes, so HAProxy drops it; ssh and a hello still answer. The heartbeat
// judges the Primary as the load balancer does: not serving is failed, so mdm-b promotes and
// traffic reaches it.
TEST_F(FailoverTest, APrimaryWhoseDaemonDiedWhileSshdServesIsFailedOver) {
  ASSERT_EQ(As(kB, "sync --transport '" + To(kA) + "'").code, 0);
  pid_t a = StartDaemon(kA);
  StartDaemon(kB);
  ASSERT_NO_FATAL_FAILURE(StartLoadBalancer());
  ASSERT_TRUE(WaitUntil([&] { return ServedBy() == "mdm-a"; }, 10000)) << ServedBy();
  ASSERT_EQ(::kill(a, SIGKILL), 0);
  ASSERT_TRUE(WaitUntil([&] { return ServedBy() == "mdm-b"; }, 15000))
      << ServedBy() << testing::ReadFile(Log(kB));
  EXPECT_EQ(Json(kB, "status")["mode"], "primary");
  std::string lost = EventMessages(kB, "heartbeat-lost") + EventMessages(kB, "failure-detected");
  EXPECT_NE(lost.find("answers ssh but does not serve: its hasync daemon is not running"),
            std::string::npos)
      << lost;
}

// A hung daemon (a loop wedged: it still holds its lock, its pages may even answer) stops
// beating; its serve side says so and the Secondary fails over.
TEST_F(FailoverTest, APrimaryWhoseDaemonHungIsFailedOver) {
  ASSERT_EQ(As(kB, "sync --transport '" + To(kA) + "'").code, 0);
  StartDaemon(kA, "HASYNC_TEST_WEDGE=heartbeat HASYNC_STALL_LIMIT_MS=1000");
  StartDaemon(kB);
  ASSERT_TRUE(WaitUntil([&] { return Json(kB, "status")["mode"] == "primary"; }, 15000))
      << testing::ReadFile(Log(kB));
  EXPECT_TRUE(HasEvent(kA, "daemon-hung")) << testing::ReadFile(Log(kA));
  std::string lost = EventMessages(kB, "failure-detected");
  EXPECT_NE(lost.find("its hasync daemon (pid "), std::string::npos) << lost;
  EXPECT_NE(lost.find(") is hung: no progress for"), std::string::npos) << lost;
}

// `failover client-connection disable` on the Primary: its page fails on purpose and the load
// balancer drops it; the Secondary is told apart from a failure and does not take over.
TEST_F(FailoverTest, APrimaryDrainingOnPurposeIsNotFailedOver) {
  ASSERT_EQ(As(kB, "sync --transport '" + To(kA) + "'").code, 0);
  StartDaemon(kA);
  StartDaemon(kB);
  ASSERT_EQ(As(kA, "client-connection disable", "failover").code, 0);
  EXPECT_EQ(Get(StatusPort(kA), "/status/status.html").code, 503);
  ASSERT_TRUE(WaitUntil([&] { return HasEvent(kB, "peer-draining"); }, 5000))
      << testing::ReadFile(Log(kB));
  // Ten heartbeat periods and more: three failed checks would have promoted it long since.
  std::this_thread::sleep_for(std::chrono::milliseconds(3000));
  auto status = Json(kB, "status");
  EXPECT_EQ(status["mode"], "secondary");
  EXPECT_FALSE(HasEvent(kB, "failure-detected"));
  EXPECT_FALSE(HasEvent(kB, "heartbeat-lost"));
  ASSERT_EQ(As(kA, "client-connection enable", "failover").code, 0);
  EXPECT_TRUE(
      WaitUntil([&] { return Get(StatusPort(kA), "/status/status.html").code == 200; }, 5000));
}

TEST_F(FailoverTest, ADaemonWhoseStatusPortIsTakenSaysSoAndStops) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = htons(static_cast<uint16_t>(StatusPort(kB)));
  ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
  ASSERT_EQ(::listen(fd, 1), 0);
  auto r = Shell("timeout 20 " + std::string(HASYNC_BIN) + " daemon --config " + Config(kB) +
                 " --transport '" + To(kA) + "'");
  ::close(fd);
  EXPECT_EQ(r.code, 3) << r.out << " (a settings problem: systemd must not restart into it)";
  EXPECT_NE(r.out.find("cannot listen on 127.0.0.1:" + std::to_string(StatusPort(kB))),
            std::string::npos)
      << r.out;
  EXPECT_EQ(r.out.find("daemon started"), std::string::npos) << r.out;
}

TEST_F(FailoverTest, SplitBrainBothPromotedSyncsRefusedEachWayUnlessForced) {
  ASSERT_EQ(As(kB, "sync --transport '" + To(kA) + "'").code, 0);
  testing::WriteFile(pair_.primary() + "/a-only.conf", "a");
  testing::WriteFile(pair_.secondary() + "/b-only.conf", "b");
  // Both promoted from generation 1, independently (a network split).
  ASSERT_EQ(As(kB, "mode primary", "failover").code, 0);
  ASSERT_EQ(As(kA, "mode secondary", "failover").code, 0);
  ASSERT_EQ(As(kA, "mode primary", "failover").code, 0);
  // Each way, as Secondary: refused (21), naming the split, nothing changed.
  ASSERT_EQ(As(kA, "mode secondary", "failover").code, 0);
  auto r = As(kA, "sync --transport '" + To(kB) + "'", "failover");
  EXPECT_EQ(r.code, 21) << r.out;
  EXPECT_NE(r.out.find("split brain"), std::string::npos) << r.out;
  EXPECT_FALSE(std::filesystem::exists(pair_.primary() + "/b-only.conf"));
  ASSERT_EQ(As(kA, "mode primary", "failover").code, 0);
  ASSERT_EQ(As(kB, "mode secondary", "failover").code, 0);
  r = As(kB, "sync --transport '" + To(kA) + "'", "failover");
  EXPECT_EQ(r.code, 21) << r.out;
  EXPECT_TRUE(std::filesystem::exists(pair_.secondary() + "/b-only.conf"));
  auto history = Json(kB, "history -n 1");
  EXPECT_EQ(history[0]["error"], "generation");
  EXPECT_TRUE(HasEvent(kB, "split-brain"));
  // --force: mdm-a's data wins, and the sync says what was discarded.
  r = As(kB, "sync --json --force --transport '" + To(kA) + "'", "failover");
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_NE(r.out.find("\"forced\""), std::string::npos) << r.out;
  EXPECT_FALSE(std::filesystem::exists(pair_.secondary() + "/b-only.conf"));
  EXPECT_TRUE(std::filesystem::exists(pair_.secondary() + "/a-only.conf"));
  // Now in line: the next sync needs no force.
  EXPECT_EQ(As(kB, "sync --transport '" + To(kA) + "'", "failover").code, 0);
}

// The guide's upgrade procedure: HA disabled on the Secondary, which is made Primary for a while
// (to fetch the upgrade) and returned to Secondary; meanwhile the versions differ and every sync
// is refused (9); then the Primary is upgraded and HA enabled again. The temporary Primary is a
// maintenance Primary: it starts no generation, so the real Primary watching it is not
// superseded (its pages keep answering) and the next sync is no split brain (21).
TEST_F(FailoverTest, UpgradeProcedureMaintenancePrimarySupersedesNothing) {
  testing::WriteFile(pair_.primary() + "/app.conf", "v1");
  ASSERT_EQ(As(kB, "sync --transport '" + To(kA) + "'").code, 0);
  StartDaemon(kA);  // the Primary watches its peer for split brain
  ASSERT_EQ(As(kB, "ha disable --wait").code, 0);
  auto mode = Json(kB, "mode primary");  // through `hasync`: the same program as `failover`
  EXPECT_EQ(mode["mode"], "primary");
  EXPECT_EQ(mode["maintenance"], true);
  EXPECT_EQ(mode["generation"], 1) << "no new generation";
  auto enable = As(kB, "ha enable");
  EXPECT_NE(enable.code, 0) << "HA enabled on a maintenance Primary";
  EXPECT_NE(enable.out.find("failover mode secondary"), std::string::npos) << enable.out;
  // The Primary sees its peer Primary in its own generation: nothing changes there.
  EXPECT_TRUE(WaitUntil([&] { return HasEvent(kA, "peer-maintenance"); }, 10000))
      << testing::ReadFile(Log(kA));
  EXPECT_EQ(Get(StatusPort(kA), "/hastatus.html").code, 200);
  EXPECT_FALSE(HasEvent(kA, "superseded"));
  // Upgraded Secondary, returned to Secondary: the versions differ, so syncs are refused (9).
  pair_.WriteConfigs("1.0", "2.0");
  ASSERT_EQ(As(kB, "mode secondary", "failover").code, 0);
  testing::WriteFile(pair_.primary() + "/app.conf", "v1, more");
  auto refused = As(kB, "sync --transport '" + To(kA) + "'", "failover");
  EXPECT_EQ(refused.code, 9) << refused.out;
  // The Primary upgraded: HA on again, and the next sync just works.
  pair_.WriteConfigs("2.0", "2.0");
  ASSERT_EQ(As(kB, "ha enable").code, 0);
  auto r = As(kB, "sync --transport '" + To(kA) + "'", "failover");
  EXPECT_EQ(r.code, 0) << r.out;
  EXPECT_EQ(testing::ReadFile(pair_.secondary() + "/app.conf"), "v1, more");
  EXPECT_FALSE(HasEvent(kB, "split-brain"));
}

// [failover] etcd with a real three-member cluster on loopback: etcd's leader key, not the
// pair's heartbeat alone, decides who is Primary. Lease TTL 5 s (the smallest allowed): the
// Primary renews every 1.7 s and serves only until 3.3 s after its last renewal was sent.
class FailoverEtcdTest : public FailoverTest {
 protected:
  void SetUp() override {
    etcd_ = testing::EtcdCluster::Start(3);
    ASSERT_NE(etcd_, nullptr);
    failover_extra_ = "etcd = \"" + etcd_->endpoints() + "\"\nlease_ttl = 5\n";
    FailoverTest::SetUp();
    ASSERT_EQ(As(kB, "sync --transport '" + To(kA) + "'").code, 0);
  }
  // Both daemons up, mdm-a holding the key and serving.
  pid_t StartPair() {
    pid_t a = StartDaemon(kA);
    StartDaemon(kB);
    EXPECT_TRUE(
        WaitUntil([&] { return Get(StatusPort(kA), "/status/status.html").code == 200; }, 10000))
        << Get(StatusPort(kA), "/status/status.html").body << testing::ReadFile(Log(kA));
    return a;
  }
  nlohmann::json Page(Side s) {
    return nlohmann::json::parse(Get(StatusPort(s), "/status.json").body, nullptr, false);
  }
  std::unique_ptr<testing::EtcdCluster> etcd_;
};

// Only the pair's ssh is cut while mdm-a holds its lease: the heartbeat fails, but etcd says the
// Primary is alive, so mdm-b does not promote (no split brain), and mdm-a keeps serving.
TEST_F(FailoverEtcdTest, OnlyThePairsSshCutWhileThePrimaryHoldsItsLeaseNoPromotion) {
  StartPair();
  auto a = Page(kA);
  EXPECT_EQ(a["etcd"]["leader"], "mdm-a") << a.dump();
  EXPECT_TRUE(a["etcd"]["lease_valid"].get<bool>());
  EXPECT_GT(a["epoch"].get<int64_t>(), 0);
  std::filesystem::remove(Up(kA));  // mdm-b's channel to mdm-a fails; mdm-a itself is fine
  ASSERT_TRUE(WaitUntil([&] { return HasEvent(kB, "etcd-no-failover"); }, 8000))
      << testing::ReadFile(Log(kB));
  std::this_thread::sleep_for(std::chrono::milliseconds(6000));  // past a whole lease TTL
  EXPECT_EQ(Json(kB, "status")["mode"], "secondary");
  EXPECT_NE(EventMessages(kB, "etcd-no-failover").find("still held by mdm-a"), std::string::npos)
      << EventMessages(kB, "etcd-no-failover");
  EXPECT_EQ(Get(StatusPort(kA), "/status/status.html").code, 200) << "its lease is renewed";
}

// The Primary dies (kill -9: its lease is not revoked, it expires): mdm-b wins the key once the
// lease has expired, in a later epoch, and is promoted. The old Primary returns: etcd's key is
// mdm-b's, so mdm-a does not serve.
TEST_F(FailoverEtcdTest, ThePrimaryDiesTheSecondaryWinsTheKeyAndTheOldPrimaryStandsAside) {
  pid_t a = StartPair();
  int64_t epoch_a = Page(kA)["epoch"].get<int64_t>();
  std::filesystem::remove(Up(kA));
  ::kill(a, SIGKILL);
  auto died = std::chrono::steady_clock::now();
  ASSERT_TRUE(WaitUntil([&] { return Json(kB, "status")["mode"] == "primary"; }, 20000))
      << testing::ReadFile(Log(kB));
  double took = std::chrono::duration<double>(std::chrono::steady_clock::now() - died).count();
  // The lease TTL plus the heartbeat's three checks, with slack for a loaded machine.
  EXPECT_LT(took, 5.0 + 1.0 + 4.0) << took;
  ASSERT_TRUE(
      WaitUntil([&] { return Get(StatusPort(kB), "/status/status.html").code == 200; }, 5000))
      << Get(StatusPort(kB), "/status/status.html").body;
  auto b = Page(kB);
  EXPECT_EQ(b["etcd"]["leader"], "mdm-b") << b.dump();
  EXPECT_GT(b["epoch"].get<int64_t>(), epoch_a) << "a new fencing epoch";
  testing::WriteFile(Up(kA), "");
  StartDaemon(kA);
  ASSERT_TRUE(
      WaitUntil([&] { return Get(StatusPort(kA), "/status/status.html").code == 503; }, 10000));
  std::this_thread::sleep_for(std::chrono::milliseconds(2000));
  EXPECT_EQ(Get(StatusPort(kA), "/status/status.html").code, 503)
      << "the old Primary never serves while mdm-b holds the key";
  EXPECT_EQ(Get(StatusPort(kB), "/status/status.html").code, 200);
}

// An operator deletes the leader key by hand (etcdctl del) while mdm-a's lease lives: mdm-a
// sees its key gone at its next renewal and takes it again in a new epoch, so mdm-b, which also
// sees it free, never finds it free long enough to take it: one Primary, never two.
TEST_F(FailoverEtcdTest, ALeaderKeyDeletedByHandIsRetakenNotLeftToTwoPrimaries) {
  StartPair();
  int64_t before = Page(kA)["epoch"].get<int64_t>();
  auto del = Shell("ETCDCTL_API=3 etcdctl --endpoints=" + etcd_->endpoints() +
                   " del /hasync/hasync/leader");
  ASSERT_EQ(del.code, 0) << del.out;
  ASSERT_TRUE(WaitUntil([&] { return Page(kA)["epoch"].get<int64_t>() > before; }, 8000))
      << testing::ReadFile(Log(kA));
  std::this_thread::sleep_for(std::chrono::milliseconds(4000));
  EXPECT_EQ(Json(kB, "status")["mode"], "secondary");
  EXPECT_EQ(Page(kA)["etcd"]["leader"], "mdm-a");
  EXPECT_EQ(Get(StatusPort(kA), "/status/status.html").code, 200);
}

// One etcd member dies: the others answer; nothing changes.
TEST_F(FailoverEtcdTest, OneEtcdMemberDiesNothingChanges) {
  StartPair();
  etcd_->Kill(0);
  for (int i = 0; i < 20; ++i) {  // four lease renewals' worth
    ASSERT_EQ(Get(StatusPort(kA), "/status/status.html").code, 200) << i;
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
  }
  EXPECT_EQ(Json(kB, "status")["mode"], "secondary");
  EXPECT_FALSE(HasEvent(kA, "etcd-lease-lost"));
}

// etcd unreachable for everyone: the Primary cannot renew, so it stops serving before its lease
// can have expired (no failsafe mode: an event and the metric say so); the Secondary, its
// heartbeat failing too, does not promote without etcd.
TEST_F(FailoverEtcdTest, EtcdUnreachableForAllNoPromotionAndThePrimaryStopsServing) {
  StartPair();
  for (int i = 0; i < etcd_->size(); ++i) etcd_->Kill(i);
  // Its last renewal was sent before the kill, so its 5 s lease can expire 5 s after it at the
  // earliest; the page (judged from the lease's times when asked) must fail before then. One
  // look at 4.5 s rather than a poll, whose own latency a loaded machine would add.
  std::this_thread::sleep_for(std::chrono::milliseconds(4500));
  EXPECT_EQ(Get(StatusPort(kA), "/status/status.html").code, 503)
      << "it stops serving before its 5 s lease can have expired";
  EXPECT_NE(Get(StatusPort(kA), "/status/status.html").body.find("etcd"), std::string::npos);
  EXPECT_TRUE(WaitUntil([&] { return HasEvent(kA, "etcd-lease-lost"); }, 5000));
  std::filesystem::remove(Up(kA));  // and now the heartbeat fails too
  ASSERT_TRUE(WaitUntil([&] { return HasEvent(kB, "etcd-no-failover"); }, 8000))
      << testing::ReadFile(Log(kB));
  std::this_thread::sleep_for(std::chrono::milliseconds(2000));
  EXPECT_EQ(Json(kB, "status")["mode"], "secondary");
}

// Several Secondaries of one Primary (the guide's three-server layout): when mdm-a dies, exactly
// one takes over, the most up to date (mdm-b synced last); mdm-c defers to it, then finds the new
// Primary through etcd and watches it. Each node reaches the others through a --transport
// command naming {node}, which the daemon fills with the node etcd names (else its configured
// host, here the node name).
TEST_F(FailoverEtcdTest, SeveralSecondariesTheMostUpToDatePromotesAloneAndTheOtherFollowsIt) {
  const std::string dir = pair_.dir();
  // mdm-c: mdm-b's settings with its own name, root, state folder and ports.
  std::string c = testing::ReadFile(Config(kB));
  auto replace = [&c](const std::string& from, const std::string& to) {
    size_t at = c.find(from);
    ASSERT_NE(at, std::string::npos) << from;
    c.replace(at, from.size(), to);
  };
  int c_port = testing::FreeLoopbackPort(), c_lb = testing::FreeLoopbackPort();
  replace("name = \"mdm-b\"", "name = \"mdm-c\"");
  replace(dir + "/sstate", dir + "/cstate");
  replace(dir + "/s\"", dir + "/c\"");
  replace("127.0.0.1:" + std::to_string(StatusPort(kB)), "127.0.0.1:" + std::to_string(c_port));
  replace("127.0.0.1:" + std::to_string(LbPort(kB)), "127.0.0.1:" + std::to_string(c_lb));
  std::filesystem::create_directories(dir + "/c");
  std::filesystem::create_directories(dir + "/cstate");
  testing::WriteFile(dir + "/mdm-c.toml", c + "[secondary]\nprimary = \"mdm-a\"\n");
  testing::WriteFile(dir + "/mdm-b.toml",
                     testing::ReadFile(Config(kB)) + "[secondary]\nprimary = \"mdm-a\"\n");
  testing::WriteFile(dir + "/mdm-a.toml", testing::ReadFile(Config(kA)));
  const std::string to_node = "test -e " + dir +
                              "/{node}-up && exec " HASYNC_BIN
                              " serve --stdio --log-level warn --config " +
                              dir + "/{node}.toml";
  auto to = [&](const std::string& node) {
    std::string t = to_node;
    for (size_t at; (at = t.find("{node}")) != std::string::npos;) t.replace(at, 6, node);
    return t;
  };
  for (const char* n : {"mdm-a", "mdm-b", "mdm-c"}) testing::WriteFile(dir + "/" + n + "-up", "");
  auto sync = [&](const std::string& node) {
    auto r = Shell(std::string(HASYNC_BIN) + " sync --log-level error --config " + dir + "/" +
                   node + ".toml --transport '" + to("mdm-a") + "'");
    EXPECT_EQ(r.code, 0) << r.out;
  };
  testing::WriteFile(pair_.primary() + "/round.conf", "1");
  sync("mdm-c");
  std::this_thread::sleep_for(std::chrono::milliseconds(1100));
  sync("mdm-b");  // the most up to date
  auto start = [&](const std::string& node, int port) {
    std::string pidfile = dir + "/" + node + ".pid";
    std::string cmd = std::string(HASYNC_BIN) + " daemon --log-level info --config " + dir + "/" +
                      node + ".toml --transport '" + to_node + "' >>" + dir + "/" + node +
                      ".log 2>&1 & echo $! >" + pidfile;
    EXPECT_EQ(std::system(cmd.c_str()), 0);
    pid_t pid = std::stoi(testing::ReadFile(pidfile));
    pids_.push_back(pid);
    EXPECT_TRUE(WaitUntil([&] { return Get(port, "/status.json").code == 200; }, 10000));
    return pid;
  };
  // mdm-a's [ha] peer is not set: it watches nobody, and serves once it holds the key.
  pid_t a = start("mdm-a", StatusPort(kA));
  start("mdm-b", StatusPort(kB));
  start("mdm-c", c_port);
  ASSERT_TRUE(
      WaitUntil([&] { return Get(StatusPort(kA), "/status/status.html").code == 200; }, 10000));
  std::filesystem::remove(dir + "/mdm-a-up");
  ::kill(a, SIGKILL);
  auto mode = [&](const std::string& node) {
    auto r = Shell(std::string(HASYNC_BIN) + " status --json --log-level error --config " + dir +
                   "/" + node + ".toml");
    return nlohmann::json::parse(r.out, nullptr, false)["mode"];
  };
  ASSERT_TRUE(
      WaitUntil([&] { return mode("mdm-b") == "primary" || mode("mdm-c") == "primary"; }, 20000))
      << testing::ReadFile(dir + "/mdm-b.log") << testing::ReadFile(dir + "/mdm-c.log");
  std::this_thread::sleep_for(std::chrono::milliseconds(3000));
  EXPECT_EQ(mode("mdm-b"), "primary") << "the most up-to-date Secondary";
  EXPECT_EQ(mode("mdm-c"), "secondary") << "exactly one promotes";
  auto r = Shell(std::string(HASYNC_BIN) + " events -n 100 --json --log-level error --config " +
                 dir + "/mdm-c.toml");
  EXPECT_NE(r.out.find("mdm-b"), std::string::npos) << r.out;
  // mdm-c now watches the new Primary, which etcd names.
  EXPECT_TRUE(WaitUntil(
      [&] {
        return testing::ReadFile(dir + "/mdm-c.log").find("(mdm-b) alive") != std::string::npos;
      },
      5000))
      << testing::ReadFile(dir + "/mdm-c.log");
}

}  // namespace
}  // namespace hasync
