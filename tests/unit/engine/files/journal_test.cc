// The journal: durable, confined to its roots, and idempotent when rolled forward again.
#include "engine/files/journal.h"

#include <gtest/gtest.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "common/hash.h"
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

// A metadata operation carries the entry's attributes (format 3): after a crash the roll-forward
// sets and removes them as the sync would have, so they survive the journal's round trip.
TEST(JournalTest, MetaOperationsCarryAttributesThroughTheJournal) {
  std::string dir = testing::MakeTempDir();
  std::string root = dir + "/root", state = dir + "/state";
  testing::WriteFile(root + "/f", "f");
  std::filesystem::create_directories(state);
  ASSERT_EQ(::setxattr((root + "/f").c_str(), "user.old", "o", 1, 0), 0);
  Journal j;
  j.roots = {root};
  j.staging_dirs = {root + "/.hasync-staging"};
  j.ops.push_back({.kind = OpKind::kMeta,
                   .path = root + "/f",
                   .type = FileType::kRegular,
                   .mode = 0640,
                   .mtime_ns = 1'000'000'000,
                   .set_xattrs = true,
                   .xattrs = {{"user.new", "n"}}});
  auto parsed = Journal::Parse(j.Serialize());
  ASSERT_TRUE(parsed.ok()) << parsed.status().ToString();
  ASSERT_TRUE(parsed->ops[0].set_xattrs);
  EXPECT_EQ(parsed->ops[0].xattrs, j.ops[0].xattrs);
  Env& env = *Env::Default().value();
  ASSERT_TRUE(CommitJournal(env, state, j).ok());
  auto rolled = RecoverJournal(env, state, {.roots = {root}});  // parses what was written
  ASSERT_TRUE(rolled.ok()) << rolled.status().ToString();
  EXPECT_TRUE(rolled->rolled_forward);
  char buf[16];
  EXPECT_EQ(::getxattr((root + "/f").c_str(), "user.new", buf, sizeof(buf)), 1);
  EXPECT_LT(::getxattr((root + "/f").c_str(), "user.old", buf, sizeof(buf)), 0);
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

// An account that can write the root's top folder renames hasync's staging folder away and
// puts its own at the name, holding a file where a staged one is expected (its content changed
// after the digest check): the commit takes nothing from a staging folder that is not this
// account's, so that file never reaches the root with the listed owner and mode.
TEST_P(JournalRaceTest, AStagingFolderAnotherAccountPutInPlaceIsRefused) {
  if (::geteuid() != 0) GTEST_SKIP() << "chowns to another account: needs root";
  std::filesystem::rename(root_ + "/.hasync-staging", root_ + "/moved-away");
  testing::WriteFile(root_ + "/.hasync-staging/f0", "replaced after the check");
  testing::WriteFile(root_ + "/.hasync-staging/redo", "evil");
  const uid_t nobody = 65534;
  ASSERT_EQ(::chown((root_ + "/.hasync-staging").c_str(), nobody, nobody), 0);
  std::string f = root_ + "/a/f", s = root_ + "/.hasync-staging/";
  testing::WriteFile(f, "old!");
  for (const JournalOp& op :
       {JournalOp{.kind = OpKind::kRename, .path = f, .source = s + "f0"},
        JournalOp{.kind = OpKind::kWriteBlocks,
        .path = f,
        .source = s + "redo",
        .runs = {{.offset = 0, .length = 4, .redo_offset = 0}}},
        JournalOp{.kind = OpKind::kLink, .path = root_ + "/a/g", .source = f, .temp = s + "h0"}}) {
    auto r = Apply(op);
    ASSERT_FALSE(r.ok()) << static_cast<int>(op.kind);
    EXPECT_EQ(r.status().code(), Code::kUnsafePath) << r.status().ToString();
    EXPECT_NE(r.status().message().find("not the one hasync made"), std::string::npos);
    EXPECT_EQ(testing::ReadFile(f), "old!");
    EXPECT_FALSE(std::filesystem::exists(root_ + "/a/g"));
  }
  // hasync's own folder, put back, is used again.
  std::filesystem::remove_all(root_ + "/.hasync-staging");
  std::filesystem::rename(root_ + "/moved-away", root_ + "/.hasync-staging");
  auto r = Apply({.kind = OpKind::kRename, .path = f, .source = s + "f0"});
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(testing::ReadFile(f), "staged");
}

// A crash during the clean-up: the renames were done and the staging folder is gone; rolling
// the journal forward again finds every staged file missing and its destination in place.
TEST_P(JournalRaceTest, RollingForwardAfterTheStagingFolderWasRemovedFinishes) {
  std::string f = root_ + "/a/f", s = root_ + "/.hasync-staging/";
  testing::WriteFile(f, "staged");
  testing::WriteFile(root_ + "/a/g", "staged");
  std::filesystem::remove_all(root_ + "/.hasync-staging");
  for (const JournalOp& op :
       {JournalOp{.kind = OpKind::kRename, .path = f, .source = s + "f0"},
        JournalOp{.kind = OpKind::kLink, .path = root_ + "/a/g", .source = f, .temp = s + "h0"}}) {
    if (op.kind == OpKind::kLink) {
      std::filesystem::remove(root_ + "/a/g");
      std::filesystem::create_hard_link(f, root_ + "/a/g");
    }
    auto r = Apply(op);
    EXPECT_TRUE(r.ok()) << r.status().ToString();
  }
  EXPECT_EQ(testing::ReadFile(f), "staged");
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

// The root's own metadata is set last, after its staging folder is gone, and survives the
// journal's round trip: the Primary's when a crash is rolled forward on recovery, the root's
// own from before the sync when a sync the database never committed is discarded.
TEST(JournalTest, TheRootsOwnMetadataIsSetAfterTheStagingFolderGoes) {
  for (bool db_has_it : {true, false}) {
    SCOPED_TRACE(db_has_it);
    std::string dir = testing::MakeTempDir();
    std::string root = dir + "/root", state = dir + "/state";
    testing::WriteFile(root + "/.hasync-staging/f0", "new");
    std::filesystem::create_directories(state);
    Journal j;
    j.sync_id = 7;
    j.db_commit = true;
    j.roots = {root};
    j.staging_dirs = {root + "/.hasync-staging"};
    j.ops.push_back({.kind = OpKind::kRename,
                     .path = root + "/new.txt",
                     .source = root + "/.hasync-staging/f0"});
    j.root_meta.push_back(RootMetaChange{.root = 0,
                                         .after = {.mode = 0751, .mtime_ns = 2'000'000'000'123},
                                         .before = {.mode = 0705, .mtime_ns = 1'000'000'000'456}});
    Env& env = *Env::Default().value();
    ASSERT_TRUE(CommitJournal(env, state, j).ok());
    auto recovered = RecoverJournal(
        env, state, {.roots = {root}, .db_committed_sync = [db_has_it]() -> Result<uint64_t> {
                       return db_has_it ? 7 : 6;
                     }});
    ASSERT_TRUE(recovered.ok()) << recovered.status().ToString();
    auto info = env.Stat(root);
    ASSERT_TRUE(info.ok());
    EXPECT_EQ(info->mode, db_has_it ? 0751u : 0705u);
    EXPECT_EQ(info->mtime_ns, db_has_it ? 2'000'000'000'123 : 1'000'000'000'456);
    EXPECT_FALSE(std::filesystem::exists(root + "/.hasync-staging"));
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

// Found by ci/fuzz.sh (fuzz/journal_fuzzer.cc): a run count near 2^32 with a few bytes left made
// Parse allocate 81 GB (std::bad_alloc, abort) before reading a run. The journal body as the
// fuzzer found it, sealed with its checksum as a forger would.
TEST(JournalTest, RunCountPastTheEndIsRefusedBeforeAllocating) {
  std::vector<uint8_t> body = {
      0x48, 0x53, 0x4a, 0x4e, 0x02, 0x00, 0x00, 0x00, 0x0c, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
      0x00, 0x01, 0x01, 0x06, 0x2f, 0x73, 0x72, 0x76, 0x2f, 0x61, 0x01, 0x19, 0x2f, 0x73, 0x72,
      0x76, 0x2f, 0x61, 0x2f, 0x2e, 0x68, 0x61, 0x73, 0x79, 0x6e, 0x63, 0x2d, 0x73, 0x74, 0x61,
      0x67, 0x69, 0x6e, 0x67, 0x2f, 0x31, 0x32, 0x06, 0x02, 0x00, 0x08, 0x2f, 0x73, 0x72, 0x76,
      0x2f, 0x61, 0x2f, 0x64, 0x00, 0x00, 0x01, 0xed, 0x03, 0x00, 0x00, 0x00, 0x00, 0x00, 0x03,
      0x00, 0x4a, 0x2f, 0x73, 0x72, 0x76, 0x2f, 0x61, 0x2f, 0x64, 0x2f, 0x66, 0x1b, 0x2f, 0x73,
      0x72, 0x76, 0x2f, 0x61, 0x2f, 0x2e, 0x68, 0x61, 0x73, 0x79, 0x6e, 0x63, 0x2d, 0x73, 0x74,
      0x61, 0x67, 0x69, 0x6e, 0x67, 0x2f, 0x31, 0x2f, 0x73, 0x72, 0x76, 0x2f, 0x61, 0x2f, 0x2e,
      0x68, 0x61, 0x73, 0x79, 0x6e, 0x63, 0x2d, 0x73, 0x74, 0x61, 0x67, 0x69, 0x6e, 0x67, 0x2f,
      0x31, 0x32, 0x2f, 0x32, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0x80, 0x40, 0x80, 0x40, 0x00,
      0x06, 0x00, 0x0a, 0x2f, 0x73, 0x72, 0x76, 0x2f, 0x61, 0x2f, 0x64, 0x2f, 0x66, 0x00, 0x00,
      0x00, 0xa0, 0x03, 0xf9, 0xe8, 0x07, 0xe8, 0x07, 0x80, 0xc4, 0x9f, 0xd5, 0x0c, 0x00, 0x01,
      0x00, 0x0a, 0x2f, 0x73, 0x72, 0x76, 0x2f, 0x61, 0x2f, 0x6f, 0x6c, 0x64, 0x00, 0x00, 0x02,
      0x00, 0x00, 0x00, 0x00, 0x00, 0x00};
  std::vector<std::byte> data(reinterpret_cast<const std::byte*>(body.data()),
                              reinterpret_cast<const std::byte*>(body.data()) + body.size());
  uint64_t sum = Hash64(data);
  const auto* s = reinterpret_cast<const std::byte*>(&sum);
  data.insert(data.end(), s, s + sizeof(sum));
  auto j = Journal::Parse(data);
  ASSERT_FALSE(j.ok());
  EXPECT_EQ(j.status().code(), Code::kIo);
}

}  // namespace
}  // namespace hasync::engine
