// The list entry's extended attributes and owner names: round trips, and a hostile peer's
// entries (too many attributes, too large, unsorted, on a symlink, bad names) refused as
// protocol errors before anything is applied.
#include <gtest/gtest.h>

#include "engine/wire/protocol.h"

namespace hasync::engine {
namespace {

WireEntry FileWith(XattrList xattrs) {
  return WireEntry{.path = "f", .type = FileType::kRegular, .mode = 0644, .xattrs = xattrs};
}

Result<ListEntries> RoundTrip(const WireEntry& w) {
  ListEntries m{.root = 0, .entries = {w}};
  Encoder e;
  Encode(m, e);
  return DecodeListEntries(e.view());
}

TEST(XattrWireTest, AttributesAndNamesRoundTrip) {
  WireEntry w = FileWith({{"security.capability", std::string("\x01\0\0\x02", 4)},
                          {"system.posix_acl_access", std::string(28, '\x07')},
                          {"user.a", ""},
                          {"user.b", "value"}});
  w.names = {{.group = false, .id = 1000, .name = "alice"},
             {.group = true, .id = 7, .name = "ops"}};
  auto d = RoundTrip(w);
  ASSERT_TRUE(d.ok()) << d.status().ToString();
  EXPECT_EQ(d->entries[0].xattrs, w.xattrs);
  EXPECT_EQ(d->entries[0].names, w.names);
  ListRequest req{.rehash_all = false, .owner_names = true, .roots = {"data"}};
  Encoder e;
  Encode(req, e);
  auto r = DecodeListRequest(e.view());
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(r->owner_names);
  EXPECT_FALSE(r->rehash_all);
}

TEST(XattrWireTest, TooManyAttributesAreRefused) {
  XattrList many;
  for (size_t i = 0; i <= kMaxXattrs; ++i) {
    many.push_back({"user.a" + std::to_string(1000 + i), "v"});
  }
  auto d = RoundTrip(FileWith(many));
  ASSERT_FALSE(d.ok());
  EXPECT_EQ(d.status().code(), Code::kProtocol);
  many.pop_back();
  EXPECT_TRUE(RoundTrip(FileWith(many)).ok());
}

TEST(XattrWireTest, OversizedNamesValuesAndTotalsAreRefused) {
  auto refused = [](const XattrList& l) {
    auto d = RoundTrip(FileWith(l));
    return !d.ok() && d.status().code() == Code::kProtocol;
  };
  EXPECT_TRUE(refused({{"user." + std::string(kMaxXattrName, 'n'), "v"}}));
  EXPECT_TRUE(refused({{"user.big", std::string(kMaxXattrValue + 1, 'v')}}));
  EXPECT_FALSE(refused({{"user.big", std::string(kMaxXattrValue, 'v')}}));
  XattrList total;  // five values of 64 KiB: each within its limit, together past the entry's
  for (int i = 0; i < 5; ++i)
    total.push_back({"user.v" + std::to_string(i), std::string(kMaxXattrValue, 'v')});
  EXPECT_TRUE(refused(total));
  EXPECT_TRUE(refused({{"user.b", "1"}, {"user.a", "2"}}));  // unsorted
  EXPECT_TRUE(refused({{"user.a", "1"}, {"user.a", "2"}}));  // repeated
  EXPECT_TRUE(refused({{"", "1"}}));
  EXPECT_TRUE(refused({{std::string("user.a\0b", 8), "1"}}));
}

TEST(XattrWireTest, SymlinkAttributesAndBadNamesAreRefused) {
  WireEntry link{
      .path = "l", .type = FileType::kSymlink, .link_target = "f", .xattrs = {{"user.a", "1"}}};
  EXPECT_EQ(RoundTrip(link).status().code(), Code::kProtocol);
  WireEntry w = FileWith({});
  w.names = {{.group = false, .id = 1, .name = std::string(kMaxUserName + 1, 'u')}};
  EXPECT_EQ(RoundTrip(w).status().code(), Code::kProtocol);
  w.names = {{.group = false, .id = 1, .name = ""}};
  EXPECT_EQ(RoundTrip(w).status().code(), Code::kProtocol);
  w.names.assign(kMaxNamesPerEntry + 1, {.group = false, .id = 1, .name = "u"});
  EXPECT_EQ(RoundTrip(w).status().code(), Code::kProtocol);
}

TEST(XattrWireTest, AHugeAttributeCountInATinyPayloadIsRefused) {
  Encoder e;
  e.PutVarint(0);  // root
  e.PutVarint(1);  // one entry
  e.PutString("f");
  e.PutU8(0);
  for (int i = 0; i < 5; ++i) e.PutVarint(0);  // mode, uid, gid, size, mtime
  e.PutString("");                             // hard link
  e.PutU8(0);                                  // not hashed
  e.PutVarint(kMaxXattrs);                     // 64 attributes claimed, none there
  for (int i = 0; i < 7; ++i) e.PutU8(0);
  auto d = DecodeListEntries(e.view());
  ASSERT_FALSE(d.ok());
  EXPECT_EQ(d.status().code(), Code::kProtocol);
}

}  // namespace
}  // namespace hasync::engine
