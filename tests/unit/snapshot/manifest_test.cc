// Scans and the manifest cache.
#include "snapshot/manifest.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/xattr.h>

#include <cerrno>
#include <cstring>

#include "common/binary.h"
#include "common/hash.h"
#include "snapshot/scanner.h"
#include "tests/test_util.h"

namespace hasync::snapshot {
namespace {

TEST(ManifestTest, ScanRecordsEveryKindAndSkipsExcludedAndStaging) {
  std::string root = testing::MakeTempDir();
  testing::MakeSampleTree(root);
  testing::WriteFile(root + "/.hasync-staging/f1", "staged");
  Env& env = *Env::Default().value();
  auto r = ScanRoot(env, root, {.filter = Filter({}, {"*.tmp"}), .threads = 2});
  ASSERT_TRUE(r.ok());
  const Manifest& m = r->manifest;
  EXPECT_EQ(m.Find("scratch.tmp"), nullptr);
  EXPECT_EQ(m.Find(".hasync-staging"), nullptr);
  ASSERT_NE(m.Find("app/server-link"), nullptr);
  EXPECT_EQ(m.Find("app/server-link")->type, FileType::kSymlink);
  EXPECT_EQ(m.Find("app/server-link")->link_target, "../certs/server.pem");
  const Entry* big = m.Find("app/big.bin");
  ASSERT_NE(big, nullptr);
  EXPECT_EQ(big->blocks.size(), BlockCount(6 << 20));
  EXPECT_TRUE(big->hashed);
  std::filesystem::remove_all(root);
}

TEST(ManifestTest, SerializedManifestRoundTripsAndDamageIsDetected) {
  std::string root = testing::MakeTempDir();
  testing::MakeSampleTree(root);
  Manifest m = testing::ScanTree(root);
  m.set_mark({.gen = 0xfeedface12345678, .seq = 4242, .full_scan_s = 1764000000});
  auto bytes = m.Serialize();
  auto back = Manifest::Parse(bytes);
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(back->entries().size(), m.entries().size());
  EXPECT_EQ(back->mark().gen, 0xfeedface12345678u);
  EXPECT_EQ(back->mark().seq, 4242u);
  EXPECT_EQ(back->mark().full_scan_s, 1764000000);
  EXPECT_EQ(back->Find("app/big.bin")->digest, m.Find("app/big.bin")->digest);
  bytes[bytes.size() / 2] ^= std::byte{1};
  EXPECT_FALSE(Manifest::Parse(bytes).ok());
  std::filesystem::remove_all(root);
}

TEST(ManifestTest, QuickCheckReusesHashesAndNoticesChanges) {
  std::string root = testing::MakeTempDir();
  testing::WriteFile(root + "/a", testing::RandomBytes(200000, 5));
  Env& env = *Env::Default().value();
  auto first = ScanRoot(env, root, {.threads = 1});
  ASSERT_TRUE(first.ok());
  auto second = ScanRoot(env, root, {.cache = &first->manifest, .threads = 1});
  ASSERT_TRUE(second.ok());
  EXPECT_EQ(second->stats.hashed_files, 0u) << "an unchanged file must not be re-read";
  testing::WriteFile(root + "/a", testing::RandomBytes(200000, 6));
  auto third = ScanRoot(env, root, {.cache = &first->manifest, .threads = 1});
  ASSERT_TRUE(third.ok());
  EXPECT_EQ(third->stats.hashed_files, 1u);
  EXPECT_NE(third->manifest.Find("a")->digest, first->manifest.Find("a")->digest);
  std::filesystem::remove_all(root);
}

// Extended attributes are recorded by the scan and kept by the manifest; setting one moves the
// file's ctime, not its mtime, and the next scan (with the cache) must read them again.
TEST(ManifestTest, ScanReadsAttributesAgainWhenCtimeMoves) {
  std::string root = testing::MakeTempDir();
  testing::WriteFile(root + "/a", "x");
  std::filesystem::create_directories(root + "/d");
  ASSERT_EQ(::setxattr((root + "/a").c_str(), "user.k", "1", 1, 0), 0) << std::strerror(errno);
  ASSERT_EQ(::setxattr((root + "/d").c_str(), "user.k", "d", 1, 0), 0);
  Env& env = *Env::Default().value();
  auto first = ScanRoot(env, root, {.threads = 1});
  ASSERT_TRUE(first.ok());
  ASSERT_EQ(first->manifest.Find("a")->xattrs, (XattrList{{"user.k", "1"}}));
  EXPECT_EQ(first->manifest.Find("d")->xattrs, (XattrList{{"user.k", "d"}}));
  auto back = Manifest::Parse(first->manifest.Serialize());
  ASSERT_TRUE(back.ok());
  EXPECT_TRUE(back->xattrs_known());
  EXPECT_EQ(back->Find("a")->xattrs, first->manifest.Find("a")->xattrs);
  ASSERT_EQ(::setxattr((root + "/a").c_str(), "user.k", "2", 1, 0), 0);
  ASSERT_EQ(::setxattr((root + "/a").c_str(), "user.new", "n", 1, 0), 0);
  ASSERT_EQ(::removexattr((root + "/d").c_str(), "user.k"), 0);
  auto second = ScanRoot(env, root, {.cache = &*back, .threads = 1});
  ASSERT_TRUE(second.ok());
  EXPECT_EQ(second->manifest.Find("a")->xattrs, (XattrList{{"user.k", "2"}, {"user.new", "n"}}));
  EXPECT_TRUE(second->manifest.Find("d")->xattrs.empty());
  std::filesystem::remove_all(root);
}

// A manifest of format 1 (no attributes) still loads, with its hashes, but its attributes count
// as unknown: a scan with it as the cache reads them afresh rather than trust its empty lists.
TEST(ManifestTest, AFormatOneManifestLoadsWithAttributesUnknown) {
  std::string root = testing::MakeTempDir();
  testing::WriteFile(root + "/a", "x");
  ASSERT_EQ(::setxattr((root + "/a").c_str(), "user.k", "1", 1, 0), 0);
  struct stat st;
  ASSERT_EQ(::lstat((root + "/a").c_str(), &st), 0);
  Encoder e;
  e.PutFixed32(0x464d5348);
  e.PutFixed32(1);
  e.PutFixed32(static_cast<uint32_t>(kBlockSize));
  e.PutVarint(1);
  e.PutString("a");
  e.PutU8(0);
  e.PutVarint(st.st_mode & 07777);
  e.PutVarint(st.st_uid);
  e.PutVarint(st.st_gid);
  e.PutVarint(1);
  e.PutSigned(st.st_mtim.tv_sec * 1000000000LL + st.st_mtim.tv_nsec);
  e.PutSigned(st.st_ctim.tv_sec * 1000000000LL + st.st_ctim.tv_nsec);
  e.PutVarint(st.st_ino);
  e.PutVarint(st.st_dev);
  e.PutVarint(1);
  e.PutString("");
  e.PutU8(0);
  e.PutFixed64(Hash64(e.view()));
  auto old = Manifest::Parse(e.view());
  ASSERT_TRUE(old.ok()) << old.status().ToString();
  EXPECT_FALSE(old->xattrs_known());
  auto scan = ScanRoot(*Env::Default().value(), root, {.cache = &*old, .threads = 1});
  ASSERT_TRUE(scan.ok());
  EXPECT_EQ(scan->manifest.Find("a")->xattrs, (XattrList{{"user.k", "1"}}));
  std::filesystem::remove_all(root);
}

// Found by ci/fuzz.sh (fuzz/manifest_fuzzer.cc): an entry count of millions with a few bytes
// left made Parse allocate 16 GB before reading an entry. The manifest body as the fuzzer found
// it, sealed with its checksum.
TEST(ManifestTest, EntryCountPastTheEndIsRefusedBeforeAllocating) {
  std::vector<uint8_t> body = {0x48, 0x53, 0x4d, 0x46, 0x01, 0x00, 0x00, 0x00, 0x00, 0x20, 0x00,
                               0x00, 0xec, 0xfa, 0x8e, 0xae, 0x00, 0x06, 0xff, 0x00, 0xa8, 0x00,
                               0x00, 0x01, 0x00, 0x00, 0x00, 0x46, 0x07, 0x06, 0x00};
  std::vector<std::byte> data(reinterpret_cast<const std::byte*>(body.data()),
                              reinterpret_cast<const std::byte*>(body.data()) + body.size());
  uint64_t sum = Hash64(data);
  const auto* s = reinterpret_cast<const std::byte*>(&sum);
  data.insert(data.end(), s, s + sizeof(sum));
  auto m = Manifest::Parse(data);
  ASSERT_FALSE(m.ok());
  EXPECT_EQ(m.status().code(), Code::kIo);
}

}  // namespace
}  // namespace hasync::snapshot
