// Failure paths: a killed Secondary at every kill point, a Primary that dies, corrupt frames,
// a hostile Primary, a full disk, failing fsync, a version mismatch, two syncs at once. After
// each, the Secondary holds exactly its old tree or the new one, and the next sync completes.
#include <gtest/gtest.h>

#include <thread>

#include "common/fault_env.h"
#include "engine/state/sync_lock.h"
#include "tests/pair.h"

namespace hasync {
namespace {

using testing::Pair;
namespace fs = std::filesystem;

class FaultTest : public ::testing::Test {
 protected:
  // Old state synced; the Primary then changes so the next sync has work of every kind.
  void SetUp() override {
    testing::MakeSampleTree(pair_.primary());
    fs::remove(pair_.primary() + "/scratch.tmp");
    ASSERT_TRUE(pair_.Sync().ok());
    old_ = testing::ScanTree(pair_.secondary());
    {
      std::fstream f(pair_.primary() + "/app/big.bin",
                     std::ios::in | std::ios::out | std::ios::binary);
      f.seekp(5 * 65536);
      f << "in place";
    }
    for (int i = 0; i < 20; ++i) {
      testing::WriteFile(pair_.primary() + "/new/f" + std::to_string(i),
                         testing::RandomBytes(90000, i));
    }
    fs::remove(pair_.primary() + "/certs/ca.pem");
    testing::WriteFile(pair_.primary() + "/app/medium.bin", testing::RandomBytes(400000, 99));
  }
  bool IsOld() {
    return verify::DiffManifests(old_, testing::ScanTree(pair_.secondary()), {}).empty();
  }
  bool IsNew() { return testing::TreeDiff(pair_.primary(), pair_.secondary()).empty(); }
  void ExpectUnchangedAndRecoverable() {
    EXPECT_TRUE(IsOld()) << testing::TreeDiff(pair_.primary(), pair_.secondary());
    auto r = pair_.Sync();
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    EXPECT_TRUE(IsNew());
  }
  Pair pair_;
  snapshot::Manifest old_;
};

TEST_F(FaultTest, KilledSecondaryLeavesOldOrNewTreeAndNextSyncCompletes) {
  const char* points[] = {
      "receive.data:1",         "receive.data:8",        "commit.staged:1",
      "commit.before-rename:1", "commit.after-rename:1", "rollforward.op:1",
      "rollforward.op:3",       "rollforward.op:12",     "rollforward.before-cleanup:1",
      "commit.manifest:1"};
  for (const char* point : points) {
    SCOPED_TRACE(point);
    TearDown();
    Pair fresh;
    std::swap(pair_, fresh);
    SetUp();
    int rc = pair_.SyncProcess(std::string("HASYNC_KILL_AT=") + point);
    EXPECT_EQ(rc, 128 + SIGKILL) << "the kill point was not reached";
    bool old_state = IsOld(), new_state = IsNew();
    // Before the journal's rename the old tree stands; after it the roll-forward may be midway
    // on disk, but the next start finishes it before anything else.
    std::string p = point;
    if (p.starts_with("receive") || p.starts_with("commit.staged") ||
        p.starts_with("commit.before")) {
      EXPECT_TRUE(old_state) << "a sync killed before its commit point changed the tree";
    }
    if (p.starts_with("commit.manifest") || p.starts_with("rollforward.before-cleanup")) {
      EXPECT_TRUE(new_state);
    }
    auto r = pair_.Sync();
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    EXPECT_TRUE(IsNew()) << testing::TreeDiff(pair_.primary(), pair_.secondary());
    EXPECT_FALSE(fs::exists(pair_.secondary() + "/.hasync-staging"));
  }
}

TEST_F(FaultTest, PrimaryDyingMidStreamLeavesSecondaryUnchanged) {
  auto r = pair_.Sync(nullptr, pair_.Serve("HASYNC_KILL_AT=serve.data:3"));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Code::kPeer);
  EXPECT_NE(r.status().message().find("killed by signal"), std::string::npos)
      << r.status().message();
  EXPECT_FALSE(fs::exists(pair_.secondary() + "/.hasync-staging"));
  ExpectUnchangedAndRecoverable();
}

TEST_F(FaultTest, CorruptedFramesAreRefusedAndNothingIsApplied) {
  for (int offset : {100, 5000, 300000, 1500000}) {
    SCOPED_TRACE(offset);
    auto r = pair_.Sync(
        nullptr, pair_.Serve("", " | " HASYNC_TEST_BIN_DIR "/flip_byte " + std::to_string(offset)));
    ASSERT_FALSE(r.ok());
    EXPECT_TRUE(r.status().code() == Code::kChecksum || r.status().code() == Code::kProtocol)
        << r.status().ToString();
    EXPECT_TRUE(IsOld());
  }
  ExpectUnchangedAndRecoverable();
}

TEST_F(FaultTest, HostilePrimaryCannotWriteOutsideTheRoot) {
  for (const char* mode :
       {"dotdot", "absolute", "through-symlink", "oversized", "garbage", "grow", "unasked-delta"}) {
    SCOPED_TRACE(mode);
    auto r = pair_.Sync(nullptr, std::string(HASYNC_TEST_BIN_DIR "/hostile_primary ") + mode);
    ASSERT_FALSE(r.ok());
    Code want = std::string(mode) == "grow" ? Code::kAborted : Code::kProtocol;
    EXPECT_TRUE(r.status().code() == Code::kUnsafePath || r.status().code() == want)
        << r.status().ToString();
    EXPECT_FALSE(fs::exists(pair_.dir() + "/escaped"));
    EXPECT_FALSE(fs::exists("/tmp/escaped"));
    EXPECT_TRUE(IsOld());
  }
}

// A listed size no node could hold, and a top-level name hasync reserves for its staging folder:
// one clear protocol error (not std::bad_alloc, not a commit that fails after its commit point),
// nothing changed, and the next sync from an honest Primary completes.
TEST_F(FaultTest, HostilePrimaryCannotCrashOrWedgeTheSecondary) {
  for (const char* mode : {"huge-size", "reserved-name"}) {
    SCOPED_TRACE(mode);
    auto r = pair_.Sync(nullptr, std::string(HASYNC_TEST_BIN_DIR "/hostile_primary ") + mode);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.status().code(), Code::kProtocol) << r.status().ToString();
    std::string want = std::string(mode) == "huge-size" ? "more than this node can receive"
                                                        : "reserves for its staging folder";
    EXPECT_NE(r.status().message().find(want), std::string::npos) << r.status().ToString();
    EXPECT_TRUE(IsOld());
  }
  ExpectUnchangedAndRecoverable();
}

