// Whole syncs between two real processes (the Primary's `hasync serve` as a child), on both I/O
// backends: initial, incremental, no-change, dry run, every kind of entry.
#include <gtest/gtest.h>
#include <sys/stat.h>

#include "common/fault_env.h"
#include "tests/pair.h"

namespace hasync {
namespace {

using testing::Pair;
namespace fs = std::filesystem;

class SyncTest : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    if (GetParam() == "posix") {
      env_ = NewPosixEnv();
    } else {
      env_ = NewUringEnv().value();
    }
    serve_env_ = "HASYNC_IO=" + GetParam();
  }
  Result<engine::SyncSummary> Sync() { return pair_.Sync(env_.get(), pair_.Serve(serve_env_)); }
  std::unique_ptr<Env> env_;
  std::string serve_env_;
  Pair pair_;
};

TEST_P(SyncTest, InitialSyncMakesAnIdenticalTree) {
  testing::MakeSampleTree(pair_.primary());
  auto r = Sync();
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  fs::remove(pair_.primary() + "/scratch.tmp");  // excluded: never copied
  EXPECT_EQ(testing::TreeDiff(pair_.primary(), pair_.secondary()), "");
  EXPECT_EQ(fs::hard_link_count(pair_.secondary() + "/users/local.db"), 2u);
  EXPECT_FALSE(fs::exists(pair_.secondary() + "/.hasync-staging"));
  EXPECT_EQ(r->files_scanned, 7u);
}

TEST_P(SyncTest, NoChangeSyncMovesNoDataAndChangesNothing) {
  testing::MakeSampleTree(pair_.primary());
  auto first = Sync();
  ASSERT_TRUE(first.ok()) << first.status().ToString();
  // The check after the initial commit looks at each entry it made again (a few: no scan).
  EXPECT_EQ(first->verify_rescanned_roots, 0u);
  EXPECT_GE(first->verify_looked_again, 7u) << "what the commit made is looked at again";
  auto before = testing::ScanTree(pair_.secondary());
  auto r = Sync();
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->files_changed + r->files_deleted + r->meta_changed, 0u);
  EXPECT_EQ(r->bytes_changed, 0u);
  // The default check after the commit ("counts") reuses the sync's own scan: one scan in all.
  EXPECT_EQ(r->verified, "counts");
  EXPECT_EQ(r->verify_rescanned_roots, 0u);
  EXPECT_EQ(r->verify_looked_again, 0u);
  auto after = testing::ScanTree(pair_.secondary());
  EXPECT_TRUE(verify::DiffManifests(before, after, {}).empty());
}

