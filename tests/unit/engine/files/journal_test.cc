// The journal: durable, confined to its roots, and idempotent when rolled forward again.
#include "engine/files/journal.h"

#include <gtest/gtest.h>

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
