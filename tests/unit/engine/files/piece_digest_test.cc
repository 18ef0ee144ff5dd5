// PieceDigest gives FileDigest's value whatever the piece sizes and the order they come in, and
// keeps the hashes only when asked.
#include "engine/files/piece_digest.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <random>

#include "common/hash.h"

namespace hasync::engine {
namespace {

TEST(PieceDigestTest, EqualsFileDigestForAnySplitAndOrder) {
  std::mt19937_64 rng(1);
  // Around xxh3's internal boundaries: 16, 128 and 240 bytes (2, 16, 30 hashes), its 1 KiB
  // stripes and 64 KiB-ish blocks.
  for (size_t n : {0, 1, 2, 3, 15, 16, 17, 29, 30, 31, 127, 128, 129, 1000, 8192, 20000}) {
    std::vector<uint64_t> hashes(n);
    for (auto& h : hashes) h = rng();
    uint64_t size = n * 8192 - (n > 0 ? 100 : 0);
    uint64_t want = FileDigest(hashes, size);
    for (size_t piece : {1, 7, 64, 8192}) {
      SCOPED_TRACE(testing::Message() << n << " hashes in pieces of " << piece);
      uint64_t pieces = (n + piece - 1) / piece;
      std::vector<uint64_t> order(pieces);
      for (uint64_t k = 0; k < pieces; ++k) order[k] = k;
      std::shuffle(order.begin(), order.end(), rng);
      PieceDigest d({.size = size, .pieces = pieces, .keep_hashes = true});
      for (uint64_t k : order) {
        size_t from = k * piece, to = std::min(n, from + piece);
        d.Add(k, std::vector<uint64_t>(hashes.begin() + from, hashes.begin() + to));
      }
      EXPECT_EQ(d.Finish(), want);
      EXPECT_EQ(d.TakeHashes(), hashes);
    }
  }
}

TEST(PieceDigestTest, KeepsNothingUnlessAsked) {
  PieceDigest d({.size = 8192, .pieces = 1, .keep_hashes = false});
  d.Add(0, {42});
  EXPECT_EQ(d.Finish(), FileDigest(std::vector<uint64_t>{42}, 8192));
  EXPECT_TRUE(d.TakeHashes().empty());
}

}  // namespace
}  // namespace hasync::engine
