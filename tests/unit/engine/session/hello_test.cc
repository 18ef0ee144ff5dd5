// The version gate: versions and clock skew judged on the peer's hello.
#include "engine/session/hello.h"

#include <gtest/gtest.h>

#include "engine/wire/protocol.h"

namespace hasync::engine {
namespace {

TEST(ProtocolTest, VersionGateNamesBothSidesAndRefusesClockSkew) {
  Hello a{.software_version = "11.12.0.0", .node_name = "mdm-a", .clock_ns = 1'000'000'000'000};
  Hello b = a;
  b.node_name = "mdm-b";
  EXPECT_TRUE(CheckPeerHello(a, b, 60).ok());
  b.clock_ns = a.clock_ns + 61'000'000'000;  // 61 s ahead
  Status st = CheckPeerHello(a, b, 60);
  EXPECT_EQ(st.code(), Code::kClockSkew);
  EXPECT_NE(st.message().find("61 s"), std::string::npos) << st.message();
  EXPECT_TRUE(CheckPeerHello(a, b, 120).ok());
  b.clock_ns = a.clock_ns - 61'000'000'000;  // behind counts too
  EXPECT_EQ(CheckPeerHello(a, b, 60).code(), Code::kClockSkew);
  b.clock_ns = a.clock_ns;
  b.software_version = "11.13.0.0";
  st = CheckPeerHello(a, b, 60);
  EXPECT_EQ(st.code(), Code::kVersion);
  EXPECT_NE(st.message().find("11.12.0.0"), std::string::npos);
  EXPECT_NE(st.message().find("11.13.0.0"), std::string::npos);
}

TEST(ProtocolTest, HelloOfAnotherProtocolVersionStillReachesTheGate) {
  // A version-1 peer's hello has no generation: decoding stops after the fields every
  // version shares, so the gate can say which versions differ.
  Encoder e;
  e.PutVarint(1);
  e.PutString("11.12.0.0");
  e.PutString("old-node");
  e.PutSigned(5);
  auto h = DecodeHello(e.view());
  ASSERT_TRUE(h.ok()) << h.status().ToString();
  EXPECT_EQ(h->protocol_version, 1u);
  Hello mine{.node_name = "new-node"};
  Status st = CheckPeerHello(mine, *h, 60);
  EXPECT_EQ(st.code(), Code::kVersion);
  EXPECT_NE(st.message().find("speaks 1"), std::string::npos) << st.message();
}

}  // namespace
}  // namespace hasync::engine
