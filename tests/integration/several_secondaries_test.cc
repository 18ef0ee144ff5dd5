// Several Secondaries of one Primary (the guide's three-server layout, and a DR node that follows
// the Primary directly; issue 16): one Primary (mdm-a) serves two Secondaries (mdm-b, mdm-c) at
// once, files and database, several rounds with the Primary changing in between. Each ends equal
// to the Primary, each has its own replication slot, the serve sessions share no temporary file
// (the manifest cache used one fixed ".tmp" name), and the Primary reports each Secondary's
// retained WAL by node name.
#include <gtest/gtest.h>

#include <array>
#include <memory>
#include <set>
#include <thread>

#include <nlohmann/json.hpp>

#include "engine/db/db_serve.h"
#include "engine/files/manifests.h"
#include "engine/node/status_pages.h"
#include "tests/db_fixture.h"

namespace hasync {
namespace {

using testing::PgCluster;
namespace fs = std::filesystem;

constexpr char kSchema[] = R"sql(
CREATE TABLE devices (id int PRIMARY KEY, name text NOT NULL, seen timestamptz);
CREATE TABLE events (id bigserial PRIMARY KEY, device int REFERENCES devices (id), payload text);
INSERT INTO devices SELECT g, 'device ' || g, now() FROM generate_series(1, 2000) g;
INSERT INTO events (device, payload) SELECT 1 + g % 2000, md5(g::text) FROM generate_series(1, 5000) g;
)sql";

// One Secondary: its node name, root, state folder, settings file and PostgreSQL cluster.
struct Secondary {
  std::string name;
  std::string root;
  std::string config;
  PgCluster* pg = nullptr;
};

class SeveralSecondariesTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    primary_pg_ = PgCluster::Start().release();
    for (PgCluster*& c : secondary_pg_) {
      c = PgCluster::Start().release();
      if (c != nullptr) c->CreateApplyRole();
    }
  }
  static void TearDownTestSuite() {
    delete primary_pg_;
    for (PgCluster* c : secondary_pg_) delete c;
  }

  void SetUp() override {
    ASSERT_NE(primary_pg_, nullptr);
    for (PgCluster* c : secondary_pg_) ASSERT_NE(c, nullptr);
    db_ = "t" + std::to_string(++counter_);
    dir_ = testing::MakeTempDir();
    primary_pg_->Exec("postgres", "CREATE DATABASE " + db_);
    fs::create_directories(dir_ + "/p");
    fs::create_directories(dir_ + "/pstate");
    testing::WriteFile(dir_ + "/primary.toml",
                       Config("mdm-a", "p", "pstate", primary_pg_->Conninfo(db_)) +
                           "[ha]\nmode = \"primary\"\nnode_status = \"active\"\n");
    const char* names[] = {"mdm-b", "mdm-c"};
    for (size_t i = 0; i < secondaries_.size(); ++i) {
      Secondary& n = secondaries_[i];
      n.name = names[i];
      n.pg = secondary_pg_[i];
      n.pg->Exec("postgres", "CREATE DATABASE " + db_);
      n.pg->GrantApply(db_);
      n.root = dir_ + "/" + n.name;
      n.config = dir_ + "/" + n.name + ".toml";
      fs::create_directories(n.root);
      fs::create_directories(dir_ + "/" + n.name + "-state");
      testing::WriteFile(n.config,
                         Config(n.name, n.name, n.name + "-state", n.pg->ApplyConninfo(db_)));
    }
  }

  void TearDown() override {
    primary_pg_->Exec("postgres",
                      "SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots "
                      "WHERE database = '" +
                          db_ + "'");
    primary_pg_->Exec("postgres", "DROP DATABASE " + db_ + " WITH (FORCE)");
    for (const Secondary& n : secondaries_)
      n.pg->Exec("postgres", "DROP DATABASE " + db_ + " WITH (FORCE)");
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }

  std::string Config(const std::string& name, const std::string& root, const std::string& state,
                     const std::string& conninfo) const {
    return "[node]\nname = \"" + name + "\"\nstate_dir = \"" + dir_ + "/" + state +
           "\"\nsoftware_version = \"1.0\"\n[[files]]\nname = \"data\"\nroot = \"" + dir_ + "/" +
           root + "\"\n[database]\nconninfo = \"" + conninfo + "\"\n";
  }

  // Runs the hasync binary as Secondary n against a serve process of the Primary's (the
  // transport, as sshd would start it); both processes' messages go to logs of n's own.
  int SyncProcess(const Secondary& n) const {
    std::string serve = HASYNC_BIN " serve --stdio --log-level warn --config " + dir_ +
                        "/primary.toml 2>>" + ServeLog(n);
    std::string cmd = HASYNC_BIN " sync --log-level warn --config " + n.config + " --transport '" +
                      serve + "' >>" + dir_ + "/sync-" + n.name + ".log 2>&1";
    int st = std::system(cmd.c_str());
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
  }
  std::string ServeLog(const Secondary& n) const { return dir_ + "/serve-" + n.name + ".log"; }

  // Both Secondaries sync at the same time; their exit codes.
  std::array<int, 2> SyncBoth() const {
    std::array<int, 2> codes{-1, -1};
    std::thread b([&] { codes[0] = SyncProcess(secondaries_[0]); });
    std::thread c([&] { codes[1] = SyncProcess(secondaries_[1]); });
    b.join();
    c.join();
    return codes;
  }

  // Each Secondary equals the Primary, in files and rows.
  void ExpectBothEqual(int round) const {
    std::string rows = testing::Contents(*primary_pg_, db_);
    for (const Secondary& n : secondaries_) {
      EXPECT_EQ(testing::TreeDiff(dir_ + "/p", n.root), "") << n.name << ", round " << round;
      EXPECT_EQ(testing::Contents(*n.pg, db_), rows) << n.name << ", round " << round;
    }
  }

  // The serve side's manifest cache after concurrent sessions: whole and loadable, no session
  // warned about it, and no temporary left beside it.
  void ExpectServeCacheWhole() const {
    std::string cache_dir = dir_ + "/pstate/serve";
    Env* env = Env::Default().value();
    auto m = snapshot::Manifest::Load(*env, cache_dir + "/data.manifest");
    ASSERT_TRUE(m.ok()) << m.status().ToString();
    EXPECT_FALSE(m->entries().empty());
    for (const auto& e : fs::directory_iterator(cache_dir)) {
      EXPECT_EQ(e.path().filename(), "data.manifest") << "left in the serve cache's folder";
    }
    for (const Secondary& n : secondaries_) {
      std::string log = testing::ReadFile(ServeLog(n));
      EXPECT_EQ(log.find("manifest cache"), std::string::npos) << n.name << "'s serve:\n" << log;
    }
  }

  std::string PrimaryConninfo() const { return primary_pg_->Conninfo(db_); }
  void P(const std::string& sql) const { primary_pg_->Exec(db_, sql); }

  static inline PgCluster* primary_pg_ = nullptr;
  static inline std::array<PgCluster*, 2> secondary_pg_{};
  static inline int counter_ = 0;
  std::string db_;
  std::string dir_;
  std::array<Secondary, 2> secondaries_;
};