// A Secondary asking for one 100 GiB sparse file 20 times in one batch: the repeat is a protocol
// error, and the serve side's peak memory stays small (each request used to allocate the file's
// block hashes at once, 105 MB, for the whole session: 20 of them took it past 2 GB).
TEST_F(FaultTest, HostileSecondaryCannotExhaustThePrimary) {
  std::string img = pair_.primary() + "/big.img";
  { std::ofstream(img) << "x"; }
  fs::resize_file(img, 100ull << 30);
  auto r = testing::Shell(std::string(HASYNC_TEST_BIN_DIR "/hostile_secondary repeat-request '") +
                          pair_.Serve() + "'");
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_NE(r.out.find("error " + std::to_string(ExitCode(Code::kProtocol)) +
                       " 'big.img' requested twice"),
            std::string::npos)
      << r.out;
  size_t at = r.out.find("maxrss_kb ");
  ASSERT_NE(at, std::string::npos) << r.out;
  long kb = std::stol(r.out.substr(at + 10));
  EXPECT_LT(kb, 64 << 10) << "the serve side peaked at " << kb << " KiB";
  fs::remove(img);
}

TEST_F(FaultTest, FullDiskFailsCleanly) {
  FaultEnv full(*Env::Default().value(), {.no_space_after_bytes = 500000});
  auto r = pair_.Sync(&full);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Code::kNoSpace) << r.status().ToString();
  EXPECT_FALSE(fs::exists(pair_.secondary() + "/.hasync-staging"));
  ExpectUnchangedAndRecoverable();
}

TEST_F(FaultTest, FailedFsyncFailsCleanly) {
  FaultEnv bad(*Env::Default().value(), {.fail_sync = true});
  auto r = pair_.Sync(&bad);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Code::kIo) << r.status().ToString();
  ExpectUnchangedAndRecoverable();
}

TEST_F(FaultTest, VersionMismatchIsRefusedNamingBothVersions) {
  pair_.WriteConfigs("11.12.0.0", "11.11.0.0");
  auto r = pair_.Sync();
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Code::kVersion);
  EXPECT_NE(r.status().message().find("11.12.0.0"), std::string::npos) << r.status().message();
  EXPECT_NE(r.status().message().find("11.11.0.0"), std::string::npos);
  EXPECT_TRUE(IsOld());
  EXPECT_EQ(pair_.SyncProcess(""), ExitCode(Code::kVersion));
}

TEST_F(FaultTest, SecondSyncAtOnceIsRefusedAsBusy) {
  auto lock = engine::SyncLock::Acquire(pair_.dir() + "/sstate");
  ASSERT_TRUE(lock.ok());
  auto r = pair_.Sync();
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Code::kBusy);
  EXPECT_NE(r.status().message().find("started"), std::string::npos) << r.status().message();
}

TEST_F(FaultTest, MissingTransportCommandSaysWhatFailed) {
  auto r = pair_.Sync(nullptr, "/nonexistent/hasync serve --stdio");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Code::kPeer);
  EXPECT_NE(r.status().message().find("not found"), std::string::npos) << r.status().message();
  EXPECT_TRUE(IsOld());
}

}  // namespace
}  // namespace hasync
