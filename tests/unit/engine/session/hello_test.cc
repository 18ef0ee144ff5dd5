// The version gate: versions and clock skew judged on the peer's hello.
#include "engine/session/hello.h"

#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <string>

#include "common/log.h"
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

// `serve --peer mdm-b` (the forced command `hasync trust add --name mdm-b` writes) serves only a
// hello from mdm-b: the claimed name picks the slot and the "last synchronized" record.
TEST(ProtocolTest, BoundKeyRefusesAHelloThatClaimsAnotherNode) {
  PeerBinding bound{.peer = "mdm-b"};
  EXPECT_TRUE(CheckPeerBinding(bound, "mdm-b").ok());
  Status st = CheckPeerBinding(bound, "mdm-x");
  EXPECT_EQ(st.code(), Code::kAuth);
  EXPECT_NE(st.message().find("mdm-x"), std::string::npos) << st.message();
  EXPECT_NE(st.message().find("mdm-b"), std::string::npos) << st.message();
  // Started by sshd from a line written before the binding: refused, saying what to do.
  st = CheckPeerBinding(PeerBinding{.refuse_unbound = true}, "mdm-b");
  EXPECT_EQ(st.code(), Code::kAuth);
  EXPECT_NE(st.message().find("hasync trust add"), std::string::npos) << st.message();
  // A channel the operator started (--transport): no binding, any name.
  EXPECT_TRUE(CheckPeerBinding(PeerBinding{}, "mdm-x").ok());
}

// A peer's names reach logs and terminals: a hello naming a node with control characters is
// refused, and the message carries them escaped.
TEST(ProtocolTest, PeerTextIsStrippedOfControlCharacters) {
  Hello a{.software_version = "11.12.0.0", .node_name = "mdm-a", .clock_ns = 1};
  Hello b = a;
  b.node_name = "mdm-b\n2026-12-01 [info] forged\x1b[2J";
  Status st = CheckPeerHello(a, b, 60);
  EXPECT_EQ(st.code(), Code::kProtocol);
  EXPECT_EQ(st.message().find('\n'), std::string::npos) << st.message();
  EXPECT_EQ(st.message().find('\x1b'), std::string::npos) << st.message();
  EXPECT_NE(st.message().find("mdm-b\\x0a2026"), std::string::npos) << st.message();
  b.software_version = "9\r\x1b]0;title\x07";
  st = CheckPeerHello(a, b, 60);
  EXPECT_EQ(st.code(), Code::kVersion);
  EXPECT_EQ(st.message().find_first_of("\r\n\x1b\x07"), std::string::npos) << st.message();
  EXPECT_EQ(Printable("caf\xc3\xa9 \xc2\x9b"), "caf\xc3\xa9 \\x9b") << "UTF-8 stays, C1 goes";
  EXPECT_EQ(Printable("a\x7f"), "a\\x7f");
}

// The race the hostile Primary's "garbage" case lost once in CI: the peer wrote a banner and
// exited before our hello reached it. Our send then fails with a broken pipe, and what the peer
// wrote is the cause to report (a protocol error), not "exited before saying anything".
TEST(ProtocolTest, APeerThatWroteGarbageAndLeftBeforeOurHelloIsAProtocolError) {
  ::signal(SIGPIPE, SIG_IGN);
  int to_us[2], to_peer[2];
  ASSERT_EQ(::pipe(to_us), 0);
  ASSERT_EQ(::pipe(to_peer), 0);
  const std::string junk = "SSH-2.0-OpenSSH_9.2 welcome\r\n" + std::string(64, 'x');
  ASSERT_EQ(::write(to_us[1], junk.data(), junk.size()), static_cast<ssize_t>(junk.size()));
  ::close(to_us[1]);
  ::close(to_peer[0]);  // the peer is gone: our send sees EPIPE
  transport::FdChannel ch(to_us[0], to_peer[1], true);
  PeerLink link(ch, "Primary");
  Hello mine{.software_version = "1.0", .node_name = "mdm-b"};
  auto r = ExchangeHello(link, mine);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Code::kProtocol) << r.status().ToString();
}

// A peer that said nothing at all: the broken pipe is the one error.
TEST(ProtocolTest, APeerThatLeftSilentlyIsOnePeerError) {
  ::signal(SIGPIPE, SIG_IGN);
  int to_us[2], to_peer[2];
  ASSERT_EQ(::pipe(to_us), 0);
  ASSERT_EQ(::pipe(to_peer), 0);
  ::close(to_us[1]);
  ::close(to_peer[0]);
  transport::FdChannel ch(to_us[0], to_peer[1], true);
  PeerLink link(ch, "Primary");
  auto r = ExchangeHello(link, Hello{.software_version = "1.0", .node_name = "mdm-b"});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Code::kPeer);
  EXPECT_NE(r.status().message().find("before saying anything"), std::string::npos)
      << r.status().message();
}

}  // namespace
}  // namespace hasync::engine
