// Key checks, fingerprints (against ssh-keygen's own) and the classification of ssh failures.
#include "engine/node/trust.h"

#include <gtest/gtest.h>

#include <cstdio>

#include "tests/test_util.h"

namespace hasync::engine {
namespace {

std::string Capture(const std::string& cmd) {
  FILE* p = ::popen(cmd.c_str(), "r");
  std::string out;
  char buf[4096];
  while (size_t n = fread(buf, 1, sizeof buf, p)) out.append(buf, n);
  ::pclose(p);
  return out;
}

class TrustKeyTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = testing::MakeTempDir();
    ASSERT_EQ(
        std::system(("ssh-keygen -q -t ed25519 -N '' -C 'ops@mdm-a' -f " + dir_ + "/k").c_str()),
        0);
    pub_ = testing::ReadFile(dir_ + "/k.pub");
  }
  std::string dir_, pub_;
};

TEST_F(TrustKeyTest, AcceptsAKeyAndDropsItsComment) {
  auto k = NormalizePublicKey(pub_);
  ASSERT_TRUE(k.ok()) << k.status().ToString();
  EXPECT_EQ(k->rfind("ssh-ed25519 AAAA", 0), 0u);
  EXPECT_EQ(k->find("ops@mdm-a"), std::string::npos);
  EXPECT_EQ(k->find('\n'), std::string::npos);
}

TEST_F(TrustKeyTest, FingerprintMatchesSshKeygen) {
  auto fp = KeyFingerprint(pub_);
  ASSERT_TRUE(fp.ok()) << fp.status().ToString();
  std::string theirs = Capture("ssh-keygen -l -E sha256 -f " + dir_ + "/k.pub");
  EXPECT_NE(theirs.find(*fp), std::string::npos) << theirs << " vs " << *fp;
}

TEST_F(TrustKeyTest, RefusesOptionsGarbageAndMismatchedTypes) {
  std::string b64 = pub_.substr(pub_.find(' ') + 1);
  b64 = b64.substr(0, b64.find(' '));
  for (const std::string& bad :
       {std::string("command=\"sh\" ") + pub_, std::string("ssh-ed25519"),
        std::string("ssh-ed25519 not*base64"), "ssh-rsa " + b64 /* blob says ed25519 */,
        std::string("ssh-dss ") + b64, std::string("")}) {
    auto k = NormalizePublicKey(bad);
    EXPECT_FALSE(k.ok()) << bad;
    if (!k.ok()) {
      EXPECT_EQ(k.status().code(), Code::kUsage);
    }
  }
}

TEST(TrustTest, SshFailuresGetTheirOwnCodes) {
  auto code = [](const std::string& m) {
    return ClassifySshFailure(Status(Code::kPeer, "the peer exited: " + m)).code();
  };
  EXPECT_EQ(code("root@h: Permission denied (publickey)."), Code::kAuth);
  EXPECT_EQ(code("@@@ WARNING: REMOTE HOST IDENTIFICATION HAS CHANGED! @@@"), Code::kHostKey);
  EXPECT_EQ(code("Host key verification failed."), Code::kHostKey);
  EXPECT_EQ(code("ssh: connect to host h port 22: Connection refused"), Code::kUnreachable);
  EXPECT_EQ(code("ssh: connect to host h port 22: Connection timed out"), Code::kUnreachable);
  EXPECT_EQ(code("ssh: Could not resolve hostname nowhere: Name or service not known"),
            Code::kUnreachable);
  EXPECT_EQ(code("something else"), Code::kPeer);
  EXPECT_EQ(ClassifySshFailure(Status(Code::kVersion, "v")).code(), Code::kVersion);
}

TEST(TrustTest, ShellQuoteSurvivesQuotes) {
  EXPECT_EQ(ShellQuote("a b"), "'a b'");
  EXPECT_EQ(ShellQuote("it's"), "'it'\\''s'");
}

}  // namespace
}  // namespace hasync::engine
