// The Primary's list of a root: every entry as scanned, and a hard link named by its first path.
#include "engine/files/listing.h"

#include <gtest/gtest.h>

namespace hasync::engine {
namespace {

snapshot::Entry File(const std::string& path, uint64_t inode, uint32_t nlink) {
  snapshot::Entry e;
  e.path = path;
  e.type = FileType::kRegular;
  e.mode = 0644;
  e.size = 10;
  e.inode = inode;
  e.device = 1;
  e.nlink = nlink;
  e.hashed = true;
  e.digest = inode * 3;
  return e;
}

TEST(ListingTest, TheSecondPathOfAnInodeIsAHardLinkToTheFirst) {
  snapshot::Manifest m({File("a", 5, 2), File("b", 6, 1), File("c", 5, 2)});
  RootListing l = ListRoot(m);
  ASSERT_EQ(l.entries.size(), 3u);
  EXPECT_EQ(l.entries[0].hardlink_to, "");
  EXPECT_EQ(l.entries[1].hardlink_to, "");
  EXPECT_EQ(l.entries[2].hardlink_to, "a");
  EXPECT_EQ(l.hardlink_to.size(), 1u);
  EXPECT_EQ(l.hardlink_to.at("c"), "a");
  EXPECT_EQ(l.entries[1].digest, 18u);
  EXPECT_TRUE(l.entries[1].hashed);
}

TEST(ListingTest, FilesWithOneLinkNeverBecomeLinksEvenWithTheSameInode) {
  // Inode numbers repeat across devices; nlink 1 means no other path can share it.
  snapshot::Manifest m({File("a", 5, 1), File("b", 5, 1)});
  RootListing l = ListRoot(m);
  EXPECT_TRUE(l.hardlink_to.empty());
}

}  // namespace
}  // namespace hasync::engine
