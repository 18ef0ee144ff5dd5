// Sparse files between two real processes, on both I/O backends: a hole is found by the
// Primary's reader (SEEK_DATA / SEEK_HOLE), travels as a small hole message instead of its
// zeros, and stays unwritten on the Secondary, through the initial copy, a re-check of an
// unchanged file, an in-place update that fills part of a hole, a delta, and a blocks update.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <regex>

#include "tests/pair.h"

namespace hasync {
namespace {

using testing::Pair;
namespace fs = std::filesystem;

constexpr uint64_t kMiB = 1 << 20;

// The bytes a file takes on disk.
uint64_t Allocated(const std::string& path) {
  struct stat st;
  if (::stat(path.c_str(), &st) != 0) return ~0ull;
  return static_cast<uint64_t>(st.st_blocks) * 512;
}

// Writes each (offset, data) into path, then gives it `size`: what lies between is holes.
void WriteSparse(const std::string& path, const std::vector<std::pair<uint64_t, std::string>>& at,
                 uint64_t size, bool truncate = true) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | (truncate ? O_TRUNC : 0), 0644);
  ASSERT_GE(fd, 0);
  for (const auto& [off, data] : at) {
    ASSERT_EQ(::pwrite(fd, data.data(), data.size(), static_cast<off_t>(off)),
              static_cast<ssize_t>(data.size()));
  }
  ASSERT_EQ(::ftruncate(fd, static_cast<off_t>(size)), 0);
  ::close(fd);
}

class SparseTest : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    backend_ = "HASYNC_IO=" + GetParam();
    fs::create_directories(pair_.primary() + "/vm");
  }
  // `hasync sync --json` on this backend (both sides); returns its bytes_wire.
  uint64_t SyncCli() {
    auto out =
        testing::Shell(backend_ + " " HASYNC_BIN " sync --json --log-level error --config " +
                       pair_.secondary_config() + " --transport '" + pair_.Serve(backend_) + "'");
    EXPECT_EQ(out.code, 0) << out.out;
    std::smatch m;
    if (!std::regex_search(out.out, m, std::regex("\"bytes_wire\": ([0-9]+)"))) {
      ADD_FAILURE() << out.out;
      return ~0ull;
    }
    return std::stoull(m[1]);
  }
  bool Same(const std::string& rel) {
    return testing::Shell("cmp " + pair_.primary() + rel + " " + pair_.secondary() + rel).code == 0;
  }
  std::string backend_;
  Pair pair_;
};

// 1 MiB of data, a 100 MiB hole, 1 MiB of data and a 50 MiB trailing hole.
TEST_P(SparseTest, HolesStaySparseAndNeverTravel) {
  const std::string disk = "/vm/disk.img";
  WriteSparse(pair_.primary() + disk,
              {{0, testing::RandomBytes(kMiB, 1)}, {101 * kMiB, testing::RandomBytes(kMiB, 2)}},
              152 * kMiB);
  if (Allocated(pair_.primary() + disk) > 4 * kMiB) GTEST_SKIP() << "no holes on this file system";
  uint64_t wire = SyncCli();
  EXPECT_LT(wire, 8 * kMiB) << "the holes' 150 MiB never travel";
  EXPECT_EQ(fs::file_size(pair_.secondary() + disk), 152 * kMiB);
  EXPECT_LT(Allocated(pair_.secondary() + disk), 4 * kMiB);
  EXPECT_TRUE(Same(disk));

  // Unchanged but touched: re-checked block by block; nothing is written, it stays sparse.
  fs::last_write_time(pair_.primary() + disk,
                      fs::last_write_time(pair_.primary() + disk) - std::chrono::hours(1));
  EXPECT_LT(SyncCli(), 2 * kMiB);
  EXPECT_LT(Allocated(pair_.secondary() + disk), 4 * kMiB);
  EXPECT_TRUE(Same(disk));

  // Part of the hole filled (same size: updated in place).
  WriteSparse(pair_.primary() + disk, {{50 * kMiB, testing::RandomBytes(kMiB, 3)}}, 152 * kMiB,
              false);
  EXPECT_LT(SyncCli(), 4 * kMiB);
  EXPECT_TRUE(Same(disk));
  EXPECT_LT(Allocated(pair_.secondary() + disk), 6 * kMiB);

  // Data punched back into a hole, on the same file size: zeros where the data was.
  WriteSparse(pair_.primary() + disk, {{0, testing::RandomBytes(kMiB, 1)}}, 0);
  WriteSparse(pair_.primary() + disk, {{101 * kMiB, testing::RandomBytes(kMiB, 2)}}, 152 * kMiB,
              false);
  SyncCli();
  EXPECT_TRUE(Same(disk));

  // A size change: a rolling delta, whose rebuilt zeros are left as holes.
  WriteSparse(pair_.primary() + disk, {{152 * kMiB, "appended"}}, 152 * kMiB + 8, false);
  EXPECT_LT(SyncCli(), 8 * kMiB);
  EXPECT_TRUE(Same(disk));
  EXPECT_LT(Allocated(pair_.secondary() + disk), 8 * kMiB);
}

// A small sparse file whose size changes is updated by blocks into a new staged file: the
// blocks kept from the old file keep its holes.
TEST_P(SparseTest, ABlocksUpdateKeepsTheOldFilesHoles) {
  const std::string f = "/vm/small.img";
  WriteSparse(pair_.primary() + f,
              {{0, testing::RandomBytes(64 << 10, 4)}, {(64 << 10) + 2 * kMiB, "tail"}},
              (64 << 10) + 2 * kMiB + 4);
  if (Allocated(pair_.primary() + f) > kMiB) GTEST_SKIP() << "no holes on this file system";
  SyncCli();
  EXPECT_LT(Allocated(pair_.secondary() + f), kMiB);
  WriteSparse(pair_.primary() + f, {{(64 << 10) + 2 * kMiB + 4, "more"}}, (64 << 10) + 2 * kMiB + 8,
              false);
  SyncCli();
  EXPECT_TRUE(Same(f));
  EXPECT_LT(Allocated(pair_.secondary() + f), kMiB);
}

INSTANTIATE_TEST_SUITE_P(Backends, SparseTest, ::testing::Values("posix", "uring"),
                         [](const auto& param_info) { return param_info.param; });

}  // namespace
}  // namespace hasync
