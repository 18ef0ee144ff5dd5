// Validation of the Primary's list and the comparison with the local scan.
#include "engine/files/plan.h"

#include <gtest/gtest.h>

namespace hasync::engine {
namespace {

snapshot::Entry Local(const std::string& path, FileType type, uint32_t mode) {
  snapshot::Entry e;
  e.path = path;
  e.type = type;
  e.mode = mode;
  return e;
}

WireEntry Dir(const std::string& p) {
  return {.path = p, .type = FileType::kDirectory, .mode = 0755};
}
WireEntry File(const std::string& p) {
  return {.path = p, .type = FileType::kRegular, .mode = 0644};
}

TEST(PlanTest, HostileListsAreRefused) {
  EXPECT_EQ(ValidateRemoteList({File("../x")}).code(), Code::kUnsafePath);
  EXPECT_EQ(ValidateRemoteList({File("/etc/passwd")}).code(), Code::kUnsafePath);
  WireEntry link{.path = "a", .type = FileType::kSymlink, .link_target = "/etc"};
  EXPECT_EQ(ValidateRemoteList({link, File("a/passwd")}).code(), Code::kUnsafePath);
  EXPECT_EQ(ValidateRemoteList({File("b"), File("a")}).code(), Code::kProtocol);
  EXPECT_EQ(ValidateRemoteList({File("a"), File("a")}).code(), Code::kProtocol);
  WireEntry hard = File("b");
  hard.hardlink_to = "zzz";
  EXPECT_EQ(ValidateRemoteList({File("a"), hard}).code(), Code::kProtocol);
  EXPECT_TRUE(ValidateRemoteList({Dir("a"), File("a/b")}).ok());
}

TEST(PlanTest, ReservedNamesAreRefused) {
  Status st = ValidateRemoteList({File(".hasync-staging")});
  EXPECT_EQ(st.code(), Code::kProtocol);
  EXPECT_NE(st.message().find("reserves for its staging folder"), std::string::npos)
      << st.message();
  EXPECT_EQ(ValidateRemoteList({Dir(".hasync-staging"), File(".hasync-staging/f")}).code(),
            Code::kProtocol);
  EXPECT_TRUE(ValidateRemoteList({Dir("a"), Dir("a/.hasync-staging")}).ok()) << "only at the top";
  EXPECT_TRUE(ValidateRemoteList({File(".hasync-staging2")}).ok());
}

TEST(PlanTest, SizesThisNodeCannotHoldAreRefused) {
  WireEntry huge = File("f");
  huge.size = 1ull << 50;
  Status st = ValidateRemoteList({huge});
  EXPECT_EQ(st.code(), Code::kProtocol);
  EXPECT_NE(st.message().find("more than this node can receive"), std::string::npos)
      << st.message();
  EXPECT_EQ(ValidateRemoteList({huge}, {.max_file_size = huge.size}).code(), Code::kOk);
  huge.size = 100ull << 30;  // a 100 GiB file (sparse, say) is legitimate
  EXPECT_TRUE(ValidateRemoteList({huge}, {.max_file_size = 1ull << 40}).ok());
  EXPECT_GE(MaxReceivableSize(), 1ull << 30) << "any machine that runs the tests holds 1 GiB";
}

TEST(PlanTest, RemovalsComeDeepestFirstBeforeCreation) {
  RootPlan p;
  std::vector<snapshot::Entry> local = {Local("gone", FileType::kDirectory, 0755),
                                        Local("gone/f", FileType::kRegular, 0644)};
  p.local = snapshot::Manifest(local);
  p.remote = {File("gone2")};
  std::vector<Action> out;
  PlanRoot(0, p, {}, out);
  ASSERT_GE(out.size(), 3u);
  EXPECT_EQ(out[0].kind, ActionKind::kRemove);
  EXPECT_EQ(out[0].path, "gone/f");
  EXPECT_EQ(out[1].path, "gone");
  EXPECT_EQ(out[2].kind, ActionKind::kFile);
}

TEST(PlanTest, SameDigestMeansNoTransfer) {
  RootPlan p;
  snapshot::Entry f = Local("f", FileType::kRegular, 0644);
  f.size = 3;
  f.mtime_ns = 7;
  f.hashed = true;
  f.digest = 42;
  p.local = snapshot::Manifest({f});
  WireEntry r = File("f");
  r.size = 3;
  r.mtime_ns = 7;
  r.hashed = true;
  r.digest = 42;
  p.remote = {r};
  std::vector<Action> out;
  PlanRoot(0, p, {}, out);
  EXPECT_TRUE(out.empty());
}

// Setting an attribute or ACL moves ctime only: the entry is the same file with the same mtime,
// and only a metadata update (no transfer) brings the attributes over; a directory's too.
TEST(PlanTest, AnAttributeOnlyChangeIsAMetadataUpdate) {
  RootPlan p;
  snapshot::Entry d = Local("d", FileType::kDirectory, 0755);
  snapshot::Entry f = Local("d/f", FileType::kRegular, 0644);
  f.size = 3;
  f.hashed = true;
  f.digest = 42;
  f.xattrs = {{"user.a", "1"}};
  p.local = snapshot::Manifest({d, f});
  WireEntry rd = Dir("d");
  rd.xattrs = {{"system.posix_acl_default", "acl"}};
  WireEntry r = File("d/f");
  r.size = 3;
  r.hashed = true;
  r.digest = 42;
  r.xattrs = {{"user.a", "2"}};
  p.remote = {rd, r};
  std::vector<Action> out;
  PlanRoot(0, p, {}, out);
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(out[0].kind, ActionKind::kMeta);
  EXPECT_EQ(out[0].path, "d/f");
  EXPECT_EQ(out[1].kind, ActionKind::kMeta);
  EXPECT_EQ(out[1].path, "d");
  p.remote[0].xattrs.clear();
  p.remote[1].xattrs = f.xattrs;
  p.local.mutable_entries()[0].xattrs.clear();
  out.clear();
  PlanRoot(0, p, {}, out);
  EXPECT_TRUE(out.empty());
}

}  // namespace
}  // namespace hasync::engine
