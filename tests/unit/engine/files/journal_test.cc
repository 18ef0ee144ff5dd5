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
  auto recovered = RecoverJournal(env, state, {.roots = {root}});
  ASSERT_TRUE(recovered.ok()) << recovered.status().ToString();
  EXPECT_TRUE(recovered->rolled_forward);
  EXPECT_EQ(recovered->quarantined, "");
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
  auto recovered = RecoverJournal(*Env::Default().value(), state, {});
  ASSERT_TRUE(recovered.ok());
  EXPECT_FALSE(recovered->rolled_forward);
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
    // Without a way to ask the database, nothing is decided.
    auto recovered = RecoverJournal(env, state, {.roots = {root}});
    EXPECT_EQ(recovered.status().code(), Code::kConfig);
    EXPECT_TRUE(std::filesystem::exists(JournalPath(state)));
    recovered = RecoverJournal(
        env, state, {.roots = {root}, .db_committed_sync = [db_has_it]() -> Result<uint64_t> {
                       return db_has_it ? 42 : 41;
                     }});
    ASSERT_TRUE(recovered.ok()) << recovered.status().ToString();
    EXPECT_EQ(recovered->rolled_forward, db_has_it);
    EXPECT_EQ(std::filesystem::exists(root + "/new.txt"), db_has_it);
    EXPECT_FALSE(std::filesystem::exists(root + "/.hasync-staging"));
    EXPECT_FALSE(std::filesystem::exists(JournalPath(state)));
    std::filesystem::remove_all(dir);
  }
}

// Sources are checked on load: a staged file or redo log only from its root's staging folder, a
// hard link's source only from its root, staging folders only <root>/.hasync-staging.
TEST(JournalTest, SourcesOutsideAStagingFolderAreRefusedOnLoad) {
  auto refused = [](const Journal& j) {
    auto parsed = Journal::Parse(j.Serialize());
    EXPECT_EQ(parsed.status().code(), Code::kUnsafePath) << parsed.status().ToString();
  };
  Journal j;
  j.roots = {"/srv/root"};
  j.ops.push_back({.kind = OpKind::kRename, .path = "/srv/root/a", .source = "/etc/shadow"});
  refused(j);
  j.ops[0].source = "/srv/root/b";  // inside the root, but not staged
  refused(j);
  j.ops[0] = {.kind = OpKind::kWriteBlocks, .path = "/srv/root/a", .source = "/srv/root/b"};
  refused(j);
  j.ops[0] = {.kind = OpKind::kLink,
              .path = "/srv/root/a",
              .source = "/etc/shadow",
              .temp = "/srv/root/.hasync-staging/h0"};
  refused(j);
  j.ops[0].source = "/srv/root/b";
  j.ops[0].temp = "/tmp/h0";
  refused(j);
  j.ops[0] = {.kind = OpKind::kMeta, .path = "/srv/root/a", .source = "/etc/shadow"};
  refused(j);
  j.ops[0] = {
      .kind = OpKind::kRename, .path = "/srv/root/a", .source = "/srv/root/.hasync-staging/f0"};
  EXPECT_TRUE(Journal::Parse(j.Serialize()).ok());
  j.staging_dirs = {"/etc"};
  refused(j);
  j.staging_dirs = {"/srv/root/.hasync-staging"};
  EXPECT_TRUE(Journal::Parse(j.Serialize()).ok());
}

// A journal planted by another account names roots of its own choosing: it is refused against
// the configured roots and moved aside, and nothing it names is touched.
TEST(JournalTest, AJournalForOtherRootsIsQuarantinedUntouched) {
  std::string dir = testing::MakeTempDir();
  std::string root = dir + "/root", victim = dir + "/victim", state = dir + "/state";
  testing::WriteFile(victim + "/.hasync-staging/f0", "planted");
  testing::WriteFile(victim + "/keep", "mine");
  std::filesystem::create_directories(root);
  std::filesystem::create_directories(state);
  Journal j;
  j.roots = {victim};
  j.staging_dirs = {victim + "/.hasync-staging"};
  j.ops.push_back({.kind = OpKind::kRename,
                   .path = victim + "/keep",
                   .source = victim + "/.hasync-staging/f0"});
  Env& env = *Env::Default().value();
  ASSERT_TRUE(CommitJournal(env, state, j).ok());
  auto r = RecoverJournal(env, state, {.roots = {root}});
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_FALSE(r->rolled_forward);
  EXPECT_NE(r->quarantined.find(state + "/journal.quarantined-"), std::string::npos)
      << r->quarantined;
  EXPECT_TRUE(std::filesystem::exists(r->quarantined));
  EXPECT_FALSE(std::filesystem::exists(JournalPath(state)));
  EXPECT_EQ(testing::ReadFile(victim + "/keep"), "mine");
  EXPECT_TRUE(std::filesystem::exists(victim + "/.hasync-staging/f0"));
  std::filesystem::remove_all(dir);
}

// An operation that fails every time (its staged file is gone) must not block every later
// sync: the first recovery quarantines the journal, and the next finds none.
TEST(JournalTest, AJournalThatCannotBeRolledForwardIsQuarantined) {
  std::string dir = testing::MakeTempDir();
  std::string root = dir + "/root", state = dir + "/state";
  std::filesystem::create_directories(root + "/.hasync-staging");
  std::filesystem::create_directories(state);
  Journal j;
  j.sync_id = 7;
  j.roots = {root};
  j.staging_dirs = {root + "/.hasync-staging"};
  j.ops.push_back({.kind = OpKind::kRename,
                   .path = root + "/never.txt",
                   .source = root + "/.hasync-staging/missing"});
  Env& env = *Env::Default().value();
  ASSERT_TRUE(CommitJournal(env, state, j).ok());
  auto first = RecoverJournal(env, state, {.roots = {root}});
  ASSERT_TRUE(first.ok()) << first.status().ToString();
  EXPECT_FALSE(first->rolled_forward);
  EXPECT_FALSE(first->quarantined.empty());
  EXPECT_TRUE(std::filesystem::exists(first->quarantined));
  auto second = RecoverJournal(env, state, {.roots = {root}});
  ASSERT_TRUE(second.ok()) << second.status().ToString();
  EXPECT_FALSE(second->rolled_forward);
  EXPECT_EQ(second->quarantined, "");
  std::filesystem::remove_all(dir);
}

// The commit's temporary file is created O_EXCL: a symlink planted at its name is replaced,
// never written through.
TEST(JournalTest, TheCommitNeverWritesThroughWhatWasLeftAtItsTemporaryName) {
  std::string dir = testing::MakeTempDir();
  std::string state = dir + "/state";
  std::filesystem::create_directories(state);
  testing::WriteFile(dir + "/target", "untouched");
  std::filesystem::create_symlink(dir + "/target", JournalPath(state) + ".tmp");
  Journal j;
  j.roots = {dir + "/root"};
  ASSERT_TRUE(CommitJournal(*Env::Default().value(), state, j).ok());
  EXPECT_EQ(testing::ReadFile(dir + "/target"), "untouched");
  std::string written = testing::ReadFile(JournalPath(state));
  EXPECT_TRUE(Journal::Parse(std::as_bytes(std::span(written))).ok());
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace hasync::engine