TEST_P(SyncTest, IncrementalSyncSendsOnlyChangedBlocks) {
  testing::MakeSampleTree(pair_.primary());
  ASSERT_TRUE(Sync().ok());
  // One block changed in place in the 6 MiB file, one file appended, one deleted, one added.
  {
    std::fstream f(pair_.primary() + "/app/big.bin",
                   std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(3 * 65536 + 10);  // inside one 8 KiB block
    f << "CHANGED";
  }
  { std::ofstream(pair_.primary() + "/app/medium.bin", std::ios::app) << "appended"; }
  fs::remove(pair_.primary() + "/certs/ca.pem");
  testing::WriteFile(pair_.primary() + "/certs/new.pem", "new");
  ::chmod((pair_.primary() + "/certs/server.pem").c_str(), 0400);
  auto r = Sync();
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  fs::remove(pair_.primary() + "/scratch.tmp");
  EXPECT_EQ(testing::TreeDiff(pair_.primary(), pair_.secondary()), "");
  EXPECT_EQ(r->files_deleted, 1u);
  EXPECT_LE(r->bytes_changed, 4u * snapshot::kBlockSize) << "only changed blocks travel";
  // big.bin, medium.bin, new.pem; and server.pem, whose chmod changed its ctime on the Primary:
  // it is re-checked block by block (no bytes move, as bytes_changed shows).
  EXPECT_EQ(r->files_changed, 4u);
}

TEST_P(SyncTest, InsertionsTravelAsARollingDelta) {
  // 72 MiB: two delta ranges on the Primary. Insertions (one near the range boundary) and a
  // deletion shift everything after them, which blocks alone would re-send whole.
  std::string data = testing::RandomBytes(72 << 20, 9);
  testing::WriteFile(pair_.primary() + "/app/package.ipa", data);
  ASSERT_TRUE(Sync().ok());
  std::string changed = data;
  changed.insert(5 << 20, testing::RandomBytes(100, 10));
  changed.erase(30 << 20, 50);
  changed.insert((64 << 20) - 3, testing::RandomBytes(100, 11));
  changed.insert(70 << 20, testing::RandomBytes(100, 12));
  testing::WriteFile(pair_.primary() + "/app/package.ipa", changed);
  auto r = Sync();
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(testing::ReadFile(pair_.secondary() + "/app/package.ipa"), changed);
  EXPECT_EQ(r->files_changed, 1u);
  EXPECT_LT(r->bytes_wire, 1u << 20) << "a delta, not the 72 MiB";
}

TEST_P(SyncTest, AFileEndingInAHoleOrZerosKeepsItsSize) {
  // A hole at the end is never written into the staged file, nor are zero blocks a delta's
  // rebuild skips: the staged file's last write ends before the file does, and it is given its
  // size at the end (FinishFile's truncate). Without it the check after the commit fails.
  const std::string path = pair_.primary() + "/app/package.ipa";
  testing::WriteFile(path, testing::RandomBytes(3 << 20, 21));
  fs::resize_file(path, 4 << 20);  // a trailing hole of 1 MiB (where the file system has them)
  auto r = Sync();
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(fs::file_size(pair_.secondary() + "/app/package.ipa"), 4u << 20);
  std::string data = testing::ReadFile(path);
  data.insert(1 << 20, testing::RandomBytes(100, 22));
  testing::WriteFile(path, data);
  r = Sync();
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(testing::ReadFile(pair_.secondary() + "/app/package.ipa"), data);
  EXPECT_LT(r->bytes_wire, 1u << 20) << "a delta";
}

TEST_P(SyncTest, RewrittenFileOfNewSizeFallsBackToBlocks) {
  testing::WriteFile(pair_.primary() + "/app/package.ipa", testing::RandomBytes(3 << 20, 13));
  ASSERT_TRUE(Sync().ok());
  // Nothing in common: every range's delta passes the work cap, so blocks travel instead.
  std::string fresh = testing::RandomBytes((3 << 20) + 12345, 14);
  testing::WriteFile(pair_.primary() + "/app/package.ipa", fresh);
  auto r = Sync();
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(testing::ReadFile(pair_.secondary() + "/app/package.ipa"), fresh);
  EXPECT_GE(r->bytes_changed, fresh.size());
  EXPECT_LT(r->bytes_wire, fresh.size() + (1u << 20));
}

TEST_P(SyncTest, TypeChangesAreApplied) {
  testing::MakeSampleTree(pair_.primary());
  ASSERT_TRUE(Sync().ok());
  fs::remove_all(pair_.primary() + "/empty");
  testing::WriteFile(pair_.primary() + "/empty", "now a file");
  fs::remove(pair_.primary() + "/app/empty.txt");
  fs::create_directories(pair_.primary() + "/app/empty.txt/inner");
  fs::remove(pair_.primary() + "/app/server-link");
  fs::create_symlink("elsewhere", pair_.primary() + "/app/server-link");
  auto r = Sync();
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  fs::remove(pair_.primary() + "/scratch.tmp");
  EXPECT_EQ(testing::TreeDiff(pair_.primary(), pair_.secondary()), "");
}

TEST_P(SyncTest, LocalDamageOnTheSecondaryIsRepairedByTheNextSync) {
  testing::MakeSampleTree(pair_.primary());
  ASSERT_TRUE(Sync().ok());
  testing::WriteFile(pair_.secondary() + "/certs/server.pem", "tampered");
  testing::WriteFile(pair_.secondary() + "/stray.txt", "stray");
  ASSERT_TRUE(Sync().ok());
  fs::remove(pair_.primary() + "/scratch.tmp");
  EXPECT_EQ(testing::TreeDiff(pair_.primary(), pair_.secondary()), "");
}

TEST_P(SyncTest, DryRunListsChangesAndChangesNothing) {
  testing::MakeSampleTree(pair_.primary());
  auto s = engine::LoadSettings(pair_.secondary_config());
  ASSERT_TRUE(s.ok());
  auto r = engine::RunSync(
      *s, {.transport_command = pair_.Serve(serve_env_), .dry_run = true, .env = env_.get()});
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_FALSE(r->actions.empty());
  EXPECT_TRUE(fs::is_empty(pair_.secondary()));
}

TEST_P(SyncTest, ChecksumModeFindsChangesTheQuickCheckMisses) {
  testing::WriteFile(pair_.primary() + "/f", "aaaa");
  ASSERT_TRUE(Sync().ok());
  // Same size and mtime, different bytes: only --checksum can see it on the Primary.
  auto mtime = fs::last_write_time(pair_.primary() + "/f");
  testing::WriteFile(pair_.primary() + "/f", "bbbb");
  fs::last_write_time(pair_.primary() + "/f", mtime);
  auto s = engine::LoadSettings(pair_.secondary_config());
  auto r = engine::RunSync(
      *s, {.transport_command = pair_.Serve(serve_env_), .rehash_all = true, .env = env_.get()});
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(testing::ReadFile(pair_.secondary() + "/f"), "bbbb");
}

INSTANTIATE_TEST_SUITE_P(Backends, SyncTest, ::testing::Values("posix", "uring"),
                         [](const auto& param_info) { return param_info.param; });

// The Secondary's own excludes hold for what the Primary sends: a file it excludes is neither
// overwritten, created nor deleted (nor a hard link's excluded first path), the post-sync check
// and `hasync verify` agree, and a file linked to an excluded one arrives as a file of its own.
TEST_P(SyncTest, TheSecondarysOwnExcludesProtectItsFiles) {
  testing::MakeSampleTree(pair_.primary());
  testing::WriteFile(pair_.primary() + "/certs/local.cfg", "the Primary's");
  testing::WriteFile(pair_.primary() + "/app/only-primary.cfg", "not wanted here");
  testing::WriteFile(pair_.secondary() + "/certs/local.cfg", "the Secondary's");
  testing::WriteFile(pair_.secondary() + "/certs/node.key", "the Secondary's own");
  pair_.SetSecondaryExclude(R"(["*.tmp", "*.cfg", "node.key", "local-hard.db"])");
  auto s = engine::LoadSettings(pair_.secondary_config());
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  for (int round = 0; round < 2; ++round) {
    SCOPED_TRACE(round);
    engine::SyncOptions o{
        .transport_command = pair_.Serve(serve_env_), .verify_level = "full", .env = env_.get()};
    auto r = engine::RunSync(*s, o);
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    EXPECT_EQ(testing::ReadFile(pair_.secondary() + "/certs/local.cfg"), "the Secondary's");
    EXPECT_EQ(testing::ReadFile(pair_.secondary() + "/certs/node.key"), "the Secondary's own");
    EXPECT_FALSE(fs::exists(pair_.secondary() + "/app/only-primary.cfg"));
    EXPECT_FALSE(fs::exists(pair_.secondary() + "/users/local-hard.db"));
    EXPECT_EQ(testing::ReadFile(pair_.secondary() + "/users/local.db"),
              testing::ReadFile(pair_.primary() + "/users/local.db"));
    EXPECT_EQ(testing::ReadFile(pair_.secondary() + "/app/big.bin"),
              testing::ReadFile(pair_.primary() + "/app/big.bin"));
  }
  auto v = testing::Shell(std::string(HASYNC_BIN) + " verify --log-level error --config " +
                          pair_.secondary_config() + " --transport '" + pair_.Serve() + "'");
  EXPECT_EQ(v.code, 0) << v.out;
}

// A large sparse file is legitimate: it syncs (the bounds are on memory, not on listed sizes).
TEST_P(SyncTest, ALargeSparseFileSyncs) {
  fs::create_directories(pair_.primary() + "/vm");
  {
    std::ofstream f(pair_.primary() + "/vm/disk.img");
    f << "start";
  }
  fs::resize_file(pair_.primary() + "/vm/disk.img", 1ull << 30);
  auto r = Sync();
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(fs::file_size(pair_.secondary() + "/vm/disk.img"), 1ull << 30);
  EXPECT_EQ(testing::TreeDiff(pair_.primary(), pair_.secondary()), "");
}

// rsync -a -c -n -i -H finds nothing after a sync, the root's own mode and mtime included (its
// staging folder comes and goes inside it): after an initial, a no-change, a changed sync and
// one where only the Primary's root changed.
TEST_P(SyncTest, RsyncFindsNoDifferenceAfterEverySync) {
  testing::MakeSampleTree(pair_.primary());
  fs::remove(pair_.primary() + "/scratch.tmp");  // excluded: rsync would list it
  ::chmod(pair_.primary().c_str(), 0751);
  for (int round = 0; round < 4; ++round) {
    SCOPED_TRACE(round);
    if (round == 2) {
      testing::WriteFile(pair_.primary() + "/top.txt", "a new file in the root");
      fs::remove(pair_.primary() + "/certs/ca.pem");
    }
    if (round == 3) {
      fs::last_write_time(pair_.primary(),
                          fs::last_write_time(pair_.primary()) - std::chrono::hours(30));
    }
    auto r = Sync();
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    auto diff =
        testing::Shell("rsync -a -c -n -i -H " + pair_.primary() + "/ " + pair_.secondary() + "/");
    EXPECT_EQ(diff.code, 0);
    EXPECT_EQ(diff.out, "");
  }
}

// A sync that fails after its staging folder was made leaves the root's mtime as it was.
TEST_P(SyncTest, AFailedSyncLeavesTheRootsMtimeAlone) {
  testing::MakeSampleTree(pair_.primary());
  ASSERT_TRUE(Sync().ok());
  fs::last_write_time(pair_.secondary(),
                      fs::last_write_time(pair_.secondary()) - std::chrono::hours(5));
  auto before = fs::last_write_time(pair_.secondary());
  testing::WriteFile(pair_.primary() + "/certs/new.pem", testing::RandomBytes(100000, 3));
  FaultEnv full(*env_, FaultOptions{.no_space_after_bytes = 0});
  auto r = pair_.Sync(&full, pair_.Serve(serve_env_));
  ASSERT_FALSE(r.ok());
  EXPECT_FALSE(fs::exists(pair_.secondary() + "/.hasync-staging"));
  EXPECT_EQ(fs::last_write_time(pair_.secondary()), before);
}

TEST(SyncCliTest, JsonSummaryAndExitCodes) {
  Pair pair;
  testing::MakeSampleTree(pair.primary());
  std::string cmd = HASYNC_BIN " sync --json --log-level error --config " +
                    pair.secondary_config() + " --transport '" + pair.Serve() + "'";
  FILE* p = ::popen(cmd.c_str(), "r");
  std::string out;
  char buf[4096];
  while (size_t n = fread(buf, 1, sizeof buf, p)) out.append(buf, n);
  EXPECT_EQ(WEXITSTATUS(::pclose(p)), 0);
  EXPECT_NE(out.find("\"result\": \"ok\""), std::string::npos) << out;
  EXPECT_NE(out.find("\"bytes_wire\""), std::string::npos);
  EXPECT_EQ(std::system(HASYNC_BIN " sync --no-such-flag >/dev/null 2>&1") >> 8, 2);
  EXPECT_EQ(std::system(HASYNC_BIN " --help >/dev/null 2>&1"), 0);
}

// [sync] max_rate through `sync --max-rate`: the Secondary reads no faster than the limit, so a
// sync of N bytes on the wire lasts at least (N - burst) / rate. Only that lower bound is
// asserted (a loaded machine makes a sync slower, never faster); the rate itself is measured
// within 5% by bench/run.sh files --link wan. A bad value is a usage error naming the flag.
TEST(SyncCliTest, MaxRateHoldsTheSyncToTheLimit) {
  Pair pair;
  testing::MakeSampleTree(pair.primary());  // a 6 MiB random file: about 6.3 MB on the wire
  std::string cmd = HASYNC_BIN " sync --json --log-level error --max-rate 4MB --config " +
                    pair.secondary_config() + " --transport '" + pair.Serve() + "'";
  FILE* p = ::popen(cmd.c_str(), "r");
  std::string out;
  char buf[4096];
  while (size_t n = fread(buf, 1, sizeof buf, p)) out.append(buf, n);
  ASSERT_EQ(WEXITSTATUS(::pclose(p)), 0) << out;
  auto field = [&](const std::string& name) {
    size_t at = out.find("\"" + name + "\": ");
    EXPECT_NE(at, std::string::npos) << out;
    return at == std::string::npos ? 0.0 : std::stod(out.substr(at + name.size() + 4));
  };
  double wire = field("bytes_wire"), secs = field("duration_s");
  ASSERT_GT(wire, 6e6);
  EXPECT_GE(secs, (wire - 80000) / 4e6) << out;  // burst: 1/50 s of 4 MB/s
  fs::remove(pair.primary() + "/scratch.tmp");   // excluded: never copied
  EXPECT_EQ(testing::TreeDiff(pair.primary(), pair.secondary()), "");
  std::string bad = HASYNC_BIN " sync --log-level error --max-rate 4Mb --config " +
                    pair.secondary_config() + " --transport '" + pair.Serve() + "' 2>&1";
  p = ::popen(bad.c_str(), "r");
  out.clear();
  while (size_t n = fread(buf, 1, sizeof buf, p)) out.append(buf, n);
  EXPECT_EQ(WEXITSTATUS(::pclose(p)), 2) << out;
  EXPECT_NE(out.find("--max-rate: '4Mb'"), std::string::npos) << out;
}

}  // namespace
}  // namespace hasync
