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
