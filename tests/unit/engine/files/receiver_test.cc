// The receiver on the real and the fault Env: checked blocks become the staged file, a block
// that does not match its hash writes nothing, a full disk and data nobody asked for fail
// clearly, and a file cannot grow without bound.
#include "engine/files/receiver.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include "common/fault_env.h"
#include "common/hash.h"
#include "engine/files/delta.h"
#include "snapshot/manifest.h"
#include "tests/test_util.h"

namespace hasync::engine {
namespace {

using snapshot::kBlockSize;

std::shared_ptr<std::vector<std::byte>> Payload(const Encoder& e) {
  auto v = e.view();
  return std::make_shared<std::vector<std::byte>>(v.begin(), v.end());
}

class ReceiverTest : public ::testing::Test {
 protected:
  ReceiverTest()
      : dir_(testing::MakeTempDir()), env_(Env::Default().value()), staging_(*env_, {dir_}) {
    content_ = testing::RandomBytes(3 * kBlockSize + 100, 7);
    remote_.path = "new.bin";
    remote_.size = content_.size();
    remote_.mode = 0644;
    remote_.mtime_ns = 1'000'000'000;
    action_ = Action{.kind = ActionKind::kFile, .path = "new.bin", .remote = &remote_};
  }
  ~ReceiverTest() override { std::filesystem::remove_all(dir_); }

  std::unique_ptr<Receiver> Make(Env& env) {
    EXPECT_TRUE(staging_.Prepare().ok());
    auto r = std::make_unique<Receiver>(env, staging_, ReceiverOptions{.threads = 2});
    auto job = std::make_unique<FileJob>();
    job->action = &action_;
    job->target = dir_ + "/new.bin";
    job->staged = staging_.PathFor(0, "new.bin", 'f', 0);
    r->Add(std::move(job));
    r->Start(nullptr);
    return r;
  }
  // The whole file as one data run.
  Encoder Data(bool corrupt = false) {
    FileData d{.id = 0, .first_block = 0};
    for (size_t pos = 0; pos < content_.size(); pos += kBlockSize) {
      size_t n = std::min<size_t>(kBlockSize, content_.size() - pos);
      d.hashes.push_back(Hash64(content_.data() + pos, n));
    }
    std::string bytes = content_;
    if (corrupt) bytes[kBlockSize + 5] ^= 1;
    d.data = std::as_bytes(std::span<const char>(bytes.data(), bytes.size()));
    Encoder e;
    Encode(d, e);
    return e;
  }
  Encoder Done() {
    std::vector<uint64_t> hashes;
    for (size_t pos = 0; pos < content_.size(); pos += kBlockSize) {
      hashes.push_back(
          Hash64(content_.data() + pos, std::min<size_t>(kBlockSize, content_.size() - pos)));
    }
    Encoder e;
    Encode(FileDone{.id = 0,
                    .size = content_.size(),
                    .digest = FileDigest(hashes, content_.size()),
                    .mtime_ns = remote_.mtime_ns},
           e);
    return e;
  }

