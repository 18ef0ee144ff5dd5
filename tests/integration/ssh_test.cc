// The ssh channel against a real OpenSSH sshd: a private one per test on a loopback port, with
// its own config and host key, run as a process. Two nodes (a Primary and a Secondary) on this
// machine trust each other with the `hasync trust` commands; the tests check Test Connection,
// a sync over ssh and each failure path with its exit code.
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <thread>

#include "common/status.h"
#include "engine/node/trust.h"
#include "tests/test_util.h"

namespace hasync {
namespace {

namespace fs = std::filesystem;

using testing::Cmd;
using testing::Shell;

int FreePort() { return testing::FreeLoopbackPort(); }

bool Accepts(int port) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<uint16_t>(port));
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  bool ok = ::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
  ::close(fd);
  return ok;
}

class SshTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (::geteuid() != 0) GTEST_SKIP() << "the private sshd logs in as this user: needs root";
    ASSERT_TRUE(fs::exists("/usr/sbin/sshd")) << "openssh-server is missing (ci/install-deps.sh)";
    dir_ = testing::MakeTempDir();
    port_ = FreePort();
    ASSERT_EQ(Shell("ssh-keygen -q -t ed25519 -N '' -f " + dir_ + "/host_key").code, 0);
    testing::WriteFile(dir_ + "/sshd_config",
                       "Port " + std::to_string(port_) + "\nListenAddress 127.0.0.1\nHostKey " +
                           dir_ + "/host_key\nPidFile " + dir_ + "/sshd.pid\nAuthorizedKeysFile " +
                           dir_ + "/authorized_keys " + dir_ +
                           "/b-authorized_keys\nPasswordAuthentication no\n"
                           "KbdInteractiveAuthentication no\nPubkeyAuthentication yes\n"
                           "PermitRootLogin prohibit-password\nStrictModes no\nUsePAM no\n"
                           "LogLevel ERROR\n" +
                           ExtraSshdConfig());
    fs::create_directories("/run/sshd");  // sshd's privilege-separation folder
    sshd_ = ::fork();
    if (sshd_ == 0) {
      ::execl("/usr/sbin/sshd", "/usr/sbin/sshd", "-D", "-e", "-f", (dir_ + "/sshd_config").c_str(),
              static_cast<char*>(nullptr));
      ::_exit(127);
    }
    for (int i = 0; i < 100 && !Accepts(port_); ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    ASSERT_TRUE(Accepts(port_)) << "the private sshd did not start";
    for (const char* n : {"a", "b"}) {
      fs::create_directories(dir_ + "/" + n + "-root");
      Config(n, "11.12.0.0");
    }
  }
  // More sshd_config lines for a test's fixture.
  virtual std::string ExtraSshdConfig() { return ""; }
  void TearDown() override {
    if (sshd_ > 0) {
      ::kill(sshd_, SIGTERM);
      ::waitpid(sshd_, nullptr, 0);
    }
  }
  // Node a is the Primary: its authorized_keys is the one this sshd reads.
  void Config(const std::string& n, const std::string& version, int skew_s = 60) {
    testing::WriteFile(
        dir_ + "/" + n + ".toml",
        "[node]\nname = \"mdm-" + n + "\"\nstate_dir = \"" + dir_ + "/" + n +
            "-state\"\nsoftware_version = \"" + version +
            "\"\n[sync]\nmax_clock_skew_s = " + std::to_string(skew_s) +
            "\n[ssh]\nport = " + std::to_string(port_) + "\nuser = \"root\"\nauthorized_keys = \"" +
            dir_ + "/" + (n == "a" ? "authorized_keys" : "b-authorized_keys") +
            "\"\n[[files]]\nname = \"app\"\nroot = \"" + dir_ + "/" + n + "-root\"\n");
  }
  Cmd Hasync(const std::string& node, const std::string& args) {
    return Shell(std::string(HASYNC_BIN) + " --log-level warn --config " + dir_ + "/" + node +
                 ".toml " + args);
  }
  std::string Key(const std::string& node) {
    Cmd c = Hasync(node, "trust key");
    EXPECT_EQ(c.code, 0) << c.out;
    return c.out.substr(0, c.out.find('\n'));
  }
  // The guide's key exchange: each side trusts the other (here both are 127.0.0.1, so each
  // key is bound to its node's name with --name).
  void TrustBothWays() {
    std::string ka = Key("a"), kb = Key("b");
    Cmd c = Hasync("a", "trust add 127.0.0.1 --name mdm-b --key '" + kb + "'");
    ASSERT_EQ(c.code, 0) << c.out;
    c = Hasync("b", "trust add 127.0.0.1 --name mdm-a --key '" + ka + "'");
    ASSERT_EQ(c.code, 0) << c.out;
  }
  std::string dir_;
  int port_ = 0;
  pid_t sshd_ = -1;
};

