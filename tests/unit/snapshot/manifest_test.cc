// Scans and the manifest cache.
#include "snapshot/manifest.h"

#include <gtest/gtest.h>

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

}  // namespace
}  // namespace hasync::snapshot
