// The verify messages round-trip, and every truncation or bad value is one protocol error.
#include "engine/wire/verify_protocol.h"

#include <gtest/gtest.h>

#include "engine/wire/protocol.h"
#include "tests/unit/engine/wire/largest_allocation.h"

namespace hasync::engine {
namespace {

template <typename M, typename D>
void RoundTripAndTruncate(const M& m, D decode) {
  Encoder e;
  Encode(m, e);
  auto back = decode(e.view());
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  Encoder again;
  Encode(*back, again);
  EXPECT_TRUE(
      std::equal(e.view().begin(), e.view().end(), again.view().begin(), again.view().end()));
  for (size_t cut = 0; cut < e.view().size(); ++cut) {
    EXPECT_EQ(decode(e.view().subspan(0, cut)).status().code(), Code::kProtocol) << cut;
  }
}

TEST(VerifyProtocolTest, MessagesRoundTripAndTruncationsAreRefused) {
  RoundTripAndTruncate(VerifyRequest{.roots = {"certs", "app"}, .database = true},
                       DecodeVerifyRequest);
  RoundTripAndTruncate(VerifyRoot{.root = 1, .entries = 20000, .digest = 0xfeedULL},
                       DecodeVerifyRoot);
  RoundTripAndTruncate(
      VerifyTables{{{.table = "public.devices", .rows = 10050, .hash = "-123456789"},
                    {.table = "public.audit", .rows = 0, .hash = "0", .rows_replicated = false}}},
      DecodeVerifyTables);
  RoundTripAndTruncate(VerifyPaths{.root = 0, .paths = {"", "a/b"}}, DecodeVerifyPaths);
  RoundTripAndTruncate(
      VerifyChildren{.root = 0,
                     .last = true,
                     .children = {{.path = "a/x", .type = FileType::kSymlink, .link_target = "y"}}},
      DecodeVerifyChildren);
  RoundTripAndTruncate(
      VerifyBlocks{.root = 0, .path = "f", .first = 4, .last = true, .hashes = {1, 2}},
      DecodeVerifyBlocks);
}

TEST(VerifyProtocolTest, BadValuesAreRefused) {
  Encoder e;
  Encode(VerifyTables{{{.table = "t", .rows = 1, .hash = "12; DROP"}}}, e);
  EXPECT_EQ(DecodeVerifyTables(e.view()).status().code(), Code::kProtocol);
  Encoder f;
  f.PutU8(9);  // unknown request flags
  f.PutVarint(0);
  EXPECT_EQ(DecodeVerifyRequest(f.view()).status().code(), Code::kProtocol);
  Encoder g;
  Encode(VerifyChildren{.root = 0, .last = false, .children = {{.path = "x"}}}, g);
  auto bytes = std::vector<std::byte>(g.view().begin(), g.view().end());
  bytes[5] = std::byte{7};  // the child's type (after root, last, count, "x")
  EXPECT_EQ(DecodeVerifyChildren(bytes).status().code(), Code::kProtocol);
}

// A few bytes claiming the most children or tables the limits allow: refused before anything is
// sized from the count.
TEST(VerifyProtocolTest, TinyPayloadsClaimingHugeCountsReserveNothing) {
  Encoder children;
  children.PutVarint(0);
  children.PutU8(1);
  children.PutVarint(kMaxEntriesPerMessage);
  ResetLargestAllocation();
  Status s = DecodeVerifyChildren(children.view()).status();
  EXPECT_EQ(s.code(), Code::kProtocol);
  EXPECT_NE(s.message().find("more than the message holds"), std::string::npos) << s.ToString();
  EXPECT_LT(LargestAllocation(), size_t{64} << 10);
  Encoder tables;
  tables.PutVarint(1 << 16);  // the most tables a verify message may carry
  ResetLargestAllocation();
  s = DecodeVerifyTables(tables.view()).status();
  EXPECT_EQ(s.code(), Code::kProtocol);
  EXPECT_LT(LargestAllocation(), size_t{64} << 10);
}

}  // namespace
}  // namespace hasync::engine
