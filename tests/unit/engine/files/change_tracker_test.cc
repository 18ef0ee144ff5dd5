// The change tracker (real inotify), the scan of changed folders it feeds, the daemon's socket
// and the fall-backs to a whole walk.
#include "engine/files/change_tracker.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <random>
#include <thread>

#include "engine/files/change_feed.h"
#include "engine/files/tracked_scan.h"
#include "snapshot/scanner.h"
#include "tests/test_util.h"

namespace hasync::engine {
namespace {

namespace fs = std::filesystem;
using namespace std::string_literals;

// Everything a scan records of an entry, one line each.
std::string Describe(const snapshot::Manifest& m) {
  std::string out;
  for (const snapshot::Entry& e : m.entries()) {
    out += e.path + " t" + std::to_string(static_cast<int>(e.type)) + " m" +
           std::to_string(e.mode) + " s" + std::to_string(e.size) + " mt" +
           std::to_string(e.mtime_ns) + " ct" + std::to_string(e.ctime_ns) + " i" +
           std::to_string(e.inode) + " n" + std::to_string(e.nlink) + " l" + e.link_target + " x" +
           std::to_string(e.xattrs.size()) + " d" + (e.hashed ? std::to_string(e.digest) : "-") +
           "\n";
  }
  return out;
}

snapshot::Manifest Walk(const std::string& root, const snapshot::Manifest* cache = nullptr,
                        const std::vector<std::string>* dirs = nullptr) {
  auto r = snapshot::ScanRoot(*Env::Default().value(), root,
                              {.filter = snapshot::Filter({}, {"*.skip", "cache"}),
                               .cache = cache,
                               .threads = 2,
                               .changed_dirs = dirs});
  EXPECT_TRUE(r.ok()) << r.status().ToString();
  return r.ok() ? std::move(r->manifest) : snapshot::Manifest();
}

void Touch(const std::string& path) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
  ASSERT_GE(fd, 0) << path;
  ::close(fd);
}

// One random change somewhere in the tree: what an appliance's files go through.
void RandomChange(const std::string& root, std::mt19937& rng, int round) {
  std::vector<fs::path> files, dirs = {root};
  for (auto it = fs::recursive_directory_iterator(root); it != fs::end(it); ++it) {
    if (it->is_symlink()) continue;
    if (it->is_directory()) dirs.push_back(it->path());
    if (it->is_regular_file()) files.push_back(it->path());
  }
  auto pick = [&](auto& v) { return v[rng() % v.size()]; };
  std::string tag = std::to_string(round) + "-" + std::to_string(rng() % 1000);
  switch (rng() % 14) {
    case 0:
      testing::WriteFile((pick(dirs) / ("new-" + tag)).string(), testing::RandomBytes(300, rng()));
      break;
    case 1:
      if (!files.empty()) testing::WriteFile(pick(files).string(), "rewritten " + tag);
      break;
    case 2:
      if (!files.empty()) fs::remove(pick(files));
      break;
    case 3:
      if (!files.empty()) ::chmod(pick(files).c_str(), 0600 | (rng() % 2 ? 044 : 0));
      break;
    case 4: {
      fs::path d = pick(dirs) / ("dir-" + tag);
      fs::create_directories(d / "inner");
      testing::WriteFile((d / "inner" / "f").string(), "inside " + tag);
      break;
    }
    case 5:
      if (dirs.size() > 1) {
        fs::path d = dirs[1 + rng() % (dirs.size() - 1)];
        fs::remove_all(d);
      }
      break;
    case 6:
      fs::create_symlink("target-" + tag, pick(dirs) / ("link-" + tag));
      break;
    case 7:
      if (!files.empty()) {
        std::string v = "v" + tag;
        ::setxattr(pick(files).c_str(), "user.k", v.data(), v.size(), 0);
      }
      break;
    case 8:  // a link in another folder (its events go to that folder only)
      if (!files.empty()) {
        fs::path f = pick(files);
        fs::create_hard_link(f, pick(dirs) / ("hard-" + tag));
      }
      break;
    case 9:
      if (!files.empty()) {  // a file replaced by a folder of the same name
        fs::path f = pick(files);
        fs::remove(f);
        fs::create_directory(f);
        Touch((f / "x").string());
      }
      break;
    case 10:
      Touch((pick(dirs) / ("ignored-" + tag + ".skip")).string());
      break;
    case 11:  // deep inside an excluded folder: watched, never scanned
      testing::WriteFile((pick(dirs) / "cache" / ("sub-" + tag) / "f").string(), "x " + tag);
      break;
    case 12:  // a file replaced by a fifo, which no scan keeps
      if (!files.empty()) {
        fs::path f = pick(files);
        fs::remove(f);
        ::mkfifo(f.c_str(), 0644);
      }
      break;
    case 13:  // a write through a file with several links
      for (const fs::path& f : files) {
        if (fs::hard_link_count(f) > 1) {
          testing::WriteFile(f.string(), "through a link " + tag);
          break;
        }
      }
      break;
  }
}

TEST(ChangeTrackerTest, AScanOfTheMarkedFoldersEqualsAWholeWalkAfterRandomChanges) {
  std::string root = testing::MakeTempDir();
  testing::MakeSampleTree(root);
  fs::create_directories(root + "/etc/a/b/c");
  testing::WriteFile(root + "/etc/a/b/c/deep", "deep");
  auto t = ChangeTracker::Start(root);
  ASSERT_TRUE(t.ok()) << t.status().ToString();
  ChangeAnswer a = (*t)->Since(0, 0);
  ASSERT_NE(a.gen, 0u);
  ASSERT_TRUE(a.full);
  snapshot::Manifest prev = Walk(root);
  std::mt19937 rng(17);
  int incremental = 0;
  for (int round = 0; round < 40; ++round) {
    for (int k = 0, n = 1 + rng() % 4; k < n; ++k) RandomChange(root, rng, round);
    (*t)->Drain();
    ChangeAnswer now = (*t)->Since(a.gen, a.seq);
    ASSERT_EQ(now.gen, a.gen) << "round " << round << ": no folder was renamed";
    ASSERT_FALSE(now.full);
    // Odd rounds copy the cache's unchanged entries, even ones take them (as the syncs do).
    snapshot::Manifest scanned;
    if (round % 2) {
      scanned = Walk(root, &prev, &now.dirs);
    } else {
      auto r = snapshot::ScanRootTaking(*Env::Default().value(), root,
                                        {.filter = snapshot::Filter({}, {"*.skip", "cache"}),
                                         .threads = 2,
                                         .changed_dirs = &now.dirs},
                                        std::move(prev));
      ASSERT_TRUE(r.ok()) << r.status().ToString();
      scanned = std::move(r->manifest);
    }
    ++incremental;
    ASSERT_EQ(Describe(scanned), Describe(Walk(root))) << "round " << round;
    a = now;
    prev = std::move(scanned);
  }
  EXPECT_EQ(incremental, 40);
  // Nothing changed: nothing to walk.
  (*t)->Drain();
  EXPECT_TRUE((*t)->Since(a.gen, a.seq).dirs.empty());
  fs::remove_all(root);
}

TEST(ChangeTrackerTest, AFolderRenamedOrTheRootRemovedStartsANewGeneration) {
  std::string root = testing::MakeTempDir();
  fs::create_directories(root + "/a/b");
  testing::WriteFile(root + "/a/b/f", "1");
  auto t = ChangeTracker::Start(root);
  ASSERT_TRUE(t.ok());
  ChangeAnswer a = (*t)->Since(0, 0);
  fs::rename(root + "/a", root + "/moved");
  // Its watches would name a/...: a change in moved/b must not be reported as a/b's.
  testing::WriteFile(root + "/moved/b/g", "2");
  (*t)->Drain();
  ChangeAnswer b = (*t)->Since(a.gen, a.seq);
  EXPECT_NE(b.gen, a.gen);
  EXPECT_TRUE(b.full);
  // The new generation watches the new names.
  testing::WriteFile(root + "/moved/b/h", "3");
  (*t)->Drain();
  ChangeAnswer c = (*t)->Since(b.gen, b.seq);
  EXPECT_EQ(c.dirs, (std::vector<std::string>{"moved/b"}));
  // The root removed and made again: its watch went with it, so it starts over.
  fs::remove_all(root);
  fs::create_directories(root + "/again");
  testing::WriteFile(root + "/again/f", "4");
  (*t)->Drain();
  ChangeAnswer d = (*t)->Since(c.gen, c.seq);
  EXPECT_NE(d.gen, c.gen);
  EXPECT_TRUE(d.full);
  testing::WriteFile(root + "/again/g", "5");
  (*t)->Drain();
  EXPECT_EQ((*t)->Since(d.gen, d.seq).dirs, (std::vector<std::string>{"again"}));
  fs::remove_all(root);
}

TEST(ChangeTrackerTest, AQueueOverflowStartsANewGeneration) {
  std::string root = testing::MakeTempDir();
  fs::create_directories(root + "/many");
  auto t = ChangeTracker::Start(root);
  ASSERT_TRUE(t.ok());
  ChangeAnswer a = (*t)->Since(0, 0);
  // Two events a file (create, close after writing) past the kernel's queue of 16,384
  // (fs.inotify.max_queued_events), none read meanwhile: the kernel drops the rest and says so.
  for (int i = 0; i < 9000; ++i) Touch(root + "/many/f" + std::to_string(i));
  (*t)->Drain();
  ChangeAnswer b = (*t)->Since(a.gen, a.seq);
  EXPECT_NE(b.gen, a.gen) << "no overflow: is fs.inotify.max_queued_events above 18,000?";
  EXPECT_TRUE(b.full);
  fs::remove_all(root);
}

TEST(ChangeTrackerTest, AWatchThatCannotBeSetLeavesTheRootUntracked) {
  std::string root = testing::MakeTempDir();
  for (int i = 0; i < 5; ++i) fs::create_directories(root + "/d" + std::to_string(i));
  ::setenv("HASYNC_TEST_WATCH_LIMIT", "3", 1);
  auto t = ChangeTracker::Start(root);
  ::unsetenv("HASYNC_TEST_WATCH_LIMIT");
  ASSERT_TRUE(t.ok());
  EXPECT_NE((*t)->untracked_reason().find("max_user_watches"), std::string::npos);
  EXPECT_EQ((*t)->Since(0, 0).gen, 0u);
  // So does a folder made later that cannot be watched.
  auto u = ChangeTracker::Start(root);
  ASSERT_TRUE(u.ok());
  ChangeAnswer a = (*u)->Since(0, 0);
  ASSERT_NE(a.gen, 0u);
  ::setenv("HASYNC_TEST_WATCH_LIMIT", "6", 1);
  fs::create_directories(root + "/d5/e");
  (*u)->Drain();
  ::unsetenv("HASYNC_TEST_WATCH_LIMIT");
  EXPECT_EQ((*u)->Since(a.gen, a.seq).gen, 0u);
  fs::remove_all(root);
}

Settings FeedSettings(const std::string& state, const std::string& root) {
  Settings s;
  s.state_dir = state;
  s.roots.push_back({.name = "data", .root = root, .include = {}, .exclude = {}});
  s.threads = 2;
  return s;
}

TEST(ChangeFeedTest, AScanAsksTheDaemonsFeedAndWalksOnlyWhatChanged) {
  std::string state = testing::MakeTempDir();
  std::string root = testing::MakeTempDir();
  testing::MakeSampleTree(root);
  Settings s = FeedSettings(state, root);
  Env& env = *Env::Default().value();
  snapshot::ScanOptions o{.threads = 2};
  // No daemon: a whole walk, untracked.
  auto first = ScanTracked(env, s, s.roots[0], o, {});
  ASSERT_TRUE(first.ok());
  EXPECT_NE(first->walked_all_because.find("no change feed"), std::string::npos)
      << first->walked_all_because;
  EXPECT_EQ(first->scan.manifest.mark().gen, 0u);
  auto feed = ChangeFeed::Start(s);
  ASSERT_TRUE(feed.ok()) << feed.status().ToString();
  auto second = ScanTracked(env, s, s.roots[0], o, first->scan.manifest);
  ASSERT_TRUE(second.ok());
  EXPECT_FALSE(second->scan.stats.incremental);  // the cache was untracked
  EXPECT_NE(second->scan.manifest.mark().gen, 0u);
  EXPECT_TRUE(second->mark_moved);
  testing::WriteFile(root + "/certs/new.pem", "new");
  auto third = ScanTracked(env, s, s.roots[0], o, second->scan.manifest);
  ASSERT_TRUE(third.ok());
  EXPECT_TRUE(third->scan.stats.incremental);
  // certs, and users: a file with two links there is looked at in every scan.
  EXPECT_EQ(third->scan.stats.relisted_dirs, 2u);
  EXPECT_EQ(third->scan.stats.differing, 2u);  // the file, and its folder's mtime
  ASSERT_NE(third->scan.manifest.Find("certs/new.pem"), nullptr);
  EXPECT_EQ(Describe(third->scan.manifest), Describe(Walk(root)));
  // Other include or exclude settings: the cache holds other entries, so everything is walked.
  snapshot::ScanOptions other = o;
  other.filter = snapshot::Filter({}, {"*.pem"});
  auto refiltered = ScanTracked(env, s, s.roots[0], other, third->scan.manifest);
  ASSERT_TRUE(refiltered.ok());
  EXPECT_FALSE(refiltered->scan.stats.incremental);
  EXPECT_NE(refiltered->walked_all_because.find("include or exclude"), std::string::npos);
  EXPECT_EQ(refiltered->scan.manifest.Find("certs/new.pem"), nullptr);
  // The daemon stops: the next scan walks everything again.
  feed->reset();
  auto fourth = ScanTracked(env, s, s.roots[0], o, third->scan.manifest);
  ASSERT_TRUE(fourth.ok());
  EXPECT_FALSE(fourth->scan.stats.incremental);
  EXPECT_EQ(fourth->scan.manifest.mark().gen, 0u);
  fs::remove_all(root);
  fs::remove_all(state);
}

// A write through a shared mmap raises no inotify event: only the periodic whole walk sees it.
TEST(ChangeFeedTest, AWriteThroughMmapIsFoundByTheWholeWalkEveryFullScanEvery) {
  std::string state = testing::MakeTempDir();
  std::string root = testing::MakeTempDir();
  testing::WriteFile(root + "/db/region", std::string(8192, 'a'));
  Settings s = FeedSettings(state, root);
  s.full_scan_every_ms = 2000;
  Env& env = *Env::Default().value();
  auto feed = ChangeFeed::Start(s);
  ASSERT_TRUE(feed.ok());
  snapshot::ScanOptions o{.threads = 2};
  // A program keeps the file mapped (a database's region): its writes through the mapping
  // raise no event (IN_CLOSE_WRITE comes only when the last reference, the mapping, goes).
  int fd = ::open((root + "/db/region").c_str(), O_RDWR | O_CLOEXEC);
  ASSERT_GE(fd, 0);
  void* p = ::mmap(nullptr, 8192, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  ASSERT_NE(p, MAP_FAILED);
  ::close(fd);
  auto base = ScanTracked(env, s, s.roots[0], o, {});
  ASSERT_TRUE(base.ok());
  uint64_t before = base->scan.manifest.Find("db/region")->digest;
  std::this_thread::sleep_for(std::chrono::milliseconds(20));  // a later mtime
  std::memset(p, 'b', 100);
  ASSERT_EQ(::msync(p, 8192, MS_SYNC), 0);
  auto soon = ScanTracked(env, s, s.roots[0], o, base->scan.manifest);
  ASSERT_TRUE(soon.ok());
  ASSERT_TRUE(soon->scan.stats.incremental);
  EXPECT_EQ(soon->scan.stats.relisted_dirs, 0u) << "mmap writes now raise events: say so";
  EXPECT_EQ(soon->scan.manifest.Find("db/region")->digest, before);
  std::this_thread::sleep_for(std::chrono::milliseconds(2100));
  auto later = ScanTracked(env, s, s.roots[0], o, soon->scan.manifest);
  ASSERT_TRUE(later.ok());
  EXPECT_FALSE(later->scan.stats.incremental);
  EXPECT_NE(later->walked_all_because.find("full_scan_every"), std::string::npos);
  EXPECT_NE(later->scan.manifest.Find("db/region")->digest, before);
  ::munmap(p, 8192);
  fs::remove_all(root);
  fs::remove_all(state);
}

// A feed that lies or floods: the client refuses it and the scan walks everything.
TEST(ChangeFeedTest, AMalformedOrOversizedAnswerIsRefused) {
  std::string state = testing::MakeTempDir();
  std::string path = ChangeSocketPath(state);
  auto serve_once = [&](std::string answer) {
    int l = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_un a{};
    a.sun_family = AF_UNIX;
    std::strncpy(a.sun_path, path.c_str(), sizeof a.sun_path - 1);
    ::unlink(path.c_str());
    EXPECT_EQ(::bind(l, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
    EXPECT_EQ(::listen(l, 1), 0);
    return std::thread([l, answer = std::move(answer)] {
      int c = ::accept(l, nullptr, nullptr);
      char buf[512];
      (void)!::read(c, buf, sizeof buf);
      for (size_t off = 0; off < answer.size();) {
        ssize_t n = ::send(c, answer.data() + off, answer.size() - off, MSG_NOSIGNAL);
        if (n <= 0) break;
        off += static_cast<size_t>(n);
      }
      ::close(c);
      ::close(l);
    });
  };
  const std::vector<std::string> bad = {
      "SINCE 5 9 1 2 1\n../etc\0"s,
      "SINCE 5 9 1 2 2\na\0"s,
      "SINCE 0 9 1 2 0\n",
      "FULL 5 9\n",
      "SINCE 5 9 1\na\0"s,
      "SINCE 5 9 1 2 1\n/abs\0"s,
      "SINCE 5 9 1 2 99999999999999999999999\n",
      "SINCE 5 9 1 2 1\n" + std::string(ChangeTracker::kMaxAnswerDirs * 4097 + 200, 'a')};
  for (const std::string& answer : bad) {
    std::thread t = serve_once(answer);
    auto r = AskChanges(state, "data", 5, 1);
    t.join();
    EXPECT_FALSE(r.ok()) << "accepted: " << answer.substr(0, 40);
  }
  std::thread t = serve_once("SINCE 5 9 64768 131 2\na/b\0\0"s);
  auto good = AskChanges(state, "data", 5, 1);
  t.join();
  ASSERT_TRUE(good.ok()) << good.status().ToString();
  EXPECT_EQ(good->dirs, (std::vector<std::string>{"a/b", ""}));
  EXPECT_EQ(good->root_ino, 131u);
  // An answer about another folder than the scan's root (the daemon started with another root
  // path, or runs in another mount namespace) is not used: the scan walks everything.
  std::string root = testing::MakeTempDir();
  Settings s = FeedSettings(state, root);
  t = serve_once("SINCE 5 9 1 2 0\n"s);
  auto other = ScanTracked(*Env::Default().value(), s, s.roots[0], {.threads = 1}, {});
  t.join();
  ASSERT_TRUE(other.ok());
  EXPECT_FALSE(other->scan.stats.incremental);
  EXPECT_NE(other->walked_all_because.find("watches another folder"), std::string::npos)
      << other->walked_all_because;
  EXPECT_EQ(other->scan.manifest.mark().gen, 0u);
  fs::remove_all(root);
  fs::remove_all(state);
}

}  // namespace
}  // namespace hasync::engine
