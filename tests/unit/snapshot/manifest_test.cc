// Scans and the manifest cache.
#include "snapshot/manifest.h"

#include <gtest/gtest.h>

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
  auto bytes = m.Serialize();
  auto back = Manifest::Parse(bytes);
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(back->entries().size(), m.entries().size());
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
