// Env conformance: every backend available here passes the same tests, each with both path
// resolvers (openat2 and the per-component walk); FaultEnv injects.
#include "common/env.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <set>
#include <thread>
#include <tuple>
#include <vector>

#include "common/beneath.h"
#include "common/fault_env.h"
#include "tests/test_util.h"

namespace hasync {
namespace {

using testing::MakeTempDir;

std::unique_ptr<Env> MakeEnv(const std::string& name) {
  if (name == "posix") return NewPosixEnv();
  auto r = NewUringEnv();
  EXPECT_TRUE(r.ok()) << "io_uring must be available on the CI machine: " << r.status().ToString();
  return r.ok() ? std::move(r).value() : NewPosixEnv();
}

class EnvTest : public ::testing::TestWithParam<std::tuple<std::string, Resolver>> {
 protected:
  void SetUp() override {
    env_ = MakeEnv(Backend());
    dir_ = MakeTempDir();
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  const std::string& Backend() const { return std::get<0>(GetParam()); }
  // dir_ as a root, opened with this test's resolver.
  RootDir Root() const {
    auto r = RootDir::Open(dir_, {.use_default = false, .resolver = std::get<1>(GetParam())});
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    return std::move(r).value();
  }
  std::unique_ptr<Env> env_;
  std::string dir_;
};

TEST_P(EnvTest, BatchedWritesAndReadsRoundTrip) {
  EXPECT_EQ(env_->Name(), Backend());
  std::string path = dir_ + "/f";
  auto w = env_->OpenForWrite(path, {});
  ASSERT_TRUE(w.ok());
  std::string a = testing::RandomBytes(200000, 7), b = testing::RandomBytes(5000, 8);
  WriteOp ops[2] = {{0, std::as_bytes(std::span(a))}, {300000, std::as_bytes(std::span(b))}};
  ASSERT_TRUE((*w)->WriteMany(ops).ok());
  ASSERT_TRUE((*w)->Sync().ok());
  ASSERT_TRUE((*w)->Close().ok());
  auto r = env_->OpenForRead(path);
  ASSERT_TRUE(r.ok());
  std::string x(a.size(), '\0'), y(10000, '\0');
  ReadOp reads[2] = {{0, std::as_writable_bytes(std::span(x)), 0},
                     {300000, std::as_writable_bytes(std::span(y)), 0}};
  ASSERT_TRUE((*r)->ReadMany(reads).ok());
  EXPECT_EQ(reads[0].done, a.size());
  EXPECT_EQ(x, a);
  EXPECT_EQ(reads[1].done, b.size()) << "a read past the end is short, not an error";
  EXPECT_EQ(y.substr(0, b.size()), b);
}

TEST_P(EnvTest, StatNeverFollowsSymlinks) {
  testing::WriteFile(dir_ + "/target", "x");
  ASSERT_TRUE(env_->Symlink("target", dir_ + "/link").ok());
  auto st = env_->Stat(dir_ + "/link");
  ASSERT_TRUE(st.ok());
  EXPECT_EQ(st->type, FileType::kSymlink);
  EXPECT_EQ(env_->ReadLink(dir_ + "/link").value(), "target");
  EXPECT_FALSE(env_->OpenForRead(dir_ + "/link").ok()) << "opening through a symlink must fail";
}

TEST_P(EnvTest, MissingFileIsNotFound) {
  auto r = env_->OpenForRead(dir_ + "/nope");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Code::kNotFound);
}

TEST_P(EnvTest, WriteFileAtomicReplacesWholeFile) {
  std::string s = "new contents";
  ASSERT_TRUE(WriteFileAtomic(*env_, dir_ + "/a", std::as_bytes(std::span(s))).ok());
  EXPECT_EQ(testing::ReadFile(dir_ + "/a"), s);
  EXPECT_FALSE(std::filesystem::exists(dir_ + "/a.tmp"));
}

// Two serve sessions saving one root's manifest cache at once (issue 16): every save succeeds,
// and a reader meanwhile sees one writer's whole file, never a mix or a truncated one. With one
// fixed temporary name the writers truncated each other's file and lost their renames.
TEST_P(EnvTest, ConcurrentWriteFileAtomicLeavesOneWholeFile) {
  std::string path = dir_ + "/cache";
  constexpr size_t kSize = 256 << 10;
  std::atomic<int> failed_writes{0}, torn_reads{0};
  std::atomic<bool> stop{false};
  std::vector<std::thread> writers;
  for (char id : {'a', 'b', 'c', 'd'}) {
    writers.emplace_back([&, id] {
      std::string data(kSize + static_cast<size_t>(id - 'a') * 4096, id);
      for (int i = 0; i < 40; ++i) {
        if (!WriteFileAtomic(*env_, path, std::as_bytes(std::span(data))).ok()) ++failed_writes;
      }
    });
  }
  std::thread reader([&] {
    while (!stop) {
      auto r = ReadFileToString(*env_, path);
      if (!r.ok()) continue;  // not written yet
      char id = r->empty() ? '?' : (*r)[0];
      bool whole = id >= 'a' && id <= 'd' && r->size() == kSize + (id - 'a') * 4096 &&
                   r->find_first_not_of(id) == std::string::npos;
      if (!whole) ++torn_reads;
    }
  });
  for (auto& t : writers) t.join();
  stop = true;
  reader.join();
  EXPECT_EQ(failed_writes, 0);
  EXPECT_EQ(torn_reads, 0);
  for (const auto& e : std::filesystem::directory_iterator(dir_)) {
    EXPECT_EQ(e.path().filename(), "cache") << "a temporary was left behind";
  }
}

// A killed writer's temporary is removed by the next write of that path; a live writer's, other
// paths' and names of another pattern are left alone.
TEST_P(EnvTest, WriteFileAtomicRemovesOnlyStaleTemporaries) {
  pid_t child = ::fork();
  if (child == 0) ::_exit(0);
  ASSERT_GT(child, 0);
  ASSERT_EQ(::waitpid(child, nullptr, 0), child);  // its pid is now dead
  std::string dead = std::to_string(child), me = std::to_string(::getpid());
  for (const std::string& name : std::vector<std::string>{
           "a.tmp-" + dead + "-0", "a.tmp-" + me + "-999999", "a.tmp-" + me + "-5", "a.tmp-x-1",
           "a.tmp-" + dead + "-0x", "b.tmp-" + dead + "-0", "a.tmp"}) {
    testing::WriteFile(dir_ + "/" + name, "left");
  }
  auto old = std::filesystem::file_time_type::clock::now() - std::chrono::minutes(2);
  std::filesystem::last_write_time(dir_ + "/a.tmp-" + me + "-5", old);
  std::string s = "x";
  ASSERT_TRUE(WriteFileAtomic(*env_, dir_ + "/a", std::as_bytes(std::span(s))).ok());
  std::set<std::string> left;
  for (const auto& e : std::filesystem::directory_iterator(dir_)) {
    left.insert(e.path().filename());
  }
  EXPECT_EQ(left,
            (std::set<std::string>{"a", "a.tmp-" + me + "-999999", "a.tmp-x-1",
                                   "a.tmp-" + dead + "-0x", "b.tmp-" + dead + "-0", "a.tmp"}));
}

TEST_P(EnvTest, FaultEnvFailsWritesPastTheBudgetWithNoSpace) {
  FaultEnv fault(*env_, FaultOptions{.no_space_after_bytes = 100});
  auto w = fault.OpenForWrite(dir_ + "/f", {});
  ASSERT_TRUE(w.ok());
  std::string data(64, 'x');
  EXPECT_TRUE((*w)->WriteAt(0, std::as_bytes(std::span(data))).ok());
  Status st = (*w)->WriteAt(64, std::as_bytes(std::span(data)));
  EXPECT_EQ(st.code(), Code::kNoSpace) << st.ToString();
}

TEST_P(EnvTest, FaultEnvFailsSync) {
  FaultEnv fault(*env_, FaultOptions{.fail_sync = true});
  EXPECT_EQ(fault.SyncFs(dir_).code(), Code::kIo);
  EXPECT_EQ(fault.SyncDir(dir_).code(), Code::kIo);
}

TEST_P(EnvTest, FilesOpenBeneathARootOnly) {
  RootDir root = Root();
  std::filesystem::create_directories(dir_ + "/a");
  auto w = env_->OpenForWriteAt(root, "a/f", {});
  ASSERT_TRUE(w.ok()) << w.status().ToString();
  std::string data = testing::RandomBytes(100000, 3);
  ASSERT_TRUE((*w)->WriteAt(0, std::as_bytes(std::span(data))).ok());
  ASSERT_TRUE((*w)->Close().ok());
  auto r = env_->OpenForReadAt(root, "a/f");
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  std::string back(data.size(), '\0');
  EXPECT_EQ((*r)->Read(0, std::as_writable_bytes(std::span(back))).value(), data.size());
  EXPECT_EQ(back, data);
  ASSERT_TRUE(env_->OpenForWriteAt(root, "a/g", {}).ok());
  ASSERT_TRUE(env_->CopyRangeAt(root, "a/f", 0, "a/g", 10, 5000).ok());
  EXPECT_EQ(testing::ReadFile(dir_ + "/a/g").substr(10), data.substr(0, 5000));
  // A symlink anywhere, a FIFO or a directory: refused before anything is opened for real.
  std::string outside = MakeTempDir();
  testing::WriteFile(outside + "/f", "secret");
  std::filesystem::create_directory_symlink(outside, dir_ + "/l");
  std::filesystem::create_symlink(outside + "/f", dir_ + "/a/s");
  ASSERT_EQ(::mkfifo((dir_ + "/a/p").c_str(), 0600), 0);
  for (const char* rel : {"l/f", "a/s", "a/p", "a", "../f"}) {
    EXPECT_FALSE(env_->OpenForWriteAt(root, rel, {.create = false}).ok()) << rel;
    EXPECT_EQ(env_->OpenForReadAt(root, rel).status().code(), Code::kUnsafePath) << rel;
  }
  EXPECT_EQ(testing::ReadFile(outside + "/f"), "secret");
  std::filesystem::remove_all(outside);
}

TEST_P(EnvTest, FaultEnvChargesWritesBeneathARoot) {
  RootDir root = Root();
  FaultEnv fault(*env_, FaultOptions{.no_space_after_bytes = 100});
  auto w = fault.OpenForWriteAt(root, "f", {});
  ASSERT_TRUE(w.ok());
  std::string big(200, 'x');
  EXPECT_EQ((*w)->WriteAt(0, std::as_bytes(std::span(big))).code(), Code::kNoSpace);
}

INSTANTIATE_TEST_SUITE_P(Backends, EnvTest,
                         ::testing::Combine(::testing::Values("posix", "uring"),
                                            ::testing::Values(Resolver::kOpenat2, Resolver::kWalk)),
                         [](const auto& p) {
                           return std::get<0>(p.param) + "_" +
                                  std::string(ResolverName(std::get<1>(p.param)));
                         });

TEST(EnvDefaultTest, UringProbeSucceedsHere) { EXPECT_TRUE(UringAvailable()); }

}  // namespace
}  // namespace hasync