  std::string dir_;
  Env* env_;
  StagingArea staging_;
  std::string content_;
  WireEntry remote_;
  Action action_;
};

TEST_F(ReceiverTest, CheckedBlocksBecomeTheStagedFile) {
  auto r = Make(*env_);
  ASSERT_TRUE(r->OnData(Payload(Data())).ok());
  ASSERT_TRUE(r->OnDone(Done().view()).ok());
  ASSERT_TRUE(r->OnEnd().ok());
  std::string staged = r->jobs()[0]->staged;
  EXPECT_EQ(testing::ReadFile(staged), content_);
  EXPECT_EQ(r->bytes_changed(), content_.size());
  EXPECT_EQ(r->jobs()[0]->size, content_.size());
}

TEST_F(ReceiverTest, ABlockThatDoesNotMatchItsHashWritesNothing) {
  auto r = Make(*env_);
  Status st = r->OnData(Payload(Data(/*corrupt=*/true)));
  EXPECT_EQ(st.code(), Code::kChecksum) << st.ToString();
  EXPECT_NE(st.message().find("block 1 of new.bin"), std::string::npos) << st.message();
  EXPECT_FALSE(std::filesystem::exists(r->jobs()[0]->staged));
}

TEST_F(ReceiverTest, AFullDiskFailsTheTransferWithNoSpace) {
  FaultEnv full(*env_, FaultOptions{.no_space_after_bytes = kBlockSize});
  auto r = Make(full);
  ASSERT_TRUE(r->OnData(Payload(Data())).ok());  // checked here, written on a shard
  Status st = r->OnEnd();
  EXPECT_EQ(st.code(), Code::kNoSpace) << st.ToString();
}

TEST_F(ReceiverTest, DataForARequestNobodyMadeIsAProtocolError) {
  auto r = Make(*env_);
  FileData d{.id = 5, .first_block = 0};
  Encoder e;
  Encode(d, e);
  EXPECT_EQ(r->OnData(Payload(e)).code(), Code::kProtocol);
  EXPECT_EQ(r->OnEnd().code(), Code::kProtocol);  // the asked-for file never came
}

TEST_F(ReceiverTest, AFileCannotGrowWithoutBound) {
  EXPECT_TRUE(CheckGrowth("f", 100, 64ull << 20).ok());
  EXPECT_EQ(CheckGrowth("f", 100, (64ull << 20) + 101).code(), Code::kAborted);
  EXPECT_TRUE(CheckGrowth("f", 1ull << 30, 2ull << 30).ok());
  EXPECT_EQ(CheckGrowth("f", 1ull << 30, (2ull << 30) + 1).code(), Code::kAborted);
}

// A listed size is the Primary's word: the receiver's per-block state grows with what arrives,
// never to the listed block count at once (2^50 bytes is 2^37 blocks: std::bad_alloc), and a
// done message claiming a size past the growth bound is refused.
TEST_F(ReceiverTest, AHugeListedSizeAllocatesOnlyWhatArrives) {
  remote_.size = 1ull << 50;
  auto r = Make(*env_);
  ASSERT_TRUE(r->OnData(Payload(Data())).ok());
  ASSERT_TRUE(r->OnEnd().code() == Code::kProtocol);  // drains the shards; the done never came
  EXPECT_EQ(r->jobs()[0]->got.size(), 4u);
  EXPECT_EQ(r->jobs()[0]->hashes.size(), 4u);
}

TEST_F(ReceiverTest, ADoneClaimingASizePastTheGrowthBoundIsRefused) {
  auto r = Make(*env_);
  Encoder e;
  Encode(FileDone{.id = 0, .size = 1ull << 50, .digest = 0, .mtime_ns = 0}, e);
  EXPECT_EQ(r->OnDone(e.view()).code(), Code::kAborted);
}

// A hostile Primary's two delta ranges over one block: the second (all zeros, which the staged
// file leaves unwritten) would change the block's hash and not its bytes, so it is refused.
TEST_F(ReceiverTest, ADeltaRangeOverABlockAlreadyReceivedIsAProtocolError) {
  std::string basis = testing::RandomBytes(2 * kBlockSize, 3);
  testing::WriteFile(dir_ + "/new.bin", basis);
  snapshot::Entry local;
  local.path = "new.bin";
  local.size = basis.size();
  action_.request = RequestKind::kDelta;
  action_.local = &local;
  auto sig_bytes = ComputeSignature(*env_, dir_ + "/new.bin", basis.size(), 1);
  ASSERT_TRUE(sig_bytes.ok()) << sig_bytes.status().ToString();
  auto sig = LoadSignature(std::as_bytes(std::span(*sig_bytes)));
  ASSERT_TRUE(sig.ok()) << sig.status().ToString();
  // Block 0 as new random bytes, then as zeros.
  auto delta_of = [&](const std::string& content, const std::string& name) {
    testing::WriteFile(dir_ + "/" + name, content);
    auto f = env_->OpenForRead(dir_ + "/" + name);
    EXPECT_TRUE(f.ok());
    uint64_t hash = 0;
    auto d = ComputeDelta(*sig, **f, 0, kBlockSize, 1 << 20, &hash);
    EXPECT_TRUE(d.ok() && d->has_value());
    return d.ok() && d->has_value() ? **d : std::string();
  };
  std::string first = delta_of(testing::RandomBytes(kBlockSize, 4), "first.tmp");
  std::string zeros = delta_of(std::string(kBlockSize, '\0'), "zeros.tmp");
  auto frame = [](const std::string& delta) {
    Encoder e;
    Encode(
        FileDelta{
            .id = 0, .offset = 0, .length = kBlockSize, .delta = std::as_bytes(std::span(delta))},
        e);
    return Payload(e);
  };
  auto r = Make(*env_);
  Status st = r->OnDelta(frame(first));
  ASSERT_TRUE(st.ok()) << st.ToString();
  Status again = r->OnDelta(frame(zeros));
  Status end = r->OnEnd();
  Status got = !again.ok() ? again : end;
  EXPECT_EQ(got.code(), Code::kProtocol) << got.ToString();
  EXPECT_NE(got.message().find("already arrived"), std::string::npos) << got.ToString();
}

// Holes: block 0 is data, the rest (two blocks and a short tail) a hole the Primary never sends.
class ReceiverHoleTest : public ReceiverTest {
 protected:
  ReceiverHoleTest() {
    content_ = testing::RandomBytes(kBlockSize, 8) + std::string(2 * kBlockSize + 100, '\0');
    remote_.size = content_.size();
  }
  Encoder FirstBlock() {
    FileData d{.id = 0, .first_block = 0, .hashes = {Hash64(content_.data(), kBlockSize)}};
    d.data = std::as_bytes(std::span<const char>(content_.data(), kBlockSize));
    Encoder e;
    Encode(d, e);
    return e;
  }
  static std::vector<std::byte> Hole(uint64_t offset, uint64_t length) {
    Encoder e;
    Encode(FileHole{.id = 0, .offset = offset, .length = length}, e);
    auto v = e.view();
    return std::vector<std::byte>(v.begin(), v.end());
  }
  // The first error of a message sequence (shards report theirs at the next call or the end).
  static Status FirstError(std::initializer_list<Status> all) {
    for (const Status& st : all) {
      if (!st.ok()) return st;
    }
    return Status::Ok();
  }
};

TEST_F(ReceiverHoleTest, AHoleIsHashedAsZerosAndLeftUnwritten) {
  auto r = Make(*env_);
  ASSERT_TRUE(r->OnData(Payload(FirstBlock())).ok());
  ASSERT_TRUE(r->OnHole(Hole(kBlockSize, 2 * kBlockSize + 100)).ok());
  ASSERT_TRUE(r->OnDone(Done().view()).ok());
  Status st = r->OnEnd();
  ASSERT_TRUE(st.ok()) << st.ToString();
  std::string staged = r->jobs()[0]->staged;
  EXPECT_EQ(testing::ReadFile(staged), content_);
  struct stat info;
  ASSERT_EQ(::stat(staged.c_str(), &info), 0);
  EXPECT_LT(static_cast<uint64_t>(info.st_blocks) * 512, 2 * kBlockSize) << "the hole was written";
  EXPECT_EQ(r->bytes_changed(), kBlockSize);
}

TEST_F(ReceiverHoleTest, AHoleOverBlocksAlreadySentIsAProtocolError) {
  auto r = Make(*env_);
  Status st =
      FirstError({r->OnData(Payload(FirstBlock())), r->OnHole(Hole(0, 3 * kBlockSize + 100)),
                  r->OnDone(Done().view()), r->OnEnd()});
  EXPECT_EQ(st.code(), Code::kProtocol) << st.ToString();
}

TEST_F(ReceiverHoleTest, DataOverAHoleIsAProtocolError) {
  auto r = Make(*env_);
  Status st = FirstError({r->OnHole(Hole(0, kBlockSize)), r->OnData(Payload(Data())),
                          r->OnDone(Done().view()), r->OnEnd()});
  EXPECT_EQ(st.code(), Code::kProtocol) << st.ToString();
}

TEST_F(ReceiverHoleTest, AHolePastTheFilesEndIsAProtocolError) {
  auto r = Make(*env_);
  Status st = FirstError(
      {r->OnData(Payload(FirstBlock())), r->OnHole(Hole(kBlockSize, 2 * kBlockSize + 100)),
       r->OnHole(Hole(4 * kBlockSize, kBlockSize)), r->OnDone(Done().view()), r->OnEnd()});
  EXPECT_EQ(st.code(), Code::kProtocol) << st.ToString();
  // A short block ends the file: a hole ending in one anywhere else is refused as well.
  auto r2 = Make(*env_);
  st = FirstError({r2->OnData(Payload(FirstBlock())), r2->OnHole(Hole(kBlockSize, 100)),
                   r2->OnHole(Hole(2 * kBlockSize, kBlockSize + 100)), r2->OnDone(Done().view()),
                   r2->OnEnd()});
  EXPECT_EQ(st.code(), Code::kProtocol) << st.ToString();
}

}  // namespace
}  // namespace hasync::engine
