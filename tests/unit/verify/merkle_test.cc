// The Merkle tree over manifests: equal trees have equal roots; one changed file changes the
// digests on its path only, and CompareChildren names each kind of difference.
#include "verify/merkle.h"

#include <gtest/gtest.h>

namespace hasync::verify {
namespace {

snapshot::Entry File(const std::string& path, uint64_t digest, uint64_t size = 10) {
  snapshot::Entry e;
  e.path = path;
  e.type = FileType::kRegular;
  e.mode = 0644;
  e.size = size;
  e.mtime_ns = 5;
  e.hashed = true;
  e.digest = digest;
  e.blocks = {digest};
  return e;
}

snapshot::Entry Dir(const std::string& path) {
  snapshot::Entry e;
  e.path = path;
  e.type = FileType::kDirectory;
  e.mode = 0755;
  e.mtime_ns = 77;
  return e;
}

snapshot::Manifest Tree(uint64_t changed_digest = 3) {
  return snapshot::Manifest({Dir("a"), Dir("a/b"), File("a/b/x", 1), File("a/y", 2), Dir("c"),
                             File("c/z", changed_digest), File("top", 4)});
}

TEST(MerkleTest, EqualTreesHaveEqualDigestsAndOneChangeShowsOnItsPathOnly) {
  MerkleTree a = MerkleTree::Build(Tree());
  MerkleTree b = MerkleTree::Build(Tree());
  EXPECT_EQ(a.RootDigest(), b.RootDigest());
  MerkleTree c = MerkleTree::Build(Tree(99));
  EXPECT_NE(a.RootDigest(), c.RootDigest());
  EXPECT_NE(a.Digest("c"), c.Digest("c"));
  EXPECT_EQ(a.Digest("a"), c.Digest("a")) << "a's subtree did not change";
  EXPECT_EQ(a.Digest("a/b"), c.Digest("a/b"));
  ASSERT_EQ(a.Children("").size(), 3u);
  EXPECT_EQ(a.Children("a/b")[0].path, "a/b/x");
  EXPECT_TRUE(a.Children("nope").empty());
  // Directory mtimes are not part of the digest (they move with staging on the Secondary).
  auto moved = Tree();
  moved.mutable_entries()[0].mtime_ns = 12345;
  EXPECT_EQ(MerkleTree::Build(moved).RootDigest(), a.RootDigest());
}

TEST(MerkleTest, CompareChildrenNamesEachDifferenceAndWhereToDescend) {
  MerkleTree p =
      MerkleTree::Build(snapshot::Manifest({Dir("d"), File("d/f", 1), File("gone", 2),
                                            File("same", 3), File("meta", 4), File("content", 5)}));
  auto meta = File("meta", 4);
  meta.mode = 0600;
  MerkleTree s = MerkleTree::Build(snapshot::Manifest(
      {Dir("d"), File("d/f", 9), meta, File("same", 3), File("stray", 6), File("content", 7)}));
  std::vector<TreeDifference> out;
  std::vector<std::string> descend, content;
  CompareChildren(p.Children(""), s.Children(""), out, descend, content);
  EXPECT_EQ(descend, std::vector<std::string>{"d"});
  EXPECT_EQ(content, std::vector<std::string>{"content"});
  ASSERT_EQ(out.size(), 3u);
  EXPECT_EQ(out[0].path, "gone");
  EXPECT_EQ(out[0].what, "missing on the Secondary");
  EXPECT_EQ(out[1].path, "meta");
  EXPECT_EQ(out[1].what, "mode differ");
  EXPECT_EQ(out[2].path, "stray");
  EXPECT_EQ(out[2].what, "not on the Primary");
}

TEST(MerkleTest, DifferingBlocksAreMergedIntoRanges) {
  using R = std::vector<std::pair<uint64_t, uint64_t>>;
  EXPECT_EQ(DifferingBlocks({1, 2, 3, 4, 5}, {1, 9, 9, 4, 9}), (R{{1, 2}, {4, 4}}));
  EXPECT_EQ(DifferingBlocks({1, 2}, {1, 2, 3, 4}), (R{{2, 3}})) << "a longer Secondary";
  EXPECT_EQ(DifferingBlocks({1, 2, 3}, {1}), (R{{1, 2}}));
  EXPECT_TRUE(DifferingBlocks({1, 2}, {1, 2}).empty());
}

}  // namespace
}  // namespace hasync::verify
