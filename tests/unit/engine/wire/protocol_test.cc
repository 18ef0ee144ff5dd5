// Message codecs: round trips, and truncated or out-of-range input refused.
#include "engine/wire/protocol.h"

#include <gtest/gtest.h>

#include "snapshot/manifest.h"

#include "tests/unit/engine/wire/largest_allocation.h"

namespace hasync::engine {
namespace {

TEST(ProtocolTest, ListEntriesRoundTrip) {
  ListEntries m{.root = 2, .entries = {}};
  m.entries.push_back(WireEntry{.path = "a", .type = FileType::kDirectory, .mode = 0755});
  m.entries.push_back(WireEntry{.path = "a/f",
                                .type = FileType::kRegular,
                                .mode = 0640,
                                .size = 123,
                                .mtime_ns = -5,
                                .hashed = true,
                                .digest = 99});
  m.entries.push_back(WireEntry{.path = "a/l", .type = FileType::kSymlink, .link_target = "f"});
  Encoder e;
  Encode(m, e);
  auto d = DecodeListEntries(e.view());
  ASSERT_TRUE(d.ok()) << d.status().ToString();
  ASSERT_EQ(d->entries.size(), 3u);
  EXPECT_EQ(d->entries[1].mtime_ns, -5);
  EXPECT_EQ(d->entries[1].digest, 99u);
  EXPECT_EQ(d->entries[2].link_target, "f");
}

TEST(ProtocolTest, EveryTruncationIsAProtocolError) {
  FileRequest r{
      .id = 1, .root = 0, .path = "x/y", .kind = RequestKind::kBlocks, .have_blocks = {1, 2, 3}};
  Encoder e;
  e.PutVarint(1);
  Encode(r, e);
  auto full = e.view();
  ASSERT_TRUE(DecodeFileRequests(full).ok());
  for (size_t n = 0; n < full.size(); ++n) {
    auto d = DecodeFileRequests(full.first(n));
    ASSERT_FALSE(d.ok()) << "accepted a request cut at " << n;
    EXPECT_EQ(d.status().code(), Code::kProtocol);
  }
}

TEST(ProtocolTest, TrailingBytesAreRefused) {
  Encoder e;
  Encode(Done{.files_sent = 1, .bytes_read = 2}, e);
  e.PutU8(0);
  EXPECT_EQ(DecodeDone(e.view()).status().code(), Code::kProtocol);
}

TEST(ProtocolTest, DataRunMustMatchItsBlockCount) {
  std::vector<std::byte> data(10);
  FileData m{.id = 1, .first_block = 0, .hashes = {1, 2}, .data = data};
  Encoder e;
  Encode(m, e);
  EXPECT_EQ(DecodeFileData(e.view()).status().code(), Code::kProtocol);
}

TEST(ProtocolTest, AHoleIsBlockAlignedNonEmptyAndInsideTheLargestFile) {
  auto decode = [](uint64_t offset, uint64_t length) {
    Encoder e;
    Encode(FileHole{.id = 3, .offset = offset, .length = length}, e);
    return DecodeFileHole(e.view());
  };
  auto ok = decode(2 * snapshot::kBlockSize, 100);
  ASSERT_TRUE(ok.ok()) << ok.status().ToString();
  EXPECT_EQ(ok->id, 3u);
  EXPECT_EQ(ok->offset, 2 * snapshot::kBlockSize);
  EXPECT_EQ(ok->length, 100u);
  EXPECT_EQ(decode(5, 100).status().code(), Code::kProtocol) << "not on a block";
  EXPECT_EQ(decode(0, 0).status().code(), Code::kProtocol) << "empty";
  uint64_t largest = kMaxBlocksPerRequest * snapshot::kBlockSize;
  EXPECT_EQ(decode(largest - snapshot::kBlockSize, 2 * snapshot::kBlockSize).status().code(),
            Code::kProtocol)
      << "past the largest file";
  EXPECT_EQ(decode(UINT64_MAX / snapshot::kBlockSize * snapshot::kBlockSize, 1).status().code(),
            Code::kProtocol);
}

TEST(ProtocolTest, ListEndCarriesEachRootsOwnMetadata) {
  Encoder e;
  Encode(ListEnd{.roots = {RootMeta{.mode = 0751, .uid = 7, .gid = 8, .mtime_ns = -3}}}, e);
  auto d = DecodeListEnd(e.view());
  ASSERT_TRUE(d.ok()) << d.status().ToString();
  ASSERT_EQ(d->roots.size(), 1u);
  EXPECT_EQ(d->roots[0].mode, 0751u);
  EXPECT_EQ(d->roots[0].gid, 8u);
  EXPECT_EQ(d->roots[0].mtime_ns, -3);
  EXPECT_EQ(DecodeListEnd({}).status().code(), Code::kProtocol);
}

TEST(ProtocolTest, HugeCountsAreRefused) {
  Encoder e;
  e.PutVarint(0);
  e.PutVarint(uint64_t{1} << 40);  // entry count
  EXPECT_EQ(DecodeListEntries(e.view()).status().code(), Code::kProtocol);
}

TEST(ProtocolTest, CountsAreCheckedAgainstTheBytesLeft) {
  EXPECT_TRUE(CountFits(3, 7, 21));
  EXPECT_FALSE(CountFits(4, 7, 21));
  EXPECT_TRUE(CountFits(uint64_t{1} << 62, 0, 0));
  EXPECT_FALSE(CountFits(UINT64_MAX, 8, SIZE_MAX)) << "no overflow in n * size";
}

// A few bytes claiming a million elements: refused before anything is sized from the count.
TEST(ProtocolTest, TinyPayloadsClaimingHugeCountsReserveNothing) {
  auto refused_small = [](auto decode, const Encoder& e) {
    ResetLargestAllocation();
    auto r = decode(e.view());
    size_t largest = LargestAllocation();
    EXPECT_EQ(r.status().code(), Code::kProtocol);
    EXPECT_NE(r.status().message().find("more than the message holds"), std::string::npos)
        << r.status().ToString();
    EXPECT_LT(largest, size_t{64} << 10);
  };
  Encoder entries;
  entries.PutVarint(0);
  entries.PutVarint(kMaxEntriesPerMessage);
  refused_small(DecodeListEntries, entries);
  Encoder requests;
  requests.PutVarint(kMaxEntriesPerMessage);
  refused_small(DecodeFileRequests, requests);
  Encoder one_block_request;
  one_block_request.PutVarint(1);
  one_block_request.PutVarint(1);
  one_block_request.PutVarint(0);
  one_block_request.PutString("f");
  one_block_request.PutU8(static_cast<uint8_t>(RequestKind::kBlocks));
  one_block_request.PutVarint(kMaxBlocksPerRequest);
  refused_small(DecodeFileRequests, one_block_request);
  Encoder roots;
  roots.PutU8(0);
  roots.PutVarint(kMaxRoots);
  refused_small(DecodeListRequest, roots);
}

TEST(ProtocolTest, HelloCarriesLineageAndRoleAndRefusesBadOnes) {
  Hello h{.software_version = "11.12.0.0", .node_name = "mdm-a", .clock_ns = -5};
  h.lineage = StartGeneration(StartGeneration({}, "mdm-a", 1000), "mdm-b", 2000);
  h.primary = true;
  h.active = true;
  h.superseded = true;
  Encoder e;
  Encode(h, e);
  auto d = DecodeHello(e.view());
  ASSERT_TRUE(d.ok()) << d.status().ToString();
  EXPECT_EQ(d->lineage, h.lineage);
  EXPECT_EQ(d->lineage.back().number, 2u);
  EXPECT_EQ(d->lineage.back().node, "mdm-b");
  EXPECT_TRUE(d->primary && d->active && d->superseded);
  EXPECT_FALSE(d->ha_enabled);
  // Every truncation is one protocol error.
  for (size_t cut = 0; cut < e.view().size(); ++cut) {
    EXPECT_FALSE(DecodeHello(e.view().subspan(0, cut)).ok()) << cut;
  }
  // Unknown role flags, an unknown health, and more generations than the limit, are refused.
  // The encoding ends: role flags, health, the detail's length (0 here).
  auto bytes = std::vector<std::byte>(e.view().begin(), e.view().end());
  ASSERT_EQ(bytes.back(), std::byte{0});
  auto role = bytes;
  role[role.size() - 3] = std::byte{0x80};
  EXPECT_EQ(DecodeHello(role).status().code(), Code::kProtocol);
  auto health = bytes;
  health[health.size() - 2] = std::byte{4};
  EXPECT_EQ(DecodeHello(health).status().code(), Code::kProtocol);
  // The health the serve side judged travels, its detail bounded.
  h.health = NodeHealth::kNotServing;
  h.health_detail = std::string(2 * kMaxHealthDetail, 'x');
  Encoder he;
  Encode(h, he);
  auto hd = DecodeHello(he.view());
  ASSERT_TRUE(hd.ok()) << hd.status().ToString();
  EXPECT_EQ(hd->health, NodeHealth::kNotServing);
  EXPECT_EQ(hd->health_detail.size(), kMaxHealthDetail);
  Encoder big;
  big.PutVarint(kProtocolVersion);
  big.PutString("v");
  big.PutString("n");
  big.PutSigned(0);
  big.PutVarint(kMaxLineage + 1);
  EXPECT_EQ(DecodeHello(big.view()).status().code(), Code::kProtocol);
}

}  // namespace
}  // namespace hasync::engine
