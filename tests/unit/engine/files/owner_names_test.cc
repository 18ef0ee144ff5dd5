// Ownership by name with a fake account table on each side: a user with different ids on the
// Primary and the Secondary keeps its name, an unknown name keeps its id, and the named entries
// of the ACLs follow the same mapping.
#include "engine/files/owner_names.h"

#include <gtest/gtest.h>

#include <cstring>

namespace hasync::engine {
namespace {

class FakeNames : public NameLookup {
 public:
  FakeNames(std::map<uint32_t, std::string> users, std::map<uint32_t, std::string> groups)
      : users_(std::move(users)), groups_(std::move(groups)) {}
  std::optional<std::string> UserName(uint32_t uid) override { return Find(users_, uid); }
  std::optional<std::string> GroupName(uint32_t gid) override { return Find(groups_, gid); }
  std::optional<uint32_t> UserId(const std::string& n) override { return Id(users_, n); }
  std::optional<uint32_t> GroupId(const std::string& n) override { return Id(groups_, n); }

 private:
  static std::optional<std::string> Find(const std::map<uint32_t, std::string>& m, uint32_t id) {
    auto it = m.find(id);
    return it == m.end() ? std::nullopt : std::optional(it->second);
  }
  static std::optional<uint32_t> Id(const std::map<uint32_t, std::string>& m,
                                    const std::string& n) {
    for (const auto& [id, name] : m) {
      if (name == n) return id;
    }
    return std::nullopt;
  }
  std::map<uint32_t, std::string> users_, groups_;
};

// A raw ACL: version 2, then (tag, perm, id) entries.
std::string Acl(std::vector<std::tuple<uint16_t, uint16_t, uint32_t>> entries) {
  std::string out("\x02\0\0\0", 4);
  for (auto [tag, perm, id] : entries) {
    char b[8];
    std::memcpy(b, &tag, 2);
    std::memcpy(b + 2, &perm, 2);
    std::memcpy(b + 4, &id, 4);
    out.append(b, 8);
  }
  return out;
}

constexpr uint32_t kNone = 0xffffffff;

TEST(OwnerNamesTest, AUserWithOtherIdsOnEachSideKeepsItsName) {
  FakeNames primary({{1000, "alice"}, {1001, "bob"}, {5, "carol"}}, {{100, "ops"}});
  FakeNames secondary({{2000, "alice"}, {2001, "bob"}}, {{300, "ops"}});
  WireEntry e{.path = "f", .type = FileType::kRegular, .mode = 0640, .uid = 1000, .gid = 100};
  e.xattrs = {{"system.posix_acl_access", Acl({{1, 6, kNone},
                                               {2, 4, 1001},
                                               {2, 4, 5},
                                               {4, 4, kNone},
                                               {8, 4, 100},
                                               {16, 4, kNone},
                                               {32, 0, kNone}})},
              {"user.a", "1"}};
  AttachNames(e, primary);
  EXPECT_EQ(e.names.size(), 4u);  // alice, bob, carol, ops (carol is unknown on the Secondary)
  std::vector<WireEntry> list{e};
  LocalizeList(list, true, &secondary);
  const WireEntry& got = list[0];
  EXPECT_EQ(got.uid, 2000u);
  EXPECT_EQ(got.gid, 300u);
  EXPECT_TRUE(got.names.empty());
  // bob -> 2001; carol is unknown here: her id 5 is kept (and sorts before 2001); ops -> 300.
  EXPECT_EQ(got.xattrs[0].value, Acl({{1, 6, kNone},
                                      {2, 4, 5},
                                      {2, 4, 2001},
                                      {4, 4, kNone},
                                      {8, 4, 300},
                                      {16, 4, kNone},
                                      {32, 0, kNone}}));
  EXPECT_EQ(got.xattrs[1].value, "1");
}

TEST(OwnerNamesTest, WithoutNamesIdsStayAndUnmanagedAttributesAreDropped) {
  FakeNames secondary({{2000, "alice"}}, {});
  WireEntry e{.path = "f", .type = FileType::kRegular, .uid = 1000, .gid = 100};
  e.xattrs = {{"security.capability", "c"}, {"trusted.x", "t"}, {"user.a", "1"}};
  std::vector<WireEntry> list{e};
  LocalizeList(list, false, nullptr);  // not root: security.* and trusted.* are not managed
  EXPECT_EQ(list[0].uid, 1000u);
  ASSERT_EQ(list[0].xattrs.size(), 1u);
  EXPECT_EQ(list[0].xattrs[0].name, "user.a");
  list = {e};
  LocalizeList(list, true, &secondary);  // names asked for, none sent: ids kept
  EXPECT_EQ(list[0].uid, 1000u);
  EXPECT_EQ(list[0].xattrs.size(), 3u);
}

TEST(OwnerNamesTest, AMalformedAclIsLeftAsItIs) {
  std::string bad("\x02\0\0\0\x02\0", 6);
  EXPECT_TRUE(AclNamedIds(bad).empty());
  EXPECT_EQ(MapAclIds(bad, [](bool, uint32_t) { return 7u; }), bad);
  EXPECT_EQ(AclNamedIds(Acl({{2, 4, 9}, {8, 4, 3}})),
            (std::vector<std::pair<bool, uint32_t>>{{false, 9}, {true, 3}}));
}

}  // namespace
}  // namespace hasync::engine
