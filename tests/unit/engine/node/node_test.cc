// The node's state in SQLite and the schedule, driven by a fake clock.
#include "engine/node/node.h"

#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>

#include "engine/config/config_edit.h"
#include "engine/node/notify.h"
#include "engine/state/node_state.h"
#include "tests/test_util.h"

namespace hasync::engine {
namespace {

constexpr int64_t kDay = 86400;
constexpr int64_t kMidnight = 1795824000;  // 2026-11-28T00:00:00Z

Settings TestSettings(const std::string& dir) {
  auto s = ParseSettings("[node]\nname = \"mdm-b\"\nstate_dir = \"" + dir +
                             "\"\n[ha]\nenabled = true\n[secondary]\nstart_time = \"13:00\"\n"
                             "run_every = \"4h\"\n",
                         "t.toml");
  EXPECT_TRUE(s.ok()) << s.status().ToString();
  return *s;
}

TEST(ScheduleTest, FirstRunIsTheNextStartTimeAfterSaving) {
  int start = 13 * 60;
  // The guide: saving at 2 pm with StartTime 1 pm runs first at 1 pm the next day.
  EXPECT_EQ(FirstRun(kMidnight + 14 * 3600, start), kMidnight + kDay + 13 * 3600);
  EXPECT_EQ(FirstRun(kMidnight + 12 * 3600, start), kMidnight + 13 * 3600);
  EXPECT_EQ(FirstRun(kMidnight + 13 * 3600, start), kMidnight + kDay + 13 * 3600);
  // Then every Run Every from the first run.
  int64_t anchor = kMidnight + 12 * 3600;
  EXPECT_EQ(NextRun(anchor, start, 4 * 3600, anchor), kMidnight + 13 * 3600);
  EXPECT_EQ(NextRun(anchor, start, 4 * 3600, kMidnight + 13 * 3600), kMidnight + 17 * 3600);
  EXPECT_EQ(NextRun(anchor, start, 4 * 3600, kMidnight + 18 * 3600), kMidnight + 21 * 3600);
  EXPECT_EQ(NextRun(anchor, start, 90 * 60, kMidnight + 13 * 3600 + 1),
            kMidnight + 14 * 3600 + 30 * 60);
}

TEST(ScheduleTest, SettingsNameBadSchedules) {
  for (const char* bad :
       {"run_every = \"0m\"", "run_every = \"60\"", "run_every = \"2w\"", "run_every = \"31d\"",
        "start_time = \"24:00\"", "start_time = \"1:00\""}) {
    auto s = ParseSettings(
        std::string("[node]\nname = \"a\"\nstate_dir = \"/x\"\n[secondary]\n") + bad + "\n",
        "t.toml");
    ASSERT_FALSE(s.ok()) << bad;
    EXPECT_NE(s.status().message().find("secondary."), std::string::npos) << s.status().message();
  }
}

// The scheduler with a fake clock: it runs at the due times only, only when the node may sync,
// warns about slow syncs, and restarts from the next StartTime when the schedule is saved.
TEST(ScheduleTest, SchedulerKeepsItsTimes) {
  NodeInfo node;
  node.ha_enabled = true;
  node.schedule_anchor = kMidnight + 12 * 3600;  // saved at noon
  std::vector<int64_t> ran;
  std::vector<std::string> events;
  int64_t now = kMidnight + 12 * 3600;
  double took = 10;
  Scheduler sched(
      13 * 60, 4 * 3600,
      {.state = [&]() -> Result<NodeInfo> { return node; },
       .sync = [&]() -> Result<double> {
         ran.push_back(now);
         return took;
       },
       .event = [&](const std::string& kind, const std::string&) { events.push_back(kind); }});
  // Drive the clock minute by minute over a day.
  for (; now < kMidnight + kDay; now += 60) sched.Tick(now);
  EXPECT_EQ(ran, (std::vector<int64_t>{kMidnight + 13 * 3600, kMidnight + 17 * 3600,
                                       kMidnight + 21 * 3600}));
  // HA disabled: nothing runs; a Primary or an Active node: nothing runs.
  node.ha_enabled = false;
  for (; now < kMidnight + kDay + 6 * 3600; now += 60) sched.Tick(now);
  node.ha_enabled = true;
  node.mode = Mode::kPrimary;
  for (; now < kMidnight + kDay + 12 * 3600; now += 60) sched.Tick(now);
  EXPECT_EQ(ran.size(), 3u);
  // Back to Secondary; a sync taking more than half of Run Every raises a warning.
  node.mode = Mode::kSecondary;
  took = 3 * 3600;
  for (; now < kMidnight + kDay + 14 * 3600; now += 60) sched.Tick(now);
  EXPECT_EQ(ran.back(), kMidnight + kDay + 13 * 3600);
  EXPECT_EQ(events, std::vector<std::string>{"sync-slow"});
  // Saving the schedule at 15:00 restarts it from the next StartTime (tomorrow 13:00).
  took = 10;
  node.schedule_anchor = now;
  size_t before = ran.size();
  for (; now < kMidnight + 2 * kDay + 12 * 3600; now += 60) sched.Tick(now);
  EXPECT_EQ(ran.size(), before);
  for (; now < kMidnight + 2 * kDay + 13 * 3600 + 60; now += 60) sched.Tick(now);
  EXPECT_EQ(ran.back(), kMidnight + 2 * kDay + 13 * 3600);
}

// Every sync opens the node state in two processes: the WAL outlives the last connection (its
// re-creation cost two fsyncs per open), and InTransaction's writes commit together or not at all.
TEST(NodeStateTest, TheWalPersistsAndATransactionCommitsAsOne) {
  std::string dir = testing::MakeTempDir();
  Settings s = TestSettings(dir);
  {
    auto state = NodeState::Open(s);
    ASSERT_TRUE(state.ok()) << state.status().ToString();
    ASSERT_TRUE((*state)->AddEvent("one", "first").ok());
  }
  EXPECT_TRUE(std::filesystem::exists(dir + "/node.db-wal")) << "kept after the last close";
  auto state = NodeState::Open(s);
  ASSERT_TRUE(state.ok());
  size_t before = (*state)->Events(100)->size();
  Status st = (*state)->InTransaction([&] {
    (void)(*state)->AddEvent("two", "second");
    (void)(*state)->AddEvent("three", "third");
  });
  ASSERT_TRUE(st.ok()) << st.ToString();
  EXPECT_EQ((*state)->Events(100)->size(), before + 2);
  // A transaction cannot begin inside another: the error is returned and fn never runs.
  bool ran = false;
  st = (*state)->InTransaction([&] {
    Status inner = (*state)->InTransaction([&] { ran = true; });
    EXPECT_FALSE(inner.ok());
  });
  EXPECT_TRUE(st.ok()) << st.ToString();
  EXPECT_FALSE(ran);
}

// The upgrade procedure's temporary Primary: with HA disabled, `failover mode primary` keeps
// the generation; HA cannot be enabled until it is a Secondary again or takes over for real.
TEST(NodeStateTest, AMaintenancePrimaryKeepsItsGenerationAndBlocksHaEnable) {
  std::string dir = testing::MakeTempDir();
  Settings s = TestSettings(dir);
  auto state = NodeState::Open(s);
  ASSERT_TRUE(state.ok()) << state.status().ToString();
  Lineage primary = StartGeneration({}, "mdm-a", 1000);
  ASSERT_TRUE((*state)->AdoptLineage(primary).ok());
  auto refused = (*state)->EnterMaintenance("with HA on");
  ASSERT_FALSE(refused.ok()) << "HA enabled: a maintenance Primary needs HA disabled";
  EXPECT_EQ(refused.status().code(), Code::kUsage);
  ASSERT_TRUE((*state)->SetHaEnabled(false).ok());
  EXPECT_TRUE((*state)->EnterMaintenance("upgrade").value());
  EXPECT_FALSE((*state)->EnterMaintenance("again").value());
  auto n = (*state)->Get();
  EXPECT_EQ(n->mode, Mode::kPrimary);
  EXPECT_TRUE(n->maintenance);
  EXPECT_EQ(n->lineage, primary) << "no new generation";
  Status enable = (*state)->SetHaEnabled(true);
  EXPECT_EQ(enable.code(), Code::kUsage) << enable.ToString();
  EXPECT_NE(enable.message().find("failover mode secondary"), std::string::npos);
  EXPECT_FALSE((*state)->Get()->ha_enabled);
  EXPECT_TRUE((*state)->Demote("upgraded").value());
  n = (*state)->Get();
  EXPECT_FALSE(n->maintenance);
  EXPECT_EQ(n->lineage, primary);
  EXPECT_TRUE((*state)->SetHaEnabled(true).ok());
  // Taking over for real from maintenance starts a generation.
  ASSERT_TRUE((*state)->SetHaEnabled(false).ok());
  EXPECT_TRUE((*state)->EnterMaintenance("upgrade").value());
  EXPECT_TRUE((*state)->Promote("take over").value());
  n = (*state)->Get();
  EXPECT_FALSE(n->maintenance);
  EXPECT_EQ(n->generation, 2u);
}

TEST(NodeStateTest, PromotionIsIdempotentAndStartsANewGeneration) {
  std::string dir = testing::MakeTempDir();
  Settings s = TestSettings(dir);
  auto state = NodeState::Open(s);
  ASSERT_TRUE(state.ok()) << state.status().ToString();
  auto n = (*state)->Get();
  ASSERT_TRUE(n.ok());
  EXPECT_TRUE(n->ha_enabled);
  EXPECT_EQ(n->mode, Mode::kSecondary);
  EXPECT_EQ(n->generation, 0u) << "a new Secondary holds no generation until its first sync";
  // A sync adopts its source's lineage; a promotion starts a generation on top of it.
  Lineage primary = StartGeneration({}, "mdm-a", 1000);
  ASSERT_TRUE((*state)->AdoptLineage(primary).ok());
  EXPECT_EQ((*state)->Get()->generation, 1u);
  EXPECT_TRUE((*state)->Promote("test").value());
  EXPECT_FALSE((*state)->Promote("again").value());
  n = (*state)->Get();
  EXPECT_EQ(n->mode, Mode::kPrimary);
  EXPECT_EQ(n->status, NodeStatus::kActive);
  EXPECT_EQ(n->generation, 2u);
  ASSERT_EQ(n->lineage.size(), 2u);
  EXPECT_EQ(n->lineage[0], primary[0]);
  EXPECT_EQ(n->lineage[1].node, "mdm-b");
  EXPECT_TRUE(n->serving());
  // Superseded: not serving, one event; promoting again takes the role back (generation 3).
  EXPECT_TRUE((*state)->SetSuperseded("mdm-a is Primary in a newer generation").value());
  EXPECT_FALSE((*state)->SetSuperseded("mdm-a is Primary in a newer generation").value());
  EXPECT_FALSE((*state)->Get()->serving());
  EXPECT_TRUE((*state)->Promote("take it back").value());
  EXPECT_EQ((*state)->Get()->generation, 3u);
  EXPECT_TRUE((*state)->Get()->superseded.empty());
  EXPECT_TRUE((*state)->Demote("back").value());
  EXPECT_EQ((*state)->Get()->generation, 3u) << "demotion keeps the generation";
  EXPECT_FALSE((*state)->SetSuperseded("late news").value()) << "a Secondary is never superseded";
  EXPECT_TRUE((*state)->Get()->superseded.empty());
  // The state survives a reopen, and the settings no longer override it.
  ASSERT_TRUE((*state)->SetClientConnections(false).ok());
  state->reset();
  auto again = NodeState::Open(s);
  ASSERT_TRUE(again.ok());
  EXPECT_FALSE((*again)->Get()->client_connections);
  auto events = (*again)->Events(10);
  ASSERT_TRUE(events.ok());
  ASSERT_GE(events->size(), 3u);
  EXPECT_EQ(events->back().kind, "promoted");
  std::filesystem::remove_all(dir);
}

TEST(NodeStateTest, ASyncWhoseProcessDiedIsRecordedAsInterrupted) {
  std::string dir = testing::MakeTempDir();
  Settings s = TestSettings(dir);
  pid_t pid = ::fork();
  if (pid == 0) {
    auto state = NodeState::Open(s);
    if (!state.ok() || !(*state)->BeginSync("scheduled", "mdm-a").ok()) ::_exit(1);
    ::_exit(0);  // dies mid-sync: the row stays "running"
  }
  int ws = 0;
  ::waitpid(pid, &ws, 0);
  ASSERT_EQ(WEXITSTATUS(ws), 0);
  auto state = NodeState::Open(s);
  ASSERT_TRUE(state.ok());
  auto rows = (*state)->History(10);
  ASSERT_TRUE(rows.ok());
  ASSERT_EQ(rows->size(), 1u);
  EXPECT_EQ(rows->front().result, "interrupted");
  EXPECT_EQ(rows->front().trigger, "scheduled");
  EXPECT_FALSE((*state)->Running()->has_value());
  std::filesystem::remove_all(dir);
}

TEST(ConfigEditTest, SetsOneKeyAndKeepsTheRest) {
  std::string text =
      "# the node\n[node]\nname = \"b\"\n\n[secondary]\nrun_every = \"60m\"  # hourly\n"
      "start_time = \"01:00\"\n[[files]]\nname = \"c\"\n";
  auto r = SetConfigValue(text, "secondary.run_every", "4h");
  ASSERT_TRUE(r.ok());
  EXPECT_NE(r->find("run_every = \"4h\"  # hourly\n"), std::string::npos) << *r;
  EXPECT_NE(r->find("# the node\n"), std::string::npos);
  r = SetConfigValue(text, "ha.enabled", "true");
  ASSERT_TRUE(r.ok());
  EXPECT_NE(r->find("[ha]\nenabled = true\n"), std::string::npos) << *r;
  r = SetConfigValue(text, "node.name", "say \"hi\"");
  ASSERT_TRUE(r.ok());
  EXPECT_NE(r->find("name = \"say \\\"hi\\\"\"\n"), std::string::npos) << *r;
  EXPECT_FALSE(SetConfigValue(text, "run_every", "4h").ok());
  EXPECT_FALSE(SetConfigValue(text, "files.root", "/x").ok());
  EXPECT_EQ(MaskConninfo("host=a password=secret dbname=m"), "host=a password=*** dbname=m");
  EXPECT_EQ(MaskConninfo("postgres://u:pw@h/db"), "postgres://u:***@h/db");
}

// The conninfo mask hides exactly what libpq reads as the password: a quoted value with an
// escaped quote or space (password='a\'b c') and an unquoted one with an escaped space.
TEST(ConfigEditTest, MaskConninfoHidesPasswordsWithEscapes) {
  EXPECT_EQ(MaskConninfo("host=a password='a\\'b c' dbname=m"), "host=a password=*** dbname=m");
  EXPECT_EQ(MaskConninfo("password = 'x\\\\' user=u"), "password = *** user=u");
  EXPECT_EQ(MaskConninfo("password=a\\ b&c host=h"), "password=*** host=h");
  EXPECT_EQ(MaskConninfo("password='unterminated"), "password=***");
  EXPECT_EQ(MaskConninfo("host=h"), "host=h");
}

// An operator writes a URL password unencoded: '/', '?' and '#' in it must not end the mask.
TEST(NotifyPolicyTest, MaskUrlPasswordHidesPasswordsWithSlashQueryOrHash) {
  EXPECT_EQ(MaskUrlPassword("smtp://u:se/cr?et#x@mail:25"), "smtp://mail:25");
  EXPECT_EQ(MaskUrlPassword("https://u:a/b@witness/ok"), "https://witness/ok");
  EXPECT_EQ(MaskUrlPassword("smtp://u:p?w@mail"), "smtp://mail");
  EXPECT_EQ(MaskUrlPassword("http://witness/ok"), "http://witness/ok");
  EXPECT_EQ(MaskUrlPassword("no url"), "no url");
}

// The promote hook and the notify command see PATH, HOME, LANG, LC_*, TZ and their HASYNC_*
// fields only: the daemon's PGPASSWORD (or anything else it was started with) stays out.
TEST(NodeStateTest, HooksGetOnlyTheirOwnEnvironment) {
  std::string dir = testing::MakeTempDir();
  Settings s = TestSettings(dir);
  s.ha.promote_hook = "env > " + dir + "/promote.env";
  s.notify.command = "env > " + dir + "/notify.env";
  ::setenv("PGPASSWORD", "hunter2", 1);
  ::setenv("HASYNC_TEST_SECRET", "s3", 1);
  ::setenv("LC_TIME", "C", 1);
  ASSERT_TRUE(PromoteNode(s, "test").value());
  EventRow e;
  e.id = 7;
  e.kind = "promoted";
  e.message = "m";
  ASSERT_TRUE(RunEventCommand(s, e, 3).ok());
  ::unsetenv("PGPASSWORD");
  ::unsetenv("HASYNC_TEST_SECRET");
  for (const char* f : {"/promote.env", "/notify.env"}) {
    std::string env = testing::ReadFile(dir + f);
    EXPECT_EQ(env.find("PGPASSWORD"), std::string::npos) << f << ":\n" << env;
    EXPECT_EQ(env.find("HASYNC_TEST_SECRET"), std::string::npos) << f << ":\n" << env;
    EXPECT_NE(env.find("HASYNC_NODE=mdm-b"), std::string::npos) << f << ":\n" << env;
    EXPECT_NE(env.find("HASYNC_GENERATION="), std::string::npos) << f << ":\n" << env;
    EXPECT_NE(env.find("LC_TIME=C"), std::string::npos) << f << ":\n" << env;
    EXPECT_NE(("\n" + env).find("\nPATH="), std::string::npos) << f << ":\n" << env;
  }
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace hasync::engine
