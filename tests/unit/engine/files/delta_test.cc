// The rolling delta: round trips, the work cap, and hostile signatures and deltas, each refused
// with kProtocol or ending in the blocks fallback.
#include "engine/files/delta.h"

#include <gtest/gtest.h>

#include "snapshot/manifest.h"
#include "tests/test_util.h"

namespace hasync::engine {
namespace {

std::span<const std::byte> Bytes(const std::string& s) {
  return std::span<const std::byte>(reinterpret_cast<const std::byte*>(s.data()), s.size());
}

class DeltaTest : public ::testing::Test {
 protected:
  void SetUp() override {
    env_ = NewPosixEnv();
    dir_ = testing::MakeTempDir();
  }
  std::string Put(const std::string& name, const std::string& data) {
    testing::WriteFile(dir_ + "/" + name, data);
    return dir_ + "/" + name;
  }
  std::string Sign(const std::string& path, size_t size) {
    auto sig = ComputeSignature(*env_, path, size, 2);
    EXPECT_TRUE(sig.ok()) << sig.status().ToString();
    return sig.ok() ? *sig : "";
  }
  // The delta of the whole of `path` (size bytes) against sig, or nullopt past cap.
  std::optional<std::string> Delta(const std::string& sig, const std::string& path, size_t size,
                                   size_t cap) {
    auto loaded = LoadSignature(Bytes(sig));
    EXPECT_TRUE(loaded.ok()) << loaded.status().ToString();
    auto f = env_->OpenForRead(path).value();
    std::vector<uint64_t> hashes(snapshot::BlockCount(size));
    auto d = ComputeDelta(*loaded, *f, 0, size, cap, hashes.data());
    EXPECT_TRUE(d.ok()) << d.status().ToString();
    return d.ok() ? *d : std::nullopt;
  }
  Status Apply(const std::string& basis, size_t basis_size, const std::string& delta,
               uint64_t expect, std::string* out) {
    auto f = env_->OpenForRead(basis).value();
    return ApplyDelta(*f, basis_size, Bytes(delta), expect, [&](std::span<const std::byte> b) {
      out->append(reinterpret_cast<const char*>(b.data()), b.size());
      return Status::Ok();
    });
  }
  std::unique_ptr<Env> env_;
  std::string dir_;
};

TEST_F(DeltaTest, RebuildsShiftedContentFromASmallDelta) {
  std::string old_data = testing::RandomBytes(5 << 20, 1);
  std::string new_data = old_data;
  new_data.insert(1 << 20, "INSERTED");
  new_data.erase(3 << 20, 1000);
  std::string old_path = Put("old", old_data), new_path = Put("new", new_data);
  std::string sig = Sign(old_path, old_data.size());
  EXPECT_EQ(sig.size(), SignatureBytes(old_data.size()));
  auto delta = Delta(sig, new_path, new_data.size(), 1 << 20);
  ASSERT_TRUE(delta.has_value());
  EXPECT_LT(delta->size(), 64u << 10);
  std::string rebuilt;
  ASSERT_TRUE(Apply(old_path, old_data.size(), *delta, new_data.size(), &rebuilt).ok());
  EXPECT_EQ(rebuilt, new_data);
}

TEST_F(DeltaTest, StopsAtTheWorkCap) {
  std::string a = testing::RandomBytes(2 << 20, 2), b = testing::RandomBytes(2 << 20, 3);
  std::string sig = Sign(Put("a", a), a.size());
  EXPECT_FALSE(Delta(sig, Put("b", b), b.size(), 256 << 10).has_value());
}

TEST_F(DeltaTest, RefusesMalformedSignatures) {
  std::string a = testing::RandomBytes(2 << 20, 4);
  std::string sig = Sign(Put("a", a), a.size());
  std::string bad_magic = sig;
  bad_magic[0] ^= 1;
  std::string bad_strong = sig;
  bad_strong[11] = 16;  // strong sums are 8 bytes
  for (const std::string& s : {std::string("short"), bad_magic, bad_strong, sig + "x"}) {
    auto r = LoadSignature(Bytes(s));
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.status().code(), Code::kProtocol);
  }
}

TEST_F(DeltaTest, RefusesHostileDeltas) {
  std::string old_data = testing::RandomBytes(2 << 20, 5);
  std::string new_data = old_data;
  new_data.insert(4096, "X");
  std::string old_path = Put("old", old_data);
  auto delta =
      Delta(Sign(old_path, old_data.size()), Put("new", new_data), new_data.size(), 1 << 20);
  ASSERT_TRUE(delta.has_value());
  std::string out;
  // Copies reach past a basis the delta believes larger than it is.
  Status st = Apply(old_path, old_data.size() / 2, *delta, new_data.size(), &out);
  EXPECT_EQ(st.code(), Code::kProtocol) << st.ToString();
  // More output than the range it claims to rebuild (a delta bomb stops early).
  out.clear();
  st = Apply(old_path, old_data.size(), *delta, new_data.size() - 100, &out);
  EXPECT_EQ(st.code(), Code::kProtocol) << st.ToString();
  EXPECT_LE(out.size(), new_data.size() - 100);
  // Less output than promised, and garbage.
  out.clear();
  st = Apply(old_path, old_data.size(), *delta, new_data.size() + 1, &out);
  EXPECT_EQ(st.code(), Code::kProtocol) << st.ToString();
  out.clear();
  st = Apply(old_path, old_data.size(), testing::RandomBytes(1000, 6), 1000, &out);
  EXPECT_EQ(st.code(), Code::kProtocol) << st.ToString();
}

// An old file whose size is not a multiple of the block length: its short last block is copied
// at the tail, not sent again.
TEST_F(DeltaTest, TheShortLastBlockIsCopiedAtTheTail) {
  std::string old_data = testing::RandomBytes((3 << 20) + 777, 7);
  std::string new_data = old_data;
  new_data.insert(100, "SHIFTED");
  std::string old_path = Put("old", old_data), new_path = Put("new", new_data);
  auto delta = Delta(Sign(old_path, old_data.size()), new_path, new_data.size(), 1 << 20);
  ASSERT_TRUE(delta.has_value());
  // One block around the insertion travels as a literal (1,799 bytes here), not the last 777.
  EXPECT_LT(delta->size(), SignatureParamsFor(old_data.size()).block_len + 400);
  std::string rebuilt;
  ASSERT_TRUE(Apply(old_path, old_data.size(), *delta, new_data.size(), &rebuilt).ok());
  EXPECT_EQ(rebuilt, new_data);
}

// A hostile Secondary's signature whose every block has the weak sum of every window of the
// Primary's file (zeros) and a strong sum none has: each position would hash a whole block. The
// work budget ends it in the blocks fallback (nullopt) instead of hashing for minutes, even with
// a cap the literals never reach.
TEST_F(DeltaTest, ASignatureThatMatchesEverywhereEndsInTheBlocksFallback) {
  const size_t size = 16 << 20;
  std::string zeros(size, '\0');
  std::string sig = Sign(Put("old", zeros), size);
  for (size_t e = 20; e + 12 <= sig.size(); e += 12) sig[e + 4] ^= 1;  // strong sums no block has
  EXPECT_FALSE(Delta(sig, Put("new", zeros), size, 2 * size).has_value());
}

TEST_F(DeltaTest, RefusesMalformedDeltaOperations) {
  std::string old_data = testing::RandomBytes(1 << 20, 8);
  std::string old_path = Put("old", old_data);
  const std::string end(1, '\0'), copy_all = std::string("\x02\x00\x80\x80\x40", 5);
  std::string out;
  EXPECT_TRUE(Apply(old_path, old_data.size(), copy_all + end, old_data.size(), &out).ok());
  EXPECT_EQ(out, old_data);
  for (const std::string& d : {
           copy_all,                                              // no end
           copy_all + end + "x",                                  // bytes after the end
           std::string("\x07") + end,                             // an unknown operation
           std::string("\x02\xff\xff\xff\xff\x0f\x10", 7) + end,  // a copy past the file
           std::string("\x01\x10", 2) + "abc" + end,              // a literal past the end
           std::string("\x02\x00", 2),                            // a truncated copy
       }) {
    out.clear();
    Status st = Apply(old_path, old_data.size(), d, old_data.size(), &out);
    EXPECT_EQ(st.code(), Code::kProtocol) << st.ToString();
  }
}

}  // namespace
}  // namespace hasync::engine
