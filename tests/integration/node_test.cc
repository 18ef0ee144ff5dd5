// The HA node through the binary, as an operator runs it: `failover` commands, status and
// history telling the truth after each failure, the promote hook, one sync at a time.
#include <gtest/gtest.h>

#include <signal.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <functional>
#include <thread>

#include <nlohmann/json.hpp>

#include "engine/node/node.h"
#include "engine/state/daemon_lock.h"
#include "engine/state/sync_lock.h"
#include "tests/pair.h"

namespace hasync {
namespace {

using testing::Pair;
using testing::Shell;
namespace fs = std::filesystem;

class NodeTest : public ::testing::Test {
 protected:
  // `hasync ARGS` (or `failover ARGS`) as the Secondary.
  testing::Cmd Run(const std::string& args, const char* binary = "hasync") {
    std::string bin = std::string(HASYNC_BIN);
    bin = bin.substr(0, bin.rfind('/') + 1) + binary;
    return Shell(bin + " --log-level error --config " + pair_.secondary_config() + " " + args);
  }
  nlohmann::json Json(const std::string& args) {
    auto r = Run(args + " --json");
    EXPECT_EQ(r.code, 0) << r.out;
    return nlohmann::json::parse(r.out, nullptr, false);
  }
  std::string Transport() { return "--transport '" + pair_.Serve() + "'"; }
  Pair pair_;
};

TEST_F(NodeTest, SyncsAreRecordedAndStatusTellsTheLastOne) {
  testing::WriteFile(pair_.primary() + "/a.conf", "a");
  auto r = Run("sync " + Transport());
  ASSERT_EQ(r.code, 0) << r.out;
  // A sync whose Primary cannot be reached: failed, with the reason, in both views.
  r = Run("sync --transport false");
  EXPECT_EQ(r.code, 8) << r.out;
  auto history = Json("history -n 5");
  ASSERT_EQ(history.size(), 2u);
  EXPECT_EQ(history[0]["result"], "failed");
  EXPECT_EQ(history[0]["error"], "peer");
  EXPECT_NE(history[0]["message"].get<std::string>().find("before saying anything"),
            std::string::npos);
  EXPECT_EQ(history[1]["result"], "ok");
  EXPECT_EQ(history[1]["files_changed"], 1);
  EXPECT_TRUE(history[1]["phases_s"].contains("transfer"));
  EXPECT_EQ(history[1]["verified"], "counts") << "the default [sync] verify level passed";
  EXPECT_TRUE(history[1]["phases_s"].contains("verify files"));
  auto status = Json("status");
  EXPECT_EQ(status["mode"], "secondary");
  EXPECT_EQ(status["node_status"], "standby");
  EXPECT_EQ(status["last_sync"]["result"], "failed");
  EXPECT_TRUE(status["running_sync"].is_null());
  // The Primary's HA Status: who last synchronized from it, and when.
  r = Shell(std::string(HASYNC_BIN) + " status --json --config " + pair_.dir() + "/primary.toml");
  ASSERT_EQ(r.code, 0) << r.out;
  auto primary = nlohmann::json::parse(r.out, nullptr, false);
  ASSERT_EQ(primary["served"].size(), 1u) << r.out;
  EXPECT_EQ(primary["served"][0]["peer"], "mdm-b");
  EXPECT_EQ(primary["served"][0]["address"], "local");
  // A dry run is not a sync of the history.
  EXPECT_EQ(Run("sync --dry-run " + Transport()).code, 0);
  EXPECT_EQ(Json("history").size(), 2u);
}

TEST_F(NodeTest, FailoverSyncToAnUntrustedHostSaysSo) {
  auto r = Run("sync 10.9.9.9", "failover");
  EXPECT_EQ(r.code, 12) << r.out;
  EXPECT_NE(r.out.find("10.9.9.9"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("trust"), std::string::npos) << r.out;
  auto history = Json("history");
  ASSERT_EQ(history.size(), 1u);
  EXPECT_EQ(history[0]["result"], "failed");
  EXPECT_EQ(history[0]["peer"], "10.9.9.9");
  EXPECT_EQ(history[0]["error"], "not_found");
}

TEST_F(NodeTest, AnActiveNodeNeverSyncsAndSaysWhy) {
  std::string hook_log = pair_.dir() + "/hook.log";
  pair_.SetExtra("",
                 "[ha]\nenabled = true\npromote_hook = \"echo $HASYNC_EVENT "
                 "$HASYNC_NODE $HASYNC_GENERATION >> " +
                     hook_log + "\"\n");
  auto m = Json("mode primary");
  EXPECT_EQ(m["mode"], "primary");
  EXPECT_EQ(m["node_status"], "active");
  EXPECT_EQ(m["generation"], 1) << "a Secondary that never synced held no generation";
  EXPECT_TRUE(m["changed"].get<bool>());
  // Idempotent: no new generation, the hook does not run again.
  m = Json("mode primary");
  EXPECT_FALSE(m["changed"].get<bool>());
  EXPECT_EQ(m["generation"], 1);
  EXPECT_EQ(testing::ReadFile(hook_log), "promoted mdm-b 1\n");
  // `failover sync <host>` on it: refused (exit 20), recorded, nothing changed.
  testing::WriteFile(pair_.primary() + "/a.conf", "a");
  auto r = Run("sync 10.0.0.1 " + Transport(), "failover");
  EXPECT_EQ(r.code, 20) << r.out;
  EXPECT_NE(r.out.find("this node is the Primary and never syncs"), std::string::npos) << r.out;
  EXPECT_FALSE(std::filesystem::exists(pair_.secondary() + "/a.conf"));
  auto history = Json("history");
  ASSERT_EQ(history.size(), 1u);
  EXPECT_EQ(history[0]["result"], "skipped");
  EXPECT_EQ(history[0]["trigger"], "failover");
  EXPECT_EQ(history[0]["error"], "node_role");
  // `failover mode secondary`: keeps its generation; its data (generation 1, started when it
  // was promoted) is not the Primary's: a sync would discard it, so it is refused (21) until
  // the operator forces it.
  m = Json("mode secondary");
  EXPECT_EQ(m["node_status"], "standby");
  EXPECT_EQ(m["generation"], 1);
  r = Run("sync 10.0.0.1 " + Transport(), "failover");
  EXPECT_EQ(r.code, 21) << r.out;
  EXPECT_NE(r.out.find("split brain"), std::string::npos) << r.out;
  EXPECT_FALSE(std::filesystem::exists(pair_.secondary() + "/a.conf"));
  r = Run("sync 10.0.0.1 --force " + Transport(), "failover");
  EXPECT_EQ(r.code, 0) << r.out;
  EXPECT_TRUE(std::filesystem::exists(pair_.secondary() + "/a.conf"));
  auto events = Json("events");
  bool forced = false;
  for (const auto& e : events) forced |= e["kind"] == "split-brain-forced";
  EXPECT_TRUE(forced) << events.dump();
}

TEST_F(NodeTest, OneSyncAtATimeTheSecondSaysWhenTheFirstStarted) {
  auto lock = engine::SyncLock::Acquire(pair_.dir() + "/sstate");
  ASSERT_TRUE(lock.ok());
  auto r = Run("sync " + Transport(), "failover");
  EXPECT_EQ(r.code, 11) << r.out;
  EXPECT_NE(r.out.find("another sync is running (pid " + std::to_string(::getpid()) + ", started "),
            std::string::npos)
      << r.out;
  auto history = Json("history");
  ASSERT_EQ(history.size(), 1u);
  EXPECT_EQ(history[0]["result"], "skipped");
  EXPECT_EQ(history[0]["error"], "busy");
}

TEST_F(NodeTest, ClientConnectionsAndHaArePersisted) {
  EXPECT_EQ(Run("client-connection disable", "failover").code, 0);
  EXPECT_EQ(Run("ha enable").code, 0);
  auto status = Json("status");
  EXPECT_FALSE(status["client_connections"].get<bool>());
  EXPECT_TRUE(status["ha_enabled"].get<bool>());
  EXPECT_NE(status["next_scheduled_sync"], "");
  auto r = Run("ha disable --wait");
  EXPECT_EQ(r.code, 0) << r.out;
  EXPECT_NE(r.out.find("no sync has run on this node"), std::string::npos) << r.out;
  status = Json("status");
  EXPECT_FALSE(status["ha_enabled"].get<bool>());
  EXPECT_EQ(status["next_scheduled_sync"], "");
  EXPECT_EQ(Run("client-connection maybe", "failover").code, 2);
  EXPECT_EQ(Run("mode tertiary", "failover").code, 2);
}

TEST_F(NodeTest, ConfigSetValidatesBeforeWritingAndRestartsTheSchedule) {
  std::string before = testing::ReadFile(pair_.secondary_config());
  auto r = Run("config set secondary.run_every 90x");
  EXPECT_EQ(r.code, 3) << r.out;
  EXPECT_NE(r.out.find("secondary.run_every"), std::string::npos);
  EXPECT_EQ(testing::ReadFile(pair_.secondary_config()), before) << "nothing written";
  EXPECT_EQ(Run("ha enable").code, 0);
  r = Run("config set secondary.run_every 30m");
  EXPECT_EQ(r.code, 0) << r.out;
  EXPECT_NE(r.out.find("the schedule restarts"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("recommends syncing every 60 minutes or more"), std::string::npos);
  // The load balancer's own listener cannot take the address of listen.
  std::string listen = "127.0.0.1:" + std::to_string(pair_.secondary_status_port());
  r = Run("config set status.lb_listen " + listen);
  EXPECT_EQ(r.code, 3) << r.out;
  EXPECT_NE(r.out.find("status.lb_listen"), std::string::npos) << r.out;
  std::string lb = "127.0.0.1:" + std::to_string(testing::FreeLoopbackPort());
  r = Run("config set status.lb_listen " + lb);
  EXPECT_EQ(r.code, 0) << r.out;
  auto shown = Json("config show");
  EXPECT_EQ(shown["secondary"]["run_every"], "30m");
  EXPECT_EQ(shown["files"][0]["name"], "data");
  EXPECT_EQ(shown["status"]["lb_listen"], lb);
}

TEST_F(NodeTest, DaemonStartsAndStopsOnSigterm) {
  EXPECT_EQ(Run("ha enable").code, 0);
  std::string bin = HASYNC_BIN;
  std::string log = pair_.dir() + "/daemon.log";
  std::string pidfile = pair_.dir() + "/daemon.pid";
  ASSERT_EQ(std::system((bin + " daemon --config " + pair_.secondary_config() + " >" + log +
                         " 2>&1 & echo $! >" + pidfile)
                            .c_str()),
            0);
  std::this_thread::sleep_for(std::chrono::milliseconds(700));
  pid_t pid = std::stoi(testing::ReadFile(pidfile));
  ASSERT_EQ(::kill(pid, SIGTERM), 0);
  bool gone = false;
  for (int i = 0; i < 50 && !gone; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    gone = ::kill(pid, 0) != 0;
  }
  EXPECT_TRUE(gone) << testing::ReadFile(log);
  std::string out = testing::ReadFile(log);
  EXPECT_NE(out.find("daemon started: StartTime 01:00 GMT"), std::string::npos) << out;
  EXPECT_NE(out.find("daemon stopped"), std::string::npos) << out;
}

// The guide's disaster-recovery data centre: a third node names the Secondary as its Primary,
// and the Secondary serves it from what it replicated.
TEST_F(NodeTest, ThreeNodeChainServesFromTheSecondary) {
  testing::MakeSampleTree(pair_.primary());
  ASSERT_EQ(Run("sync " + Transport()).code, 0);
  std::string dr = pair_.dir() + "/dr";
  std::filesystem::create_directories(dr + "/root");
  testing::WriteFile(dr + "/dr.toml", "[node]\nname = \"mdm-dr\"\nstate_dir = \"" + dr +
                                          "/state\"\nsoftware_version = \"1.0\"\n[[files]]\n"
                                          "name = \"data\"\nroot = \"" +
                                          dr + "/root\"\nexclude = [\"*.tmp\"]\n");
  std::string from_secondary = std::string(HASYNC_BIN) +
                               " serve --stdio --log-level warn --config " +
                               pair_.secondary_config();
  auto r = Shell(std::string(HASYNC_BIN) + " sync --log-level error --config " + dr +
                 "/dr.toml --transport '" + from_secondary + "'");
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_EQ(testing::TreeDiff(pair_.secondary(), dr + "/root"), "");
  // A change on the Primary reaches the third node through the Secondary.
  testing::WriteFile(pair_.primary() + "/certs/new.pem", "new");
  ASSERT_EQ(Run("sync " + Transport()).code, 0);
  r = Shell(std::string(HASYNC_BIN) + " sync --log-level error --config " + dr +
            "/dr.toml --transport '" + from_secondary + "'");
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_EQ(testing::ReadFile(dr + "/root/certs/new.pem"), "new");
  EXPECT_EQ(testing::TreeDiff(pair_.secondary(), dr + "/root"), "");
}

// Both daemons track their roots ([sync] track_changes): a sync walks only what changed, and
// whatever leaves a gap (a daemon killed, a daemon started again) makes the side it serves walk
// everything, so no change is ever missed. Changes on the Secondary's side too.
TEST_F(NodeTest, BothDaemonsTrackChangesAndAGapMeansAWholeWalk) {
  for (int d = 0; d < 4; ++d) {
    for (int f = 0; f < 5; ++f) {
      testing::WriteFile(pair_.primary() + "/d" + std::to_string(d) + "/sub/f" + std::to_string(f),
                         "v1 " + std::to_string(d * 10 + f));
    }
  }
  auto start = [&](const std::string& config, const std::string& state) -> pid_t {
    std::string pidfile = pair_.dir() + "/" + state + ".pid";
    std::string cmd = std::string(HASYNC_BIN) + " daemon --log-level info --config " + config +
                      " >>" + pair_.dir() + "/" + state + ".log 2>&1 & echo $! >" + pidfile;
    EXPECT_EQ(std::system(cmd.c_str()), 0);
    for (int i = 0; i < 100 && !fs::exists(pair_.dir() + "/" + state + "/changes.sock"); ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    EXPECT_TRUE(fs::exists(pair_.dir() + "/" + state + "/changes.sock"))
        << testing::ReadFile(pair_.dir() + "/" + state + ".log");
    return std::stoi(testing::ReadFile(pidfile));
  };
  auto kill9 = [&](pid_t pid) {
    ::kill(pid, SIGKILL);
    for (int i = 0; i < 100 && ::kill(pid, 0) == 0; ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
  };
  pid_t primary = start(pair_.primary_config(), "pstate");
  pid_t secondary = start(pair_.secondary_config(), "sstate");
  // by_changes: whether the Secondary's scan went through its daemon's feed.
  auto sync = [&](bool by_changes, const std::string& step) {
    auto j = Json("sync " + Transport());
    EXPECT_EQ(j["roots_scanned_by_changes"], by_changes ? 1 : 0) << step << ": " << j.dump();
    EXPECT_EQ(testing::TreeDiff(pair_.primary(), pair_.secondary()), "") << step;
    return j;
  };
  sync(false, "first sync (untracked caches)");
  testing::WriteFile(pair_.primary() + "/d2/sub/f3", "v2, a changed size");
  EXPECT_EQ(sync(true, "one file changed")["files_changed"], 1);
  EXPECT_EQ(sync(true, "no change")["files_changed"], 0);
  // The Primary's daemon dies: its serve side walks everything and sees the change.
  kill9(primary);
  testing::WriteFile(pair_.primary() + "/d0/sub/f0", "v3 while the Primary's daemon was dead");
  sync(true, "the Primary's daemon dead");
  // It starts again (a new generation): the change made before it started is seen.
  testing::WriteFile(pair_.primary() + "/d1/sub/f1", "v4 before it started again");
  primary = start(pair_.primary_config(), "pstate");
  sync(true, "the Primary's daemon started again");
  // A change on the Secondary's own side is found through its feed and undone.
  testing::WriteFile(pair_.secondary() + "/d3/sub/f4", "edited on the Secondary");
  EXPECT_EQ(sync(true, "a file edited on the Secondary")["files_changed"], 1);
  // The Secondary's daemon dies: its scan walks everything and finds the next local edit.
  kill9(secondary);
  testing::WriteFile(pair_.secondary() + "/d3/sub/f2", "edited again");
  sync(false, "the Secondary's daemon dead");
  kill9(primary);
}

// The daemon itself, its clock moved to just before StartTime: a scheduled sync runs, is
// recorded, and one killed in the middle is recorded as interrupted and recovered by the next.
class DaemonTest : public NodeTest {
 protected:
  // Starts `hasync daemon` with its clock 2 s before the first StartTime; returns its pid.
  pid_t StartDaemon(const std::string& env = "", const std::string& transport = "") {
    auto shown = Json("config show");
    int64_t now = std::chrono::duration_cast<std::chrono::seconds>(
                      std::chrono::system_clock::now().time_since_epoch())
                      .count();
    // The schedule was saved when the node state was created (by `ha enable`, just before).
    int64_t first = engine::FirstRun(anchor_, 60);
    std::string pidfile = pair_.dir() + "/daemon.pid";
    std::string cmd = "HASYNC_CLOCK_OFFSET_S=" + std::to_string(first - 2 - now) + " " + env +
                      " " HASYNC_BIN " daemon --log-level info --config " +
                      pair_.secondary_config() + " --transport '" +
                      (transport.empty() ? pair_.Serve() : transport) + "' >" + pair_.dir() +
                      "/daemon.log 2>&1 & echo $! >" + pidfile;
    EXPECT_EQ(std::system(cmd.c_str()), 0);
    return std::stoi(testing::ReadFile(pidfile));
  }
  void EnableHa() {
    anchor_ = std::chrono::duration_cast<std::chrono::seconds>(
                  std::chrono::system_clock::now().time_since_epoch())
                  .count();
    ASSERT_EQ(Run("ha enable").code, 0);
  }
  nlohmann::json WaitForHistory(size_t rows) {
    nlohmann::json h;
    for (int i = 0; i < 100; ++i) {
      h = Json("history");
      if (h.size() >= rows && h[0]["result"] != "running") break;
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    return h;
  }
  int64_t anchor_ = 0;
};

TEST_F(DaemonTest, RunsTheScheduledSyncAtStartTime) {
  testing::WriteFile(pair_.primary() + "/scheduled.conf", "s");
  EnableHa();
  pid_t pid = StartDaemon();
  auto h = WaitForHistory(1);
  ::kill(pid, SIGTERM);
  for (int i = 0; i < 50 && ::kill(pid, 0) == 0; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  EXPECT_NE(::kill(pid, 0), 0) << "the daemon stopped on SIGTERM";
  ASSERT_EQ(h.size(), 1u) << testing::ReadFile(pair_.dir() + "/daemon.log");
  EXPECT_EQ(h[0]["trigger"], "scheduled");
  EXPECT_EQ(h[0]["result"], "ok");
  EXPECT_EQ(testing::ReadFile(pair_.secondary() + "/scheduled.conf"), "s");
}

TEST_F(DaemonTest, KilledMidSyncIsRecordedAndRecovered) {
  testing::WriteFile(pair_.primary() + "/scheduled.conf", "s");
  EnableHa();
  pid_t pid = StartDaemon("HASYNC_KILL_AT=commit.after-rename");
  for (int i = 0; i < 100 && ::kill(pid, 0) == 0; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  ASSERT_NE(::kill(pid, 0), 0) << "the daemon died at the kill point";
  auto h = Json("history");
  ASSERT_EQ(h.size(), 1u);
  EXPECT_EQ(h[0]["result"], "interrupted");
  EXPECT_EQ(h[0]["trigger"], "scheduled");
  // The next sync rolls the committed journal forward and reports it.
  auto r = Run("sync --json " + Transport());
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_NE(r.out.find("\"recovered_interrupted_sync\": true"), std::string::npos) << r.out;
  EXPECT_EQ(testing::ReadFile(pair_.secondary() + "/scheduled.conf"), "s");
}

// systemd's notify socket, as a test holds it: a datagram socket the daemon is pointed at with
// NOTIFY_SOCKET; each message is kept with the time it arrived.
class NotifySocket {
 public:
  explicit NotifySocket(std::string path) : path_(std::move(path)) {
    fd_ = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    sockaddr_un a{};
    a.sun_family = AF_UNIX;
    std::snprintf(a.sun_path, sizeof a.sun_path, "%s", path_.c_str());
    EXPECT_EQ(::bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a), 0) << path_;
    timeval tv{.tv_sec = 0, .tv_usec = 100000};
    ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  }
  ~NotifySocket() { ::close(fd_); }
  std::string env() const { return "NOTIFY_SOCKET=" + path_; }
  struct Message {
    std::string text;
    int64_t at_ms;
  };
  // Reads what arrives for `ms`, or until `done` says so.
  void Collect(int64_t ms, const std::function<bool()>& done = nullptr) {
    int64_t until = Now() + ms;
    while (Now() < until && !(done && done())) {
      char buf[512];
      ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
      if (n > 0) messages.push_back({std::string(buf, static_cast<size_t>(n)), Now()});
    }
  }
  int Count(const std::string& text, int64_t from_ms = 0) const {
    int n = 0;
    for (const auto& m : messages) n += m.text == text && m.at_ms >= from_ms;
    return n;
  }
  // The longest wait between two WATCHDOG=1 keep-alives from `from_ms` on (and to the end).
  int64_t LongestGap(int64_t from_ms, int64_t to_ms) const {
    int64_t last = from_ms, gap = 0;
    for (const auto& m : messages) {
      if (m.text != "WATCHDOG=1" || m.at_ms < from_ms) continue;
      gap = std::max(gap, m.at_ms - last);
      last = m.at_ms;
    }
    return std::max(gap, to_ms - last);
  }
  static int64_t Now() {
    return std::chrono::duration_cast<std::chrono::milliseconds>(
               std::chrono::steady_clock::now().time_since_epoch())
        .count();
  }
  std::vector<Message> messages;

 private:
  std::string path_;
  int fd_ = -1;
};

void StopDaemon(pid_t pid) {
  ::kill(pid, SIGTERM);
  for (int i = 0; i < 100 && ::kill(pid, 0) == 0; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
}

// Type=notify with WatchdogSec: READY=1 once the daemon runs, then WATCHDOG=1 twice per
// watchdog period, without a gap through a scheduled sync that takes longer than the stall
// limit (a sync is bounded by its own channel, not by the watchdog), and STOPPING=1 at the end.
TEST_F(DaemonTest, TellsSystemdItIsReadyAndAliveThroughALongSync) {
  testing::WriteFile(pair_.primary() + "/scheduled.conf", "s");
  EnableHa();
  NotifySocket sd(pair_.dir() + "/notify.sock");
  // The Primary's serve side stops at its first file (a kill point that SIGSTOPs it) for 3 s:
  // the sync takes longer than the 1 s stall limit. The heartbeat's own sessions (a hello only)
  // never reach that point.
  pid_t pid = StartDaemon(sd.env() + " WATCHDOG_USEC=600000 HASYNC_STALL_LIMIT_MS=1000",
                          pair_.Serve("HASYNC_KILL_AT=serve.open:1:stop"));
  int64_t start = NotifySocket::Now();
  pid_t serve = testing::WaitForStopped(pair_.primary_config());
  ASSERT_NE(serve, 0) << testing::ReadFile(pair_.dir() + "/daemon.log");
  sd.Collect(3000);
  ASSERT_EQ(::kill(serve, SIGCONT), 0);
  sd.Collect(15000, [&] {
    auto h = Json("history");
    return !h.empty() && h[0]["result"] != "running";
  });
  int64_t end = NotifySocket::Now();
  sd.Collect(300);  // what came with the sync's end
  StopDaemon(pid);
  sd.Collect(300);
  auto h = Json("history");
  ASSERT_EQ(h.size(), 1u) << testing::ReadFile(pair_.dir() + "/daemon.log");
  EXPECT_EQ(h[0]["result"], "ok");
  EXPECT_GE(h[0]["duration_s"].get<double>(), 3.0);
  ASSERT_FALSE(sd.messages.empty());
  EXPECT_EQ(sd.messages.front().text, "READY=1") << "the first thing systemd hears";
  EXPECT_EQ(sd.Count("READY=1"), 1);
  EXPECT_GE(sd.Count("WATCHDOG=1"), static_cast<int>((end - start) / 300) - 2);
  EXPECT_LT(sd.LongestGap(sd.messages.front().at_ms, end), 600)
      << "a keep-alive at least every half watchdog period, through the sync";
  EXPECT_EQ(sd.messages.back().text, "STOPPING=1");
  EXPECT_FALSE(engine::ReadDaemonLiveness(pair_.dir() + "/sstate")->running)
      << "the lock goes with the daemon";
}

// A loop that ends by design (a node with no peer has no heartbeat) is not a hung one: the
// keep-alives go on.
TEST_F(DaemonTest, ALoopThatEndedByDesignDoesNotStopTheWatchdog) {
  NotifySocket sd(pair_.dir() + "/notify.sock");
  std::string cmd = sd.env() +
                    " WATCHDOG_USEC=600000 HASYNC_STALL_LIMIT_MS=1000 " HASYNC_BIN
                    " daemon --log-level info --config " +
                    pair_.primary_config() + " >" + pair_.dir() + "/daemon.log 2>&1 & echo $! >" +
                    pair_.dir() + "/pid";
  ASSERT_EQ(std::system(cmd.c_str()), 0);
  pid_t pid = std::stoi(testing::ReadFile(pair_.dir() + "/pid"));
  sd.Collect(4000);
  int64_t end = NotifySocket::Now();
  StopDaemon(pid);
  ASSERT_FALSE(sd.messages.empty()) << testing::ReadFile(pair_.dir() + "/daemon.log");
  EXPECT_NE(testing::ReadFile(pair_.dir() + "/daemon.log").find("no heartbeat"), std::string::npos);
  EXPECT_LT(sd.LongestGap(sd.messages.front().at_ms, end), 600)
      << testing::ReadFile(pair_.dir() + "/daemon.log");
}

// A wedged loop (HASYNC_TEST_WEDGE, fault injection): after the stall limit the keep-alives stop
// (systemd then restarts the daemon), an event says which loop, and the daemon lock's beat stops
// too, which the Secondary's heartbeat reads through this node's serve side as a hung daemon. A
// second daemon on the same state folder is refused while the first holds it.
TEST_F(DaemonTest, AWedgedLoopStopsTheWatchdogKeepAlive) {
  EnableHa();
  NotifySocket sd(pair_.dir() + "/notify.sock");
  pid_t pid = StartDaemon(sd.env() +
                          " WATCHDOG_USEC=400000 HASYNC_STALL_LIMIT_MS=1000 "
                          "HASYNC_TEST_WEDGE=notifier");
  sd.Collect(5500);  // the stall limit (1 s), then the beat's 3 s staleness and some
  ASSERT_FALSE(sd.messages.empty()) << testing::ReadFile(pair_.dir() + "/daemon.log");
  EXPECT_EQ(sd.messages.front().text, "READY=1");
  int64_t last_two_s = NotifySocket::Now() - 2000;
  EXPECT_EQ(sd.Count("WATCHDOG=1", last_two_s), 0) << "no keep-alive once the loop stalled";
  auto live = engine::ReadDaemonLiveness(pair_.dir() + "/sstate");
  ASSERT_TRUE(live.ok());
  EXPECT_TRUE(live->running);
  EXPECT_EQ(live->pid, pid);
  EXPECT_TRUE(live->hung()) << live->beat_age_ms;
  bool said = false;
  for (const auto& e : Json("events -n 50")) {
    if (e["kind"] == "daemon-hung") {
      said = e["message"].get<std::string>().find("the notifier loop made no progress") !=
             std::string::npos;
    }
  }
  EXPECT_TRUE(said) << testing::ReadFile(pair_.dir() + "/daemon.log");
  auto second = Shell(std::string(HASYNC_BIN) + " daemon --config " + pair_.secondary_config() +
                      " --transport '" + pair_.Serve() + "'");
  EXPECT_EQ(second.code, 11) << second.out;
  EXPECT_NE(second.out.find("another hasync daemon (pid " + std::to_string(pid) + ")"),
            std::string::npos)
      << second.out;
  StopDaemon(pid);
  EXPECT_NE(::kill(pid, 0), 0) << "a wedged loop still lets the daemon stop";
}

}  // namespace
}  // namespace hasync
