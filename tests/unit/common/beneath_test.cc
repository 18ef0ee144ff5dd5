// The resolvers beneath a root handle, each test run with both (openat2 and the walk): nothing
// resolves outside the root through "..", an absolute path or a symlink anywhere in the path;
// metadata is set only on the entry of the planned type; a tree removal recurses on handles;
// HASYNC_RESOLVE's values are honoured.
#include "common/beneath.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <optional>

#include "tests/test_util.h"

namespace hasync {
namespace {

namespace fs = std::filesystem;

class BeneathTest : public ::testing::TestWithParam<Resolver> {
 protected:
  void SetUp() override {
    if (GetParam() == Resolver::kOpenat2) {
      ASSERT_TRUE(Openat2Available()) << "openat2 must be usable on the CI machine";
    }
    dir_ = testing::MakeTempDir();
    root_path_ = dir_ + "/root";
    outside_ = dir_ + "/outside";
    fs::create_directories(root_path_ + "/a");
    testing::WriteFile(outside_ + "/f", "secret");
    fs::permissions(outside_ + "/f", static_cast<fs::perms>(0600));
    auto root = RootDir::Open(root_path_, {.use_default = false, .resolver = GetParam()});
    ASSERT_TRUE(root.ok()) << root.status().ToString();
    root_.emplace(std::move(*root));
  }
  void TearDown() override { fs::remove_all(dir_); }
  uint32_t OutsideMode() const {
    struct stat st;
    EXPECT_EQ(::stat((outside_ + "/f").c_str(), &st), 0);
    return st.st_mode & 07777;
  }
  std::string dir_, root_path_, outside_;
  std::optional<RootDir> root_;
};

TEST_P(BeneathTest, RefusesDotDotAbsolutePathsAndSymlinksInTheMiddle) {
  EXPECT_EQ(root_->resolver(), GetParam());
  fs::create_directory_symlink(outside_, root_path_ + "/a/link");
  fs::create_symlink(outside_ + "/f", root_path_ + "/a/flink");
  for (const char* rel :
       {"../outside/f", "a/../../outside/f", "/etc/passwd", "a/link/f", "a/flink", "a//f", ""}) {
    auto fd = root_->OpenFd(rel, O_RDONLY);
    ASSERT_FALSE(fd.ok()) << rel;
    EXPECT_EQ(fd.status().code(), Code::kUnsafePath) << rel << ": " << fd.status().ToString();
  }
  EXPECT_EQ(StatBeneath(*root_, "a/link/f").status().code(), Code::kUnsafePath);
  auto link = StatBeneath(*root_, "a/flink");  // the last name itself is lstat'ed, not followed
  ASSERT_TRUE(link.ok());
  EXPECT_EQ(link->type, FileType::kSymlink);
}

TEST_P(BeneathTest, ADirectorySwappedForASymlinkCreatesNothingOutside) {
  fs::remove_all(root_path_ + "/a");
  fs::create_directory_symlink(outside_, root_path_ + "/a");
  EXPECT_EQ(root_->OpenFd("a/new", O_WRONLY | O_CREAT, 0644).status().code(), Code::kUnsafePath);
  EXPECT_EQ(CreateDirBeneath(*root_, "a/d", 0700).code(), Code::kUnsafePath);
  EXPECT_EQ(SymlinkBeneath(*root_, "x", "a/s").code(), Code::kUnsafePath);
  EXPECT_EQ(RemoveBeneath(*root_, "a/f", FileType::kRegular).code(), Code::kUnsafePath);
  testing::WriteFile(root_path_ + "/g", "mine");
  EXPECT_EQ(RenameBeneath(*root_, "g", "a/f").code(), Code::kUnsafePath);
  EXPECT_EQ(LinkBeneath(*root_, "g", "a/h").code(), Code::kUnsafePath);
  EXPECT_EQ(SetMetaBeneath(*root_, "a/f", FileType::kRegular, {.mode = 0666}).status().code(),
            Code::kUnsafePath);
  EXPECT_EQ(testing::ReadFile(outside_ + "/f"), "secret");
  EXPECT_EQ(OutsideMode(), 0600u);
  EXPECT_EQ(std::distance(fs::directory_iterator(outside_), fs::directory_iterator()), 1);
}

TEST_P(BeneathTest, MetaOnAFileSwappedForASymlinkIsSkipped) {
  fs::create_symlink(outside_ + "/f", root_path_ + "/a/f");
  auto m = SetMetaBeneath(*root_, "a/f", FileType::kRegular,
                          {.mode = 0666, .set_owner = true, .uid = 65534, .gid = 65534});
  ASSERT_TRUE(m.ok()) << m.status().ToString();
  EXPECT_EQ(*m, MetaOutcome::kTypeChanged);
  EXPECT_EQ(OutsideMode(), 0600u);
  struct stat st;
  ASSERT_EQ(::stat((outside_ + "/f").c_str(), &st), 0);
  EXPECT_NE(st.st_uid, 65534u);
}

TEST_P(BeneathTest, MetaOnAFileReplacedByADirectoryIsSkipped) {
  fs::create_directories(root_path_ + "/a/f");
  fs::permissions(root_path_ + "/a/f", static_cast<fs::perms>(0755));
  auto m = SetMetaBeneath(*root_, "a/f", FileType::kRegular, {.mode = 0600});
  ASSERT_TRUE(m.ok()) << m.status().ToString();
  EXPECT_EQ(*m, MetaOutcome::kTypeChanged);
  EXPECT_EQ(fs::status(root_path_ + "/a/f").permissions(), static_cast<fs::perms>(0755));
}

TEST_P(BeneathTest, MetaIsSetThroughTheEntrysOwnHandle) {
  testing::WriteFile(root_path_ + "/a/f", "x");
  auto m = SetMetaBeneath(*root_, "a/f", FileType::kRegular,
                          {.mode = 0640, .set_mtime = true, .mtime_ns = 1'500'000'000});
  ASSERT_TRUE(m.ok() && *m == MetaOutcome::kApplied) << m.status().ToString();
  auto info = StatBeneath(*root_, "a/f");
  ASSERT_TRUE(info.ok());
  EXPECT_EQ(info->mode, 0640u);
  EXPECT_EQ(info->mtime_ns, 1'500'000'000);
  // A symlink: its own times, never its target's mode.
  fs::create_symlink(outside_ + "/f", root_path_ + "/a/s");
  m = SetMetaBeneath(*root_, "a/s", FileType::kSymlink,
                     {.set_mode = false, .set_mtime = true, .mtime_ns = 2'000'000'000});
  ASSERT_TRUE(m.ok() && *m == MetaOutcome::kApplied) << m.status().ToString();
  EXPECT_EQ(StatBeneath(*root_, "a/s")->mtime_ns, 2'000'000'000);
  EXPECT_EQ(OutsideMode(), 0600u);
  // A directory, opened O_DIRECTORY.
  m = SetMetaBeneath(*root_, "a", FileType::kDirectory, {.mode = 0750, .set_mtime = false});
  ASSERT_TRUE(m.ok() && *m == MetaOutcome::kApplied) << m.status().ToString();
  EXPECT_EQ(StatBeneath(*root_, "a")->mode, 0750u);
}

TEST_P(BeneathTest, RemoveTreeKeepsAnOutsideFolderSwappedIn) {
  fs::create_directories(root_path_ + "/.hasync-staging/b1");
  testing::WriteFile(root_path_ + "/.hasync-staging/b1/f0", "staged");
  fs::create_directory_symlink(outside_, root_path_ + "/.hasync-staging/b2");
  ASSERT_TRUE(RemoveTreeBeneath(*root_, ".hasync-staging").ok());
  EXPECT_FALSE(fs::exists(fs::symlink_status(root_path_ + "/.hasync-staging")));
  EXPECT_EQ(testing::ReadFile(outside_ + "/f"), "secret");
  // The path form (state folder, staging by path) recurses on handles as well.
  fs::create_directories(dir_ + "/tree/sub");
  fs::create_directory_symlink(outside_, dir_ + "/tree/sub/evil");
  ASSERT_TRUE(RemoveTree(*Env::Default().value(), dir_ + "/tree").ok());
  EXPECT_FALSE(fs::exists(dir_ + "/tree"));
  EXPECT_EQ(testing::ReadFile(outside_ + "/f"), "secret");
  EXPECT_TRUE(RemoveTreeBeneath(*root_, "missing").ok());
}

TEST_P(BeneathTest, ListsAndReadsLinksThroughTheHandle) {
  testing::WriteFile(root_path_ + "/a/f", "x");
  fs::create_symlink("target", root_path_ + "/a/s");
  auto list = ListDirInfoBeneath(*root_, "a");
  ASSERT_TRUE(list.ok()) << list.status().ToString();
  EXPECT_EQ(list->size(), 2u);
  EXPECT_EQ(ReadLinkBeneath(*root_, "a/s").value(), "target");
  EXPECT_EQ(ListDirInfoBeneath(*root_, "").value().size(), 1u);
  fs::create_directory_symlink(outside_, root_path_ + "/b");
  EXPECT_EQ(ListDirInfoBeneath(*root_, "b").status().code(), Code::kUnsafePath);
}

INSTANTIATE_TEST_SUITE_P(Resolvers, BeneathTest,
                         ::testing::Values(Resolver::kOpenat2, Resolver::kWalk),
                         [](const auto& p) { return std::string(ResolverName(p.param)); });

TEST(ResolverChoiceTest, HasyncResolveIsHonoured) {
  EXPECT_EQ(ChooseResolver("walk").value(), Resolver::kWalk);
  ASSERT_TRUE(Openat2Available());
  EXPECT_EQ(ChooseResolver("openat2").value(), Resolver::kOpenat2);
  EXPECT_EQ(ChooseResolver(nullptr).value(), Resolver::kOpenat2) << "the probe prefers openat2";
  EXPECT_EQ(ChooseResolver("").value(), Resolver::kOpenat2);
  EXPECT_EQ(ChooseResolver("fast").status().code(), Code::kConfig);
}

// The variable itself, read by a fresh process (the choice is made once per process).
TEST(ResolverChoiceTest, HasyncResolveReachesTheDefault) {
  for (const char* value : {"walk", "openat2"}) {
    ::setenv("HASYNC_RESOLVE", value, 1);
    pid_t pid = ::fork();
    if (pid == 0) {
      auto r = DefaultResolver();
      ::_exit(r.ok() && ResolverName(*r) == value ? 0 : 1);
    }
    int status = 0;
    ASSERT_EQ(::waitpid(pid, &status, 0), pid);
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << value;
  }
  ::unsetenv("HASYNC_RESOLVE");
}

}  // namespace
}  // namespace hasync
