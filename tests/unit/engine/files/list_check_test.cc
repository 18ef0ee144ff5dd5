// The check after a commit: only what the commit touched is looked at again, and what it left
// behind (a file grown since, an entry beneath a removed directory) is found.
#include "engine/files/list_check.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>

#include "engine/files/listing.h"
#include "snapshot/scanner.h"
#include "tests/test_util.h"

namespace hasync::engine {
namespace {

namespace fs = std::filesystem;

class ListCheckTest : public ::testing::Test {
 protected:
  void SetUp() override {
    root_.name = "data";
    root_.root = testing::MakeTempDir();
    env_ = NewPosixEnv();
  }
  void TearDown() override { fs::remove_all(root_.root); }

  // This node's scan of the root (as the sync took it before its commit), and a list of the
  // same entries (as if the Primary had them).
  snapshot::Manifest Scan() {
    snapshot::ScanOptions o{.read_xattrs = false};
    auto s = snapshot::ScanRoot(*env_, root_.root, o);
    EXPECT_TRUE(s.ok()) << s.status().ToString();
    return std::move(s->manifest);
  }
  Result<ListCheck> Check(const snapshot::Manifest& before, const std::vector<WireEntry>& list,
                          const std::vector<Action>& actions, bool full = false) {
    return CheckAgainstList(
        *env_, root_, 0, list, jobs_,
        {.full = full, .threads = 1, .scan_before = &before, .actions = &actions});
  }
  static Action Touch(ActionKind kind, const std::string& path, FileType type) {
    return Action{.kind = kind, .root = 0, .path = path, .type = type};
  }

  FileRootSettings root_;
  std::unique_ptr<Env> env_;
  std::vector<std::unique_ptr<FileJob>> jobs_;
};

TEST_F(ListCheckTest, OnlyWhatTheCommitTouchedIsLookedAtAgain) {
  testing::MakeSampleTree(root_.root);
  snapshot::Manifest before = Scan();
  std::vector<WireEntry> list = ListRoot(before).entries;
  std::vector<Action> actions = {Touch(ActionKind::kMeta, "certs/ca.pem", FileType::kRegular)};
  auto c = Check(before, list, actions);
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->difference, "");
  EXPECT_FALSE(c->rescanned) << "one touched path: no scan of the whole root";
  EXPECT_EQ(c->looked_again, 1u);

  // The touched file is not what the list says any more: found.
  testing::WriteFile(root_.root + "/certs/ca.pem", "shorter");
  c = Check(before, list, actions);
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->difference, "data:certs/ca.pem (size)");
  fs::remove(root_.root + "/certs/ca.pem");
  c = Check(before, list, actions);
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->difference, "data:certs/ca.pem (missing)");
}

TEST_F(ListCheckTest, AnEntryLeftBeneathARemovedDirectoryIsFound) {
  testing::MakeSampleTree(root_.root);
  testing::WriteFile(root_.root + "/old/deep/f", "left");
  snapshot::Manifest before = Scan();
  std::vector<WireEntry> list;
  for (WireEntry& e : ListRoot(before).entries) {
    if (e.path != "old" && e.path.rfind("old/", 0) != 0) list.push_back(std::move(e));
  }
  // The plan removes the directory (one action); a commit that removed only the directory's
  // name from its own records would leave old/deep/f behind.
  std::vector<Action> actions = {Touch(ActionKind::kRemove, "old", FileType::kDirectory)};
  fs::remove_all(root_.root + "/old/deep");
  auto c = Check(before, list, actions);
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->difference, "data:old (not on the Primary)");
  fs::remove_all(root_.root + "/old");
  testing::WriteFile(root_.root + "/old", "a file where the directory was");
  c = Check(before, list, actions);
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->difference, "data:old (not on the Primary)");
  fs::remove(root_.root + "/old");
  c = Check(before, list, actions);
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->difference, "");
  EXPECT_FALSE(c->rescanned);
  EXPECT_EQ(c->looked_again, 3u) << "old, old/deep, old/deep/f";

  // The directory removed but one of its entries back where it was.
  testing::WriteFile(root_.root + "/old/deep/f", "left");
  c = Check(before, list, actions);
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->difference, "data:old (not on the Primary)");
}

TEST_F(ListCheckTest, AnEntryNoActionRemovedIsFound) {
  testing::MakeSampleTree(root_.root);
  snapshot::Manifest before = Scan();
  std::vector<WireEntry> list;
  for (WireEntry& e : ListRoot(before).entries) {
    if (e.path != "certs/ca.pem") list.push_back(std::move(e));
  }
  auto c = Check(before, list, {});
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->difference, "data:certs/ca.pem (not on the Primary)");
}

TEST_F(ListCheckTest, ManyTouchedEntriesOrFullScanTheRootOnce) {
  for (uint64_t i = 0; i <= kMaxLookedAgain; ++i) {
    testing::WriteFile(root_.root + "/d/" + std::to_string(i), "x");
  }
  snapshot::Manifest before = Scan();
  std::vector<WireEntry> list = ListRoot(before).entries;
  std::vector<Action> actions;
  for (const WireEntry& e : list) actions.push_back(Touch(ActionKind::kFile, e.path, e.type));
  auto c = Check(before, list, actions);
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_TRUE(c->rescanned);
  EXPECT_EQ(c->looked_again, 0u);
  EXPECT_EQ(c->difference, "");
  actions.resize(1);
  c = Check(before, list, actions, /*full=*/true);
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_TRUE(c->rescanned);
  EXPECT_EQ(c->difference, "");
}

}  // namespace
}  // namespace hasync::engine
