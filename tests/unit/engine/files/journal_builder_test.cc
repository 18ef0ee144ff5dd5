// Journal building: each action becomes the operation that puts it in place, in the plan's
// order, with the counts the summary reports.
#include "engine/files/journal_builder.h"

#include <gtest/gtest.h>

namespace hasync::engine {
namespace {

class JournalBuilderTest : public ::testing::Test {
 protected:
  JournalBuilderTest() : staging_(*Env::Default().value(), roots_) {}

  FileJob* AddJob(Action& a, const std::string& staged) {
    auto j = std::make_unique<FileJob>();
    j->action = &a;
    j->staged = staged;
    j->mtime_ns = 77;
    jobs_.push_back(std::move(j));
    return jobs_.back().get();
  }
  BuiltJournal Build() {
    return BuildJournal({.sync_id = 42,
                         .db_commit = true,
                         .set_owner = true,
                         .roots = &roots_,
                         .staging = &staging_,
                         .actions = &actions_,
                         .jobs = &jobs_,
                         .symlink_staged = &symlinks_});
  }

  std::vector<std::string> roots_{"/srv/a", "/srv/b"};
  StagingArea staging_;  // never touches the disk here: only its paths are used
  std::vector<WireEntry> remote_{
      WireEntry{.path = "x", .mode = 0640, .uid = 7, .gid = 8, .mtime_ns = 99, .hardlink_to = "t"}};
  std::vector<Action> actions_;
  std::vector<std::unique_ptr<FileJob>> jobs_;
  std::map<const Action*, std::string> symlinks_;
};

TEST_F(JournalBuilderTest, EveryActionBecomesItsOperationInPlanOrder) {
  actions_.reserve(8);
  actions_.push_back({.kind = ActionKind::kRemove, .root = 0, .path = "old"});
  actions_.push_back({.kind = ActionKind::kMkdir,
                      .root = 1,
                      .path = "d",
                      .type = FileType::kDirectory,
                      .remote = &remote_[0]});
  actions_.push_back(
      {.kind = ActionKind::kFile, .root = 1, .path = "d/new", .remote = &remote_[0]});
  actions_.push_back({.kind = ActionKind::kSymlink,
                      .root = 0,
                      .path = "l",
                      .type = FileType::kSymlink,
                      .remote = &remote_[0]});
  actions_.push_back({.kind = ActionKind::kLink, .root = 0, .path = "h", .remote = &remote_[0]});
  actions_.push_back({.kind = ActionKind::kMeta, .root = 0, .path = "m", .remote = &remote_[0]});
  AddJob(actions_[2], "/srv/b/.hasync-staging/b1/f0");
  symlinks_[&actions_[3]] = "/srv/a/.hasync-staging/b3/l0";
  BuiltJournal b = Build();
  const Journal& j = b.journal;
  EXPECT_EQ(j.sync_id, 42u);
  EXPECT_TRUE(j.db_commit);
  EXPECT_EQ(j.roots, roots_);
  EXPECT_EQ(j.staging_dirs[1], "/srv/b/.hasync-staging");
  ASSERT_EQ(j.ops.size(), 6u);
  EXPECT_EQ(j.ops[0].kind, OpKind::kRemove);
  EXPECT_EQ(j.ops[0].path, "/srv/a/old");
  EXPECT_EQ(j.ops[1].kind, OpKind::kMkdir);
  EXPECT_EQ(j.ops[2].kind, OpKind::kRename);
  EXPECT_EQ(j.ops[2].source, "/srv/b/.hasync-staging/b1/f0");
  EXPECT_EQ(j.ops[2].path, "/srv/b/d/new");
  EXPECT_EQ(j.ops[3].source, "/srv/a/.hasync-staging/b3/l0");
  EXPECT_EQ(j.ops[4].kind, OpKind::kLink);
  EXPECT_EQ(j.ops[4].source, "/srv/a/t");
  EXPECT_EQ(j.ops[4].temp, staging_.PathFor(0, "h", 'h', 0));
  EXPECT_EQ(j.ops[5].kind, OpKind::kMeta);
  EXPECT_EQ(j.ops[5].mode, 0640u);
  EXPECT_EQ(j.ops[5].uid, 7u);
  EXPECT_TRUE(j.ops[5].set_owner);
  EXPECT_EQ(j.ops[5].mtime_ns, 99);
  EXPECT_EQ(b.counts.files_deleted, 1u);
  EXPECT_EQ(b.counts.dirs_created, 1u);
  EXPECT_EQ(b.counts.files_changed, 3u);
  EXPECT_EQ(b.counts.meta_changed, 1u);
}

TEST_F(JournalBuilderTest, InPlaceFileWritesItsRedoRunsThenRestampsWithTheReceivedTime) {
  actions_.push_back({.kind = ActionKind::kFile,
                      .root = 1,
                      .path = "big",
                      .remote = &remote_[0],
                      .in_place = true});
  FileJob* job = AddJob(actions_[0], "");
  job->runs.push_back(BlockRun{8192, 8192, 0});
  BuiltJournal b = Build();
  ASSERT_EQ(b.journal.ops.size(), 2u);
  EXPECT_EQ(b.journal.ops[0].kind, OpKind::kWriteBlocks);
  EXPECT_EQ(b.journal.ops[0].source, staging_.RedoPath(1));
  EXPECT_EQ(b.journal.ops[0].runs.size(), 1u);
  EXPECT_EQ(b.journal.ops[1].kind, OpKind::kMeta);
  EXPECT_EQ(b.journal.ops[1].mtime_ns, 77);  // what arrived, not what was listed
}

TEST_F(JournalBuilderTest, AFileThatVanishedOnThePrimaryIsLeftAsItWas) {
  actions_.push_back({.kind = ActionKind::kFile, .root = 0, .path = "gone", .remote = &remote_[0]});
  AddJob(actions_[0], "/srv/a/.hasync-staging/b0/f0")->vanished = true;
  BuiltJournal b = Build();
  EXPECT_TRUE(b.journal.ops.empty());
  EXPECT_EQ(b.counts.files_changed, 0u);
}

}  // namespace
}  // namespace hasync::engine