// The Primary changes between rounds: files added, changed and deleted, rows inserted, updated
// and deleted. Each round both Secondaries sync at once and each ends equal to the Primary.
TEST_F(SeveralSecondariesTest, TwoSecondariesSyncAtOnceAndBothEndEqual) {
  std::string p = dir_ + "/p";
  testing::MakeSampleTree(p);
  fs::remove(p + "/scratch.tmp");  // no exclude here: keep the trees comparable as they are
  for (int i = 0; i < 300; ++i) {
    testing::WriteFile(p + "/many/f" + std::to_string(i), testing::RandomBytes(9000, 100 + i));
  }
  P(kSchema);
  for (int round = 0; round < 3; ++round) {
    if (round > 0) {
      std::string r = std::to_string(round);
      testing::WriteFile(p + "/round" + r + ".bin", testing::RandomBytes(300000, 10 + round));
      fs::remove(p + "/round" + std::to_string(round - 1) + ".bin");
      testing::WriteFile(p + "/many/f" + r, testing::RandomBytes(9000, 1000 + round));
      testing::WriteFile(p + "/app/medium.bin", testing::RandomBytes(300000, 20 + round));
      P("INSERT INTO devices SELECT g, 'round " + r + "', now() FROM generate_series(" +
        std::to_string(10000 * round) + ", " + std::to_string(10000 * round + 499) + ") g");
      P("UPDATE devices SET name = name || ' r" + r + "' WHERE id % 7 = " + r);
      P("DELETE FROM events WHERE id % 11 = " + r);
      P("INSERT INTO events (device, payload) SELECT 1 + g % 2000, 'r" + r +
        "' FROM generate_series(1, 300) g");
    }
    std::array<int, 2> codes = SyncBoth();
    EXPECT_EQ(codes[0], 0) << testing::ReadFile(dir_ + "/sync-mdm-b.log")
                           << testing::ReadFile(ServeLog(secondaries_[0]));
    EXPECT_EQ(codes[1], 0) << testing::ReadFile(dir_ + "/sync-mdm-c.log")
                           << testing::ReadFile(ServeLog(secondaries_[1]));
    ExpectBothEqual(round);
    ExpectServeCacheWhole();
  }
  // One slot per Secondary, named for it; the syncs' temporary slots are gone.
  EXPECT_EQ(primary_pg_->Rows(db_,
                              "SELECT slot_name, temporary FROM pg_replication_slots WHERE "
                              "database = current_database() ORDER BY 1"),
            "hasync_mdm_b|f\nhasync_mdm_c|f\n");
}

