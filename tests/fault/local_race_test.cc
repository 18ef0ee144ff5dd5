// A hostile local user on either node, raced in at a stop point (HASYNC_KILL_AT=<point>:N:stop
// SIGSTOPs the process there; the test changes the tree, then sends SIGCONT): a directory
// swapped for a symlink between the Primary's scan and its reads; the serve side's cache
// written by another account; a file changed between the Secondary's commit and its post-sync
// check.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <future>
#include <iostream>
#include <thread>

#include "common/env.h"
#include "snapshot/manifest.h"
#include "tests/pair.h"

namespace hasync {
namespace {

using testing::Pair;
namespace fs = std::filesystem;

std::string ReadAll(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

using testing::WaitForStopped;

class LocalRaceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (::geteuid() != 0) GTEST_SKIP() << "chowns to another account: needs root";
    testing::MakeSampleTree(pair_.primary());
    fs::remove(pair_.primary() + "/scratch.tmp");
  }
  std::string PrimaryState() const { return pair_.dir() + "/pstate"; }
  std::string SecondaryState() const { return pair_.dir() + "/sstate"; }
  Pair pair_;
};

// On the Primary, a local user who can write in a root swaps a listed directory for a symlink to
// a folder outside the roots after serve checked the requested file and before it opens it
// (the stop point is at the open): serve opens every file
// beneath the root's handle with no symlink followed (common/beneath.h), so nothing from outside
// reaches the Secondary, whichever resolver runs.
TEST_F(LocalRaceTest, PrimaryDirectorySwappedForASymlinkAfterTheScanIsNeverReadThrough) {
  for (const char* resolver : {"openat2", "walk"}) {
    SCOPED_TRACE(resolver);
    const std::string outside = pair_.dir() + "/outside-" + resolver;
    fs::create_directories(outside);
    // One file, so serve's first open is the one raced (its stat at the request still saw the
    // real directory).
    for (const auto& e : fs::directory_iterator(pair_.primary())) fs::remove_all(e.path());
    for (const auto& e : fs::directory_iterator(pair_.secondary())) fs::remove_all(e.path());
    fs::create_directories(pair_.primary() + "/docs");
    const std::string public_text(5000, 'p');
    const std::string secret_text(5000, 'S');  // the same size: only the content tells
    testing::WriteFile(pair_.primary() + "/docs/a.txt", public_text);
    testing::WriteFile(outside + "/a.txt", secret_text);
    std::string transport = pair_.Serve(std::string("HASYNC_RESOLVE=") + resolver +
                                        " HASYNC_KILL_AT=serve.open:1:stop");
    auto sync = std::async(std::launch::async, [&] { return pair_.Sync(nullptr, transport); });
    pid_t serve = WaitForStopped(pair_.primary_config());
    ASSERT_NE(serve, 0) << "serve never reached its stop point";
    fs::rename(pair_.primary() + "/docs", pair_.primary() + "/docs.moved");
    fs::create_directory_symlink(outside, pair_.primary() + "/docs");
    ASSERT_EQ(::kill(serve, SIGCONT), 0);
    auto r = sync.get();
    // Failing is allowed (the file vanished under serve); reading through the link is not.
    if (!r.ok()) std::cerr << "the raced sync: " << r.status().ToString() << "\n";
    if (fs::exists(pair_.secondary() + "/docs/a.txt")) {
      EXPECT_NE(ReadAll(pair_.secondary() + "/docs/a.txt"), secret_text)
          << "serve read a file outside its root through a swapped directory";
    }
    for (const auto& e : fs::recursive_directory_iterator(pair_.secondary())) {
      if (e.is_regular_file()) {
        EXPECT_NE(ReadAll(e.path()), secret_text) << e.path();
      }
    }
    // Put back, the next sync completes and the pair is equal.
    fs::remove(pair_.primary() + "/docs");
    fs::rename(pair_.primary() + "/docs.moved", pair_.primary() + "/docs");
    auto again = pair_.Sync();
    ASSERT_TRUE(again.ok()) << again.status().ToString();
    EXPECT_EQ(testing::TreeDiff(pair_.primary(), pair_.secondary()), "");
  }
}

// The serve side's cache (<state_dir>/serve) belongs to the account that serves. One owned by
// another account is neither read nor written: a forged cache that claims a changed file still
// holds its old content (the stat data matches, the hashes are the old ones) would otherwise make
// the Primary list the old digest and the Secondary keep stale data.
TEST_F(LocalRaceTest, AServeCacheAnotherAccountWroteIsNotTrusted) {
  const std::string file = pair_.primary() + "/app/medium.bin";
  ASSERT_TRUE(pair_.Sync().ok());
  const std::string cache = PrimaryState() + "/serve/data.manifest";
  ASSERT_TRUE(fs::exists(cache)) << "the serve cache is not in <state_dir>/serve";
  EXPECT_FALSE(fs::exists(PrimaryState() + "/manifests/serve-data.manifest"));

  uint64_t size = fs::file_size(file);
  testing::WriteFile(file, testing::RandomBytes(size, 4242));  // same size, new content
  Env* env = Env::Default().value();
  auto m = snapshot::Manifest::Load(*env, cache);
  ASSERT_TRUE(m.ok()) << m.status().ToString();
  auto now = env->Stat(file);
  ASSERT_TRUE(now.ok());
  bool forged = false;
  for (auto& e : m->mutable_entries()) {
    if (e.path != "app/medium.bin") continue;
    ASSERT_TRUE(e.hashed);
    snapshot::Entry fresh("app/medium.bin", *now);  // today's stat data, yesterday's hashes
    fresh.blocks = e.blocks;
    fresh.digest = e.digest;
    fresh.hashed = true;
    e = fresh;
    forged = true;
  }
  ASSERT_TRUE(forged);
  m->Reindex();
  ASSERT_TRUE(m->Save(*env, cache).ok());
  const uid_t nobody = 65534;
  ASSERT_EQ(::chown((PrimaryState() + "/serve").c_str(), nobody, nobody), 0);
  ASSERT_EQ(::chown(cache.c_str(), nobody, nobody), 0);
  auto before = fs::last_write_time(cache);

  auto r = pair_.Sync();
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(testing::TreeDiff(pair_.primary(), pair_.secondary()), "")
      << "the Primary trusted a cache another account wrote";
  EXPECT_EQ(fs::last_write_time(cache), before) << "serve wrote into another account's folder";
}

// A file changed on the Secondary between its commit and its post-sync check fails the sync
// (exit 22), and the root's cache is dropped so the next sync re-reads the root: the cache the
// sync saves is LocalManifestPath's.
TEST_F(LocalRaceTest, AFailedPostSyncCheckDropsTheSecondarysCache) {
  ASSERT_TRUE(pair_.Sync().ok());
  const std::string cache = SecondaryState() + "/manifests/local-data.manifest";
  ASSERT_TRUE(fs::exists(cache));
  testing::WriteFile(pair_.primary() + "/app/new.txt", "new on the Primary");
  auto sync = std::async(std::launch::async,
                         [&] { return pair_.SyncProcess("HASYNC_KILL_AT=verify.files:1:stop"); });
  pid_t secondary = WaitForStopped(pair_.secondary_config());
  ASSERT_NE(secondary, 0) << "the sync never reached its post-sync check";
  ASSERT_TRUE(fs::exists(cache)) << "the commit saves the cache before the check";
  std::ofstream(pair_.secondary() + "/app/new.txt", std::ios::app) << " and a local change";
  ASSERT_EQ(::kill(secondary, SIGCONT), 0);
  EXPECT_EQ(sync.get(), 22);
  EXPECT_FALSE(fs::exists(cache)) << "the failed check left the root's cache in place";
  auto again = pair_.Sync();
  ASSERT_TRUE(again.ok()) << again.status().ToString();
  EXPECT_EQ(testing::TreeDiff(pair_.primary(), pair_.secondary()), "");
}

}  // namespace
}  // namespace hasync
