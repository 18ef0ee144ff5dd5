// `hasync verify` through the binary: a synced pair verifies equal; damage on the Secondary
// behind hasync's back (a corrupted block, a deleted file, a stray file, a changed mode) is
// found exactly, down to the block; nothing is changed by verifying.
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <filesystem>
#include <fstream>

#include <nlohmann/json.hpp>

#include "tests/pair.h"

namespace hasync {
namespace {

using testing::Pair;

class VerifyTest : public ::testing::Test {
 protected:
  testing::Cmd Verify(const std::string& extra = "") {
    return testing::Shell(std::string(HASYNC_BIN) + " verify --log-level error --json --config " +
                          pair_.secondary_config() + " --transport '" + pair_.Serve() + "' " +
                          extra);
  }
  Pair pair_;
};

// Overwrites bytes in place and puts the mtime back: what a disk error or a stray tool does.
void Corrupt(const std::string& path, uint64_t offset, const std::string& bytes) {
  auto mtime = std::filesystem::last_write_time(path);
  std::fstream f(path, std::ios::in | std::ios::out | std::ios::binary);
  f.seekp(static_cast<std::streamoff>(offset));
  f.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  f.close();
  std::filesystem::last_write_time(path, mtime);
}

TEST_F(VerifyTest, AnEqualPairVerifiesAndEveryDifferenceIsNamed) {
  testing::MakeSampleTree(pair_.primary());
  for (int i = 0; i < 50; ++i) {
    testing::WriteFile(
        pair_.primary() + "/many/d" + std::to_string(i % 5) + "/f" + std::to_string(i),
        "file " + std::to_string(i));
  }
  ASSERT_TRUE(pair_.Sync().ok());
  const std::string synced = testing::TreeDiff(pair_.primary(), pair_.secondary());  // *.tmp
  auto r = Verify();
  ASSERT_EQ(r.code, 0) << r.out;
  auto j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["result"], "equal");
  EXPECT_EQ(j["roots"][0]["levels_descended"], 0) << "equal roots: nothing descended into";

  Corrupt(pair_.secondary() + "/app/big.bin", 100000, "garbage");  // block 12
  std::filesystem::remove(pair_.secondary() + "/certs/ca.pem");
  testing::WriteFile(pair_.secondary() + "/many/d3/stray.txt", "not from the Primary");
  ::chmod((pair_.secondary() + "/app/medium.bin").c_str(), 0600);
  auto before = testing::TreeDiff(pair_.primary(), pair_.secondary());
  r = Verify();
  ASSERT_EQ(r.code, 22) << r.out;
  j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["result"], "differs");
  std::map<std::string, nlohmann::json> found;
  for (const auto& d : j["roots"][0]["differences"]) found[d["path"]] = d;
  ASSERT_EQ(found.size(), 4u) << r.out;
  EXPECT_EQ(found["app/big.bin"]["what"], "content differs");
  EXPECT_EQ(found["app/big.bin"]["blocks"], nlohmann::json::parse("[[12, 12]]"));
  EXPECT_EQ(found["certs/ca.pem"]["what"], "missing on the Secondary");
  EXPECT_EQ(found["many/d3/stray.txt"]["what"], "not on the Primary");
  EXPECT_EQ(found["app/medium.bin"]["what"], "mode differ");
  // Only the directories on the differences' paths were descended into.
  EXPECT_LE(j["roots"][0]["levels_descended"].get<int>(), 3);
  // Verifying changed nothing.
  EXPECT_EQ(testing::TreeDiff(pair_.primary(), pair_.secondary()), before);
  // --repair re-syncs what differs, and verifies again.
  r = Verify("--repair");
  ASSERT_EQ(r.code, 0) << r.out;
  j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["result"], "equal");
  EXPECT_EQ(j["repaired"]["paths"], 4);
  EXPECT_EQ(testing::TreeDiff(pair_.primary(), pair_.secondary()), synced);
  r = Verify("--checksum");
  EXPECT_EQ(r.code, 0) << r.out;
}

TEST_F(VerifyTest, AnUnreachablePrimaryIsOneClearError) {
  auto r = testing::Shell(std::string(HASYNC_BIN) + " verify --log-level error --config " +
                          pair_.secondary_config() + " --transport false");
  EXPECT_EQ(r.code, 8) << r.out;
}

}  // namespace
}  // namespace hasync