TEST_F(SshTest, TrustedPairTestsAndSyncsOverSsh) {
  TrustBothWays();
  testing::MakeSampleTree(dir_ + "/a-root");
  Cmd t = Hasync("b", "trust test 127.0.0.1 --accept-host-key");
  ASSERT_EQ(t.code, 0) << t.out;
  EXPECT_NE(t.out.find("Test was successful"), std::string::npos) << t.out;
  Cmd list = Hasync("b", "trust list");
  EXPECT_NE(list.out.find("127.0.0.1 port " + std::to_string(port_)), std::string::npos);
  EXPECT_EQ(list.out.find("not pinned"), std::string::npos) << "trust test pinned the host key";
  Cmd s = Hasync("b", "sync --host 127.0.0.1 --json");
  ASSERT_EQ(s.code, 0) << s.out;
  EXPECT_EQ(testing::TreeDiff(dir_ + "/a-root", dir_ + "/b-root"), "");
  // The other way round works too (the guide's role swap needs it): this sshd reads both
  // nodes' authorized_keys, and a's key is forced to b's serve side.
  Cmd back = Hasync("a", "trust test 127.0.0.1 --accept-host-key");
  EXPECT_EQ(back.code, 0) << back.out;
}

// [ssh] keep_connection_s (the daemon uses it between scheduled syncs): the second sync rides
// the first one's connection, through a master socket in the state folder, closed on request.
TEST_F(SshTest, SharedConnectionIsReusedAndClosed) {
  TrustBothWays();
  testing::WriteFile(dir_ + "/a-root/x.conf", "x");
  ASSERT_EQ(Hasync("b", "trust test 127.0.0.1 --accept-host-key").code, 0);
  std::string conf = testing::ReadFile(dir_ + "/b.toml");
  conf.replace(conf.find("[ssh]\n"), 6, "[ssh]\nkeep_connection_s = 60\n");
  testing::WriteFile(dir_ + "/b.toml", conf);
  auto sockets = [&] {
    int n = 0;
    for (const auto& e : fs::directory_iterator(dir_ + "/b-state/ssh")) {
      if (e.path().filename().string().rfind("cm-", 0) == 0) ++n;
    }
    return n;
  };
  ASSERT_EQ(Hasync("b", "sync --host 127.0.0.1").code, 0);
  EXPECT_EQ(sockets(), 1) << "the first sync left its connection open";
  testing::WriteFile(dir_ + "/a-root/y.conf", "y");
  Cmd second = Hasync("b", "sync --host 127.0.0.1");
  ASSERT_EQ(second.code, 0) << second.out;
  EXPECT_EQ(testing::ReadFile(dir_ + "/b-root/y.conf"), "y");
  auto settings = engine::LoadSettings(dir_ + "/b.toml");
  ASSERT_TRUE(settings.ok());
  engine::Trust trust(*settings);
  auto host = trust.Find("127.0.0.1");
  ASSERT_TRUE(host.ok());
  trust.CloseSharedConnection(*host);
  for (int i = 0; i < 50 && sockets() > 0; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  EXPECT_EQ(sockets(), 0) << "closed, no ssh left behind";
}

// A key trusted for one node name cannot speak as another (the name picks the slot and the
// "last synchronized" record), and a line written before the binding (no --peer) is refused
// with the fix; both with the key-refused code.
TEST_F(SshTest, KeyIsBoundToItsNodeName) {
  std::string kb = Key("b");
  ASSERT_EQ(Hasync("a", "trust add 127.0.0.1 --name mdm-x --key '" + kb + "'").code, 0);
  ASSERT_EQ(Hasync("b", "trust add 127.0.0.1 --name mdm-a --key '" + Key("a") + "'").code, 0);
  EXPECT_NE(testing::ReadFile(dir_ + "/authorized_keys").find("--peer 'mdm-x'"), std::string::npos);
  Cmd t = Hasync("b", "trust test 127.0.0.1 --accept-host-key");
  EXPECT_EQ(t.code, ExitCode(Code::kAuth)) << t.out;
  EXPECT_NE(t.out.find("mdm-b"), std::string::npos) << t.out;
  EXPECT_NE(t.out.find("mdm-x"), std::string::npos) << t.out;
  // The line as hasync wrote it before the binding.
  std::string keys = testing::ReadFile(dir_ + "/authorized_keys");
  keys.erase(keys.find(" --peer 'mdm-x'"), std::string(" --peer 'mdm-x'").size());
  testing::WriteFile(dir_ + "/authorized_keys", keys);
  t = Hasync("b", "trust test 127.0.0.1");
  EXPECT_EQ(t.code, ExitCode(Code::kAuth)) << t.out;
  EXPECT_NE(t.out.find("hasync trust add"), std::string::npos) << t.out;
}

TEST_F(SshTest, UnknownClientKeyIsRefused) {
  Key("a");
  Cmd c = Hasync("b", "trust add 127.0.0.1 --key '" + Key("a") + "'");
  ASSERT_EQ(c.code, 0) << c.out;
  // a never trusted b's key.
  Cmd t = Hasync("b", "trust test 127.0.0.1 --accept-host-key");
  EXPECT_EQ(t.code, ExitCode(Code::kAuth)) << t.out;
  EXPECT_NE(t.out.find("refused this node's key"), std::string::npos) << t.out;
}

TEST_F(SshTest, ChangedHostKeyIsRefusedAndSaysSo) {
  ASSERT_EQ(Shell("ssh-keygen -q -t ed25519 -N '' -f " + dir_ + "/other_key").code, 0);
  std::string other = testing::ReadFile(dir_ + "/other_key.pub");
  other = other.substr(0, other.rfind(' '));
  std::string kb = Key("b");
  ASSERT_EQ(Hasync("a", "trust add 127.0.0.1 --key '" + kb + "'").code, 0);
  Cmd c = Hasync("b", "trust add 127.0.0.1 --key '" + Key("a") + "' --host-key '" + other + "'");
  ASSERT_EQ(c.code, 0) << c.out;
  Cmd t = Hasync("b", "trust test 127.0.0.1");
  EXPECT_EQ(t.code, ExitCode(Code::kHostKey)) << t.out;
  EXPECT_NE(t.out.find("host key"), std::string::npos) << t.out;
  Cmd s = Hasync("b", "sync --host 127.0.0.1");
  EXPECT_EQ(s.code, ExitCode(Code::kHostKey)) << s.out;
}

TEST_F(SshTest, ForcedCommandCannotBeEscaped) {
  TrustBothWays();
  ASSERT_EQ(Hasync("b", "trust test 127.0.0.1 --accept-host-key").code, 0);
  // b's key asks for a shell command: sshd runs only the forced serve side, which reads no
  // hello on its stdin and ends.
  std::string ssh =
      "ssh -F /dev/null -i " + dir_ + "/b-state/ssh/id_ed25519 -o BatchMode=yes " +
      "-o IdentitiesOnly=yes -o StrictHostKeyChecking=yes -o UserKnownHostsFile=" + dir_ +
      "/b-state/known_hosts -p " + std::to_string(port_) + " root@127.0.0.1";
  Cmd c = Shell(ssh + " 'touch " + dir_ + "/escaped' </dev/null");
  EXPECT_NE(c.code, 0) << c.out;
  EXPECT_FALSE(fs::exists(dir_ + "/escaped")) << "the requested command ran";
  Cmd tty = Shell(ssh + " -tt 'touch " + dir_ + "/escaped2' </dev/null");
  EXPECT_FALSE(fs::exists(dir_ + "/escaped2"));
  EXPECT_NE(testing::ReadFile(dir_ + "/authorized_keys").find("restrict"), std::string::npos);
}

TEST_F(SshTest, UnreachablePeerAndVersionMismatchHaveTheirCodes) {
  TrustBothWays();
  ASSERT_EQ(Hasync("b", "trust test 127.0.0.1 --accept-host-key").code, 0);
  Config("a", "11.13.0.0");
  Cmd v = Hasync("b", "trust test 127.0.0.1");
  EXPECT_EQ(v.code, ExitCode(Code::kVersion)) << v.out;
  EXPECT_NE(v.out.find("11.12.0.0"), std::string::npos) << v.out;
  EXPECT_NE(v.out.find("11.13.0.0"), std::string::npos) << v.out;
  testing::MakeSampleTree(dir_ + "/a-root");
  Cmd s = Hasync("b", "sync --host 127.0.0.1");
  EXPECT_EQ(s.code, ExitCode(Code::kVersion)) << s.out;
  EXPECT_TRUE(fs::is_empty(dir_ + "/b-root")) << "nothing written on a refused sync";
  Config("a", "11.12.0.0");
  ::kill(sshd_, SIGTERM);
  ::waitpid(sshd_, nullptr, 0);
  sshd_ = -1;
  Cmd u = Hasync("b", "trust test 127.0.0.1");
  EXPECT_EQ(u.code, ExitCode(Code::kUnreachable)) << u.out;
}

TEST_F(SshTest, KeysAreCheckedAndSecretsStayOutOfLogs) {
  Cmd bad = Hasync("a", "trust add 127.0.0.1 --key 'ssh-ed25519 AAAA\" command=\"sh'");
  EXPECT_EQ(bad.code, ExitCode(Code::kUsage)) << bad.out;
  Cmd injected = Hasync("a", "trust add 127.0.0.1 --key 'command=\"sh\" ssh-ed25519 AAAA'");
  EXPECT_EQ(injected.code, ExitCode(Code::kUsage)) << injected.out;
  Cmd host = Hasync("a", "trust add 'a;b' --key '" + Key("b") + "'");
  EXPECT_EQ(host.code, ExitCode(Code::kUsage)) << host.out;
  TrustBothWays();
  testing::MakeSampleTree(dir_ + "/a-root");
  ASSERT_EQ(Hasync("b", "trust test 127.0.0.1 --accept-host-key").code, 0);
  Cmd s = Shell(std::string(HASYNC_BIN) + " --log-level trace --config " + dir_ +
                "/b.toml sync --host 127.0.0.1");
  ASSERT_EQ(s.code, 0) << s.out;
  std::string priv = testing::ReadFile(dir_ + "/b-state/ssh/id_ed25519");
  std::string body = priv.substr(priv.find('\n') + 1, 40);
  EXPECT_EQ(s.out.find(body), std::string::npos) << "the private key reached the log";
  Cmd removed = Hasync("a", "trust remove 127.0.0.1");
  EXPECT_EQ(removed.code, 0) << removed.out;
  EXPECT_EQ(testing::ReadFile(dir_ + "/authorized_keys").find("hasync-peer:mdm-a:"),
            std::string::npos);
  EXPECT_EQ(Hasync("b", "sync --host 127.0.0.1").code, ExitCode(Code::kAuth));
}

// The Primary's serve side is killed mid-stream: sshd hands its environment to the forced
// command, and HASYNC_KILL_AT makes the serve side SIGKILL itself at its third data frame.
class SshPrimaryDiesTest : public SshTest {
 protected:
  std::string ExtraSshdConfig() override { return "SetEnv HASYNC_KILL_AT=serve.data:3\n"; }
};

TEST_F(SshPrimaryDiesTest, SecondaryIsUnchangedAndTheErrorSaysWhy) {
  TrustBothWays();
  ASSERT_EQ(Hasync("b", "trust test 127.0.0.1 --accept-host-key").code, 0);
  testing::WriteFile(dir_ + "/b-root/keep.conf", "the Secondary's old state");
  testing::WriteFile(dir_ + "/a-root/big.bin", testing::RandomBytes(8 << 20, 21));
  testing::WriteFile(dir_ + "/a-root/keep.conf", "the Primary's new state");
  Cmd s = Hasync("b", "sync --host 127.0.0.1");
  EXPECT_EQ(s.code, ExitCode(Code::kPeer)) << s.out;
  EXPECT_NE(s.out.find("in the middle of the sync"), std::string::npos) << s.out;
  EXPECT_EQ(testing::ReadFile(dir_ + "/b-root/keep.conf"), "the Secondary's old state");
  EXPECT_FALSE(fs::exists(dir_ + "/b-root/big.bin"));
  EXPECT_FALSE(fs::exists(dir_ + "/b-root/.hasync-staging")) << "staging is cleaned up";
}

}  // namespace
}  // namespace hasync
