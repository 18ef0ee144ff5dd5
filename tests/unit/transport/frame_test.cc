// Frame codec: round trips, and every kind of damage refused.
#include "transport/frame.h"

#include <gtest/gtest.h>

#include "tests/test_util.h"

namespace hasync::transport {
namespace {

Result<Frame> DecodeAll(std::vector<std::byte>& wire) {
  if (wire.size() < kFrameHeaderSize) return Status(Code::kProtocol, "short");
  HASYNC_ASSIGN_OR_RETURN(FrameHeader h,
                          DecodeFrameHeader(std::span<const std::byte, kFrameHeaderSize>(
                              wire.data(), kFrameHeaderSize)));
  FrameDecoder d;
  return d.Decode(h, std::span(wire).subspan(kFrameHeaderSize));
}

std::vector<std::byte> Bytes(const std::string& s) {
  auto b = std::as_bytes(std::span(s));
  return {b.begin(), b.end()};
}

TEST(FrameTest, CompressibleDataIsCompressedAndRoundTrips) {
  FrameEncoder enc({});
  auto payload = Bytes(std::string(100000, 'a'));
  std::vector<std::byte> wire;
  enc.Encode(8, payload, wire);
  EXPECT_LT(wire.size(), 2000u);
  auto f = DecodeAll(wire);
  ASSERT_TRUE(f.ok()) << f.status().ToString();
  EXPECT_EQ(f->type, 8);
  EXPECT_EQ(f->payload, payload);
}

// Found by fuzz/make_corpus under UBSan: an empty payload with no buffer (bye, list end) was
// memcpy'd from a null pointer. The asan-ubsan preset (GCC) does not check that call; the fuzz
// build (clang) does.
TEST(FrameTest, EmptyPayloadWithoutABufferRoundTrips) {
  FrameEncoder enc({.mode = CompressionOptions::Mode::kOff});
  std::vector<std::byte> wire;
  enc.Encode(13, std::span<const std::byte>(), wire);
  ASSERT_EQ(wire.size(), kFrameHeaderSize);
  auto f = DecodeAll(wire);
  ASSERT_TRUE(f.ok()) << f.status().ToString();
  EXPECT_EQ(f->type, 13);
  EXPECT_TRUE(f->payload.empty());
}

TEST(FrameTest, IncompressibleDataIsSentRaw) {
  FrameEncoder enc({});
  auto payload = Bytes(testing::RandomBytes(100000, 1));
  std::vector<std::byte> wire;
  enc.Encode(8, payload, wire);
  EXPECT_EQ(wire.size(), payload.size() + kFrameHeaderSize);
  EXPECT_EQ(static_cast<uint8_t>(wire[4]) & kFlagCompressed, 0);
  ASSERT_TRUE(DecodeAll(wire).ok());
}

TEST(FrameTest, EveryFlippedPayloadByteIsRefused) {
  FrameEncoder enc({.mode = CompressionOptions::Mode::kOff});
  auto payload = Bytes(testing::RandomBytes(512, 2));
  std::vector<std::byte> wire;
  enc.Encode(8, payload, wire);
  for (size_t i = kFrameHeaderSize; i < wire.size(); i += 7) {
    auto bad = wire;
    bad[i] ^= std::byte{0x01};
    auto f = DecodeAll(bad);
    ASSERT_FALSE(f.ok());
    EXPECT_EQ(f.status().code(), Code::kChecksum);
  }
}

TEST(FrameTest, CorruptCompressedPayloadIsRefused) {
  FrameEncoder enc({});
  std::vector<std::byte> wire;
  enc.Encode(8, Bytes(std::string(5000, 'z') + std::string(5000, 'q')), wire);
  wire[wire.size() - 3] ^= std::byte{0x40};
  EXPECT_FALSE(DecodeAll(wire).ok());
}

TEST(FrameTest, BadHeadersAreRefused) {
  FrameEncoder enc({.mode = CompressionOptions::Mode::kOff});
  std::vector<std::byte> good;
  enc.Encode(3, Bytes("hello"), good);
  auto mutate = [&](size_t at, uint8_t v) {
    auto w = good;
    w[at] = std::byte{v};
    return DecodeAll(w).status().code();
  };
  EXPECT_EQ(mutate(0, 0x00), Code::kProtocol);  // magic
  EXPECT_EQ(mutate(2, 0x02), Code::kVersion);   // version
  EXPECT_EQ(mutate(4, 0x80), Code::kProtocol);  // unknown flag
  EXPECT_EQ(mutate(6, 0x01), Code::kProtocol);  // reserved
  EXPECT_EQ(mutate(3, 0x04), Code::kChecksum);  // type is covered by the checksum
}

TEST(FrameTest, OversizedFrameIsRefusedBeforeAnyAllocation) {
  std::vector<std::byte> w(kFrameHeaderSize, std::byte{0});
  w[0] = std::byte{0x53};
  w[1] = std::byte{0x48};
  w[2] = std::byte{kFrameVersion};
  uint32_t huge = kMaxFramePayload + 1;
  std::memcpy(w.data() + 8, &huge, 4);
  std::memcpy(w.data() + 12, &huge, 4);
  auto h =
      DecodeFrameHeader(std::span<const std::byte, kFrameHeaderSize>(w.data(), kFrameHeaderSize));
  ASSERT_FALSE(h.ok());
  EXPECT_EQ(h.status().code(), Code::kProtocol);
  EXPECT_NE(h.status().message().find("exceeds the limit"), std::string::npos);
}

}  // namespace
}  // namespace hasync::transport
