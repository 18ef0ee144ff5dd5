// The journal: durable, confined to its roots, and idempotent when rolled forward again.
#include "engine/files/journal.h"

#include <gtest/gtest.h>

#include "tests/test_util.h"

namespace hasync::engine {
namespace {

TEST(JournalTest, RollForwardTwiceGivesTheSameTree) {
  std::string dir = testing::MakeTempDir();
  std::string root = dir + "/root", state = dir + "/state";
  testing::WriteFile(root + "/old.txt", "old");
  testing::WriteFile(root + "/.hasync-staging/f0", "new");
  std::filesystem::create_directories(state);
  Journal j;
  j.roots = {root};
  j.staging_dirs = {root + "/.hasync-staging"};
  j.ops.push_back({.kind = OpKind::kRemove, .path = root + "/old.txt"});
  j.ops.push_back({.kind = OpKind::kMkdir, .path = root + "/d", .type = FileType::kDirectory});
  j.ops.push_back({.kind = OpKind::kRename,
                   .path = root + "/d/new.txt",
                   .source = root + "/.hasync-staging/f0"});
  j.ops.push_back({.kind = OpKind::kMeta,
                   .path = root + "/d",
                   .type = FileType::kDirectory,
                   .mode = 0750,
                   .mtime_ns = 1'000'000'000});
  Env& env = *Env::Default().value();
  ASSERT_TRUE(CommitJournal(env, state, j).ok());
  // Replay the journal as if a crash happened after the first roll-forward.
  ASSERT_TRUE(std::filesystem::exists(JournalPath(state)));
  std::string saved = testing::ReadFile(JournalPath(state));
  ASSERT_TRUE(RollForward(env, state, j).ok());
  testing::WriteFile(JournalPath(state), saved);
  std::filesystem::create_directories(root + "/.hasync-staging");
  bool recovered = false;
  ASSERT_TRUE(RecoverJournal(env, state, &recovered).ok());
  EXPECT_TRUE(recovered);
  EXPECT_EQ(testing::ReadFile(root + "/d/new.txt"), "new");
  EXPECT_FALSE(std::filesystem::exists(root + "/old.txt"));
  EXPECT_FALSE(std::filesystem::exists(root + "/.hasync-staging"));
  EXPECT_FALSE(std::filesystem::exists(JournalPath(state)));
  EXPECT_EQ(std::filesystem::status(root + "/d").permissions(),
            static_cast<std::filesystem::perms>(0750));
  std::filesystem::remove_all(dir);
}

TEST(JournalTest, OperationsOutsideTheRootsAreRefusedOnLoad) {
  Journal j;
  j.roots = {"/srv/root"};
  j.ops.push_back({.kind = OpKind::kRemove, .path = "/srv/root/../etc/passwd"});
  auto parsed = Journal::Parse(j.Serialize());
  ASSERT_FALSE(parsed.ok());
  EXPECT_EQ(parsed.status().code(), Code::kUnsafePath);
}

TEST(JournalTest, UncommittedJournalIsDiscarded) {
  std::string state = testing::MakeTempDir();
  testing::WriteFile(JournalPath(state) + ".tmp", "half written");
  bool recovered = true;
  ASSERT_TRUE(RecoverJournal(*Env::Default().value(), state, &recovered).ok());
  EXPECT_FALSE(recovered);
  EXPECT_FALSE(std::filesystem::exists(JournalPath(state) + ".tmp"));
  std::filesystem::remove_all(state);
}

TEST(JournalTest, RenameRefusesToWriteThroughASymlinkedDirectory) {
  std::string dir = testing::MakeTempDir();
  std::string root = dir + "/root", outside = dir + "/outside";
  std::filesystem::create_directories(outside);
  std::filesystem::create_directories(root);
  std::filesystem::create_directory_symlink(outside, root + "/d");
  testing::WriteFile(root + "/.hasync-staging/f0", "evil");
  Journal j;
  j.roots = {root};
  j.ops.push_back(
      {.kind = OpKind::kRename, .path = root + "/d/x", .source = root + "/.hasync-staging/f0"});
  Status st = RollForward(*Env::Default().value(), dir, j);
  EXPECT_EQ(st.code(), Code::kUnsafePath) << st.ToString();
  EXPECT_FALSE(std::filesystem::exists(outside + "/x"));
  std::filesystem::remove_all(dir);
}

// The race of issue 14: the plan says a/f is a regular file due a metadata update; before the
// apply a local user replaces it with a symlink to a file outside the root. The apply must not
// chmod the outside file (0600 became 0666 with fchmodat on the path).
TEST(JournalTest, MetaDoesNotFollowAFileSwappedForASymlink) {
  std::string dir = testing::MakeTempDir();
  std::string root = dir + "/root", outside = dir + "/outside";
  testing::WriteFile(outside + "/shadow", "secret");
  std::filesystem::permissions(outside + "/shadow", static_cast<std::filesystem::perms>(0600));
  std::filesystem::create_directories(root + "/a");
  std::filesystem::create_symlink(outside + "/shadow", root + "/a/f");
  Journal j;
  j.roots = {root};
  j.ops.push_back({.kind = OpKind::kMeta,
                   .path = root + "/a/f",
                   .type = FileType::kRegular,
                   .mode = 0666,
                   .mtime_ns = 1'000'000'000});
  (void)RollForward(*Env::Default().value(), dir, j);
  EXPECT_EQ(std::filesystem::status(outside + "/shadow").permissions(),
            static_cast<std::filesystem::perms>(0600));
  EXPECT_EQ(testing::ReadFile(outside + "/shadow"), "secret");
  std::filesystem::remove_all(dir);
}

// The same race, each operation kind, with both resolvers: the journal says a/f is a regular
// file; before the roll-forward a local user replaces "a" with a symlink to a folder outside
// the root, or "f" with a symlink to a file outside (mode 0600). No operation touches the
// outside: the mode stays, the content stays, nothing is created there; each is skipped (and
// counted) or fails with kUnsafePath.
class JournalRaceTest : public ::testing::TestWithParam<Resolver> {
 protected:
  void SetUp() override {
    dir_ = testing::MakeTempDir();
    root_ = dir_ + "/root";
    outside_ = dir_ + "/outside";
    testing::WriteFile(outside_ + "/f", "secret");
    std::filesystem::permissions(outside_ + "/f", static_cast<std::filesystem::perms>(0600));
    testing::WriteFile(root_ + "/.hasync-staging/f0", "staged");
    testing::WriteFile(root_ + "/.hasync-staging/redo", "redo bytes");
    std::filesystem::create_directories(root_ + "/a");
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  Result<ApplyReport> Apply(JournalOp op) {
    Journal j;
    j.roots = {root_};
    j.ops.push_back(std::move(op));
    testing::WriteFile(JournalPath(dir_), "x");  // the roll-forward removes it at the end
    return ApplyJournal(*Env::Default().value(), dir_, j,
                        {.use_default = false, .resolver = GetParam()});
  }
  void ExpectOutsideUntouched() {
    EXPECT_EQ(std::filesystem::status(outside_ + "/f").permissions(),
              static_cast<std::filesystem::perms>(0600));
    EXPECT_EQ(testing::ReadFile(outside_ + "/f"), "secret");
    EXPECT_EQ(std::distance(std::filesystem::directory_iterator(outside_),
                            std::filesystem::directory_iterator()),
              1);
  }
  std::vector<JournalOp> EveryOp() {
    std::string f = root_ + "/a/f", s = root_ + "/.hasync-staging/";
    return {
        {.kind = OpKind::kMeta, .path = f, .type = FileType::kRegular, .mode = 0666},
        {.kind = OpKind::kWriteBlocks,
         .path = f,
         .source = s + "redo",
         .runs = {{.offset = 0, .length = 4, .redo_offset = 0}}},
        {.kind = OpKind::kRename, .path = f, .source = s + "f0"},
        {.kind = OpKind::kLink, .path = f, .source = s + "f0", .temp = s + "h0"},
        {.kind = OpKind::kRemove, .path = f, .type = FileType::kRegular},
        {.kind = OpKind::kMkdir, .path = root_ + "/a/d", .type = FileType::kDirectory},
    };
  }
  std::string dir_, root_, outside_;
};

TEST_P(JournalRaceTest, ADirectorySwappedForASymlinkSendsNoOperationOutside) {
  std::filesystem::remove_all(root_ + "/a");
  std::filesystem::create_directory_symlink(outside_, root_ + "/a");
  for (const JournalOp& op : EveryOp()) {
    auto r = Apply(op);
    if (r.ok()) {
      EXPECT_EQ(r->skipped_changed, 1u) << static_cast<int>(op.kind);
    } else {
      EXPECT_EQ(r.status().code(), Code::kUnsafePath) << r.status().ToString();
    }
    ExpectOutsideUntouched();
  }
}

TEST_P(JournalRaceTest, AFileSwappedForASymlinkIsNeverFollowed) {
  for (const JournalOp& op : EveryOp()) {
    std::filesystem::remove_all(root_ + "/a");
    std::filesystem::create_directories(root_ + "/a");
    std::filesystem::create_symlink(outside_ + "/f", root_ + "/a/f");
    testing::WriteFile(root_ + "/.hasync-staging/f0", "staged");
    auto r = Apply(op);
    if (op.kind == OpKind::kMeta) {
      ASSERT_TRUE(r.ok()) << r.status().ToString();
      EXPECT_EQ(r->skipped_changed, 1u) << "skipped and reported";
    } else if (op.kind == OpKind::kWriteBlocks) {
      EXPECT_EQ(r.status().code(), Code::kUnsafePath) << r.status().ToString();
    } else {
      // Rename, link and remove replace or remove the symlink itself.
      EXPECT_TRUE(r.ok()) << r.status().ToString();
    }
    ExpectOutsideUntouched();
  }
}

TEST_P(JournalRaceTest, MetaOnAFileReplacedByADirectoryIsSkippedAndReported) {
  std::filesystem::create_directories(root_ + "/a/f");
  std::filesystem::permissions(root_ + "/a/f", static_cast<std::filesystem::perms>(0755));
  auto r = Apply({.kind = OpKind::kMeta,
                  .path = root_ + "/a/f",
                  .type = FileType::kRegular,
                  .mode = 0600,
                  .mtime_ns = 1'000'000'000});
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->skipped_changed, 1u);
  EXPECT_EQ(std::filesystem::status(root_ + "/a/f").permissions(),
            static_cast<std::filesystem::perms>(0755));
}

TEST_P(JournalRaceTest, StagingCleanupKeepsAnOutsideFolderSwappedIn) {
  std::filesystem::create_directories(root_ + "/.hasync-staging/b1");
  std::filesystem::create_directory_symlink(outside_, root_ + "/.hasync-staging/b2");
  Journal j;
  j.roots = {root_};
  j.staging_dirs = {root_ + "/.hasync-staging"};
  testing::WriteFile(JournalPath(dir_), "x");
  auto r = ApplyJournal(*Env::Default().value(), dir_, j,
                        {.use_default = false, .resolver = GetParam()});
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_FALSE(std::filesystem::exists(root_ + "/.hasync-staging"));
  ExpectOutsideUntouched();
}

INSTANTIATE_TEST_SUITE_P(Resolvers, JournalRaceTest,
                         ::testing::Values(Resolver::kOpenat2, Resolver::kWalk),
                         [](const auto& p) { return std::string(ResolverName(p.param)); });

// With a database, the journal is only a proposal: recovery rolls it forward when the database
// recorded its sync, and throws it away (with its staged files) when it did not.
TEST(JournalTest, DatabaseCommitDecidesRecovery) {
  for (bool db_has_it : {true, false}) {
    std::string dir = testing::MakeTempDir();
    std::string root = dir + "/root", state = dir + "/state";
    testing::WriteFile(root + "/.hasync-staging/f0", "new");
    std::filesystem::create_directories(state);
    Journal j;
    j.sync_id = 42;
    j.db_commit = true;
    j.roots = {root};
    j.staging_dirs = {root + "/.hasync-staging"};
    j.ops.push_back({.kind = OpKind::kRename,
                     .path = root + "/new.txt",
                     .source = root + "/.hasync-staging/f0"});
    Env& env = *Env::Default().value();
    ASSERT_TRUE(CommitJournal(env, state, j).ok());
    bool recovered = false;
    // Without a way to ask the database, nothing is decided.
    Status st = RecoverJournal(env, state, &recovered);
    EXPECT_EQ(st.code(), Code::kConfig);
    EXPECT_TRUE(std::filesystem::exists(JournalPath(state)));
    st = RecoverJournal(env, state, &recovered,
                        [db_has_it]() -> Result<uint64_t> { return db_has_it ? 42 : 41; });
    ASSERT_TRUE(st.ok()) << st.ToString();
    EXPECT_EQ(recovered, db_has_it);
    EXPECT_EQ(std::filesystem::exists(root + "/new.txt"), db_has_it);
    EXPECT_FALSE(std::filesystem::exists(root + "/.hasync-staging"));
    EXPECT_FALSE(std::filesystem::exists(JournalPath(state)));
    std::filesystem::remove_all(dir);
  }
}

}  // namespace
}  // namespace hasync::engine
