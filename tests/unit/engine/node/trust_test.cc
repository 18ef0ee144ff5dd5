// Key checks, fingerprints (against ssh-keygen's own), the classification of ssh failures, and
// the authorized_keys root writes into the ssh account's own folder.
#include "engine/node/trust.h"

#include <gtest/gtest.h>
#include <pwd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>

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

// Trusting peers writes authorized_keys into <dir>/home/.ssh as the account "nobody" would own
// it: a folder of that account's, which it may fill with links.
class TrustFileTest : public TrustKeyTest {
 protected:
  void SetUp() override {
    TrustKeyTest::SetUp();
    ssh_dir_ = dir_ + "/home/.ssh";
    std::filesystem::create_directories(ssh_dir_);
    ::chmod(ssh_dir_.c_str(), 0700);
    passwd* pw = ::getpwnam("nobody");
    ASSERT_NE(pw, nullptr) << "the tests need the account nobody";
    uid_ = pw->pw_uid;
    auto s = ParseSettings("[node]\nname = \"mdm-a\"\nstate_dir = \"" + dir_ +
                               "/state\"\n[ssh]\nuser = \"nobody\"\nauthorized_keys = \"" +
                               ssh_dir_ + "/authorized_keys\"\n",
                           "t.toml");
    ASSERT_TRUE(s.ok()) << s.status().ToString();
    settings_ = *s;
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  Status Add(const std::string& host, const std::string& name = "") {
    return Trust(settings_).Add(TrustedHost{.host = host, .key = pub_, .name = name});
  }
  std::string ssh_dir_;
  uid_t uid_ = 0;
  Settings settings_;
};

// The forced command binds the key to the peer's node name (--name, else the host as given).
TEST_F(TrustFileTest, ForcedCommandBindsTheKeyToThePeersNodeName) {
  ASSERT_TRUE(Add("127.0.0.1", "mdm-b").ok());
  ASSERT_TRUE(Add("mdm-c.example").ok());
  std::string keys = testing::ReadFile(ssh_dir_ + "/authorized_keys");
  EXPECT_NE(keys.find(" serve --stdio --config 't.toml' --peer 'mdm-b'\",restrict"),
            std::string::npos)
      << keys;
  EXPECT_NE(keys.find("--peer 'mdm-c.example'\""), std::string::npos) << keys;
  auto h = Trust(settings_).Find("127.0.0.1");
  ASSERT_TRUE(h.ok());
  EXPECT_EQ(h->PeerName(), "mdm-b") << "the name is kept in trusted-hosts.json";
  Status bad = Add("127.0.0.2", "a b");
  EXPECT_EQ(bad.code(), Code::kUsage) << bad.ToString();
}

// ssh binds its control socket at ControlPath plus a temporary suffix, and a Unix socket's path
// holds 107 bytes: under a state folder too long for it a kept connection would fail every
// sync ("too long for Unix domain socket"), so the command connects anew instead.
TEST_F(TrustFileTest, AKeptConnectionOnlyWhereItsSocketPathFits) {
  TrustedHost h{.host = "127.0.0.1", .key = pub_, .name = "mdm-b"};
  settings_.state_dir = "/tmp/s";
  EXPECT_NE(Trust(settings_).SshCommand(h, "true", 60).find("ControlMaster=auto"),
            std::string::npos);
  settings_.state_dir = "/tmp/" + std::string(60, 'x');
  EXPECT_EQ(Trust(settings_).SshCommand(h, "true", 60).find("ControlMaster"), std::string::npos);
}

// Root writes authorized_keys in the account's own folder: a link planted at the temporary
// name (the old one was authorized_keys.tmp) or at the final name never makes root write,
// chmod or chown what it points to, and the file ends up the account's.
TEST_F(TrustFileTest, LinksPlantedInTheAccountsFolderAreNeverFollowed) {
  if (::geteuid() != 0) GTEST_FAIL() << "this test needs root (it chowns to nobody)";
  ASSERT_EQ(::chown(ssh_dir_.c_str(), uid_, uid_), 0);
  std::string victim = dir_ + "/shadow";
  testing::WriteFile(victim, "root:secret\n");
  ::chmod(victim.c_str(), 0640);
  auto unchanged = [&] {
    struct stat st {};
    EXPECT_EQ(::stat(victim.c_str(), &st), 0);
    EXPECT_EQ(st.st_uid, 0u) << "root chowned the link's target";
    EXPECT_EQ(st.st_mode & 07777, 0640u) << "root chmodded the link's target";
    EXPECT_EQ(testing::ReadFile(victim), "root:secret\n") << "root wrote through the link";
  };
  ASSERT_EQ(::symlink(victim.c_str(), (ssh_dir_ + "/authorized_keys.tmp").c_str()), 0);
  Status st = Add("127.0.0.1", "mdm-b");
  ASSERT_TRUE(st.ok()) << st.ToString();
  unchanged();
  struct stat keys {};
  ASSERT_EQ(::lstat((ssh_dir_ + "/authorized_keys").c_str(), &keys), 0);
  EXPECT_TRUE(S_ISREG(keys.st_mode));
  EXPECT_EQ(keys.st_uid, uid_) << "authorized_keys belongs to the ssh account";
  EXPECT_EQ(keys.st_mode & 07777, 0600u);
  // A link at the final name: refused, naming it, and neither read nor followed.
  ASSERT_EQ(::unlink((ssh_dir_ + "/authorized_keys").c_str()), 0);
  ASSERT_EQ(::symlink(victim.c_str(), (ssh_dir_ + "/authorized_keys").c_str()), 0);
  st = Add("127.0.0.2", "mdm-c");
  EXPECT_EQ(st.code(), Code::kIo) << st.ToString();
  EXPECT_NE(st.message().find(ssh_dir_ + "/authorized_keys"), std::string::npos) << st.message();
  unchanged();
}

// The folder itself: a link in its place, or a folder of another account's, is refused by name.
TEST_F(TrustFileTest, FolderOfAnotherAccountOrALinkIsRefused) {
  if (::geteuid() != 0) GTEST_FAIL() << "this test needs root (it chowns folders)";
  ASSERT_EQ(::chown(ssh_dir_.c_str(), 4242, 4242), 0);
  Status st = Add("127.0.0.1");
  EXPECT_EQ(st.code(), Code::kIo) << st.ToString();
  EXPECT_NE(st.message().find(ssh_dir_), std::string::npos) << st.message();
  std::filesystem::remove_all(ssh_dir_);
  std::filesystem::create_directories(dir_ + "/elsewhere");
  ASSERT_EQ(::symlink((dir_ + "/elsewhere").c_str(), ssh_dir_.c_str()), 0);
  st = Add("127.0.0.1");
  EXPECT_EQ(st.code(), Code::kIo) << st.ToString();
  EXPECT_NE(st.message().find(ssh_dir_), std::string::npos) << st.message();
  EXPECT_FALSE(std::filesystem::exists(dir_ + "/elsewhere/authorized_keys"));
}

}  // namespace
}  // namespace hasync::engine