// The Primary reports what each Secondary's slot retains, named by node: /metrics has a line
// per slot with a node label, and `hasync status` on the Primary lists each Secondary. A
// Secondary that has not synced since the Primary wrote holds that WAL; the other does not
// hold it for it. A retired Secondary's slot, once dropped, is no longer reported and the
// other Secondary goes on.
TEST_F(SeveralSecondariesTest, RetentionIsReportedPerSecondary) {
  testing::WriteFile(dir_ + "/p/a.txt", "a");
  P(kSchema);
  std::array<int, 2> codes = SyncBoth();
  ASSERT_EQ(codes[0], 0) << testing::ReadFile(dir_ + "/sync-mdm-b.log");
  ASSERT_EQ(codes[1], 0) << testing::ReadFile(dir_ + "/sync-mdm-c.log");
  // About 8 MiB of WAL that only mdm-b receives.
  P("INSERT INTO events (device, payload) SELECT 1 + g % 2000, repeat(md5(g::text), 4) FROM "
    "generate_series(1, 40000) g");
  ASSERT_EQ(SyncProcess(secondaries_[0]), 0) << testing::ReadFile(dir_ + "/sync-mdm-b.log");
  ExpectServeCacheWhole();

  auto slots = engine::SlotRetention(PrimaryConninfo());
  ASSERT_TRUE(slots.ok()) << slots.status().ToString();
  ASSERT_EQ(slots->size(), 2u);
  EXPECT_EQ((*slots)[0].first, "hasync_mdm_b");
  EXPECT_EQ((*slots)[1].first, "hasync_mdm_c");
  EXPECT_GE((*slots)[1].second, uint64_t{4} << 20) << "mdm-c has not received the inserts yet";

  engine::NodeSnapshot n;
  n.node_name = "mdm-a";
  n.slots = *slots;
  std::string metrics = engine::MetricsPage(n, {.details = true}).body;
  for (const auto& [slot, bytes] : *slots) {
    std::string node = slot == "hasync_mdm_b" ? "mdm-b" : "mdm-c";
    std::string line = "hasync_slot_wal_retained_bytes{slot=\"" + slot + "\",node=\"" + node +
                       "\"} " + std::to_string(bytes) + "\n";
    EXPECT_NE(metrics.find(line), std::string::npos) << line << metrics;
  }

  testing::Cmd status =
      testing::Shell(HASYNC_BIN " status --json --config " + dir_ + "/primary.toml 2>/dev/null");
  ASSERT_EQ(status.code, 0) << status.out;
  auto j = nlohmann::json::parse(status.out, nullptr, false);
  ASSERT_FALSE(j.is_discarded()) << status.out;
  ASSERT_EQ(j["slots"].size(), 2u) << status.out;
  EXPECT_EQ(j["slots"][0]["node"], "mdm-b");
  EXPECT_EQ(j["slots"][1]["node"], "mdm-c");
  EXPECT_EQ(j["slots"][1]["slot"], "hasync_mdm_c");
  EXPECT_GE(j["slots"][1]["wal_retained_bytes"].get<uint64_t>(), uint64_t{4} << 20);
  std::set<std::string> served;  // the guide's HA Status: each Secondary that synced from here
  for (const auto& p : j["served"]) served.insert(p["peer"].get<std::string>());
  EXPECT_EQ(served, (std::set<std::string>{"mdm-b", "mdm-c"})) << status.out;
  testing::Cmd text = testing::Shell(HASYNC_BIN " status --config " + dir_ + "/primary.toml");
  EXPECT_NE(text.out.find("Secondary mdm-c: replication slot hasync_mdm_c retains"),
            std::string::npos)
      << text.out;

  // mdm-c is retired: its slot is dropped on the Primary (docs/operating.md), mdm-b goes on.
  P("SELECT pg_drop_replication_slot('hasync_mdm_c')");
  P("UPDATE devices SET name = 'after mdm-c left' WHERE id = 1");
  ASSERT_EQ(SyncProcess(secondaries_[0]), 0) << testing::ReadFile(dir_ + "/sync-mdm-b.log");
  EXPECT_EQ(testing::Contents(*secondaries_[0].pg, db_), testing::Contents(*primary_pg_, db_));
  slots = engine::SlotRetention(PrimaryConninfo());
  ASSERT_TRUE(slots.ok());
  ASSERT_EQ(slots->size(), 1u);
  EXPECT_EQ((*slots)[0].first, "hasync_mdm_b");
}

}  // namespace
}  // namespace hasync
