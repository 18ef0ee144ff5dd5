// Fidelity of the metadata rsync -a -H -X -A keeps (issue 17): extended attributes, a file
// capability, access and default ACLs, changes of these alone, attributes removed, and
// ownership by name; each checked against the Primary's tree with rsync itself. Runs as root
// on a file system with user_xattr and acl (ext4 here; CI runs as root).
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/xattr.h>

#include <cstdio>
#include <fstream>
#include <sstream>

#include "tests/pair.h"

namespace hasync {
namespace {

using testing::Pair;
namespace fs = std::filesystem;

// A shell command's output; `rc` its exit status.
std::string Sh(const std::string& cmd, int* rc = nullptr) {
  std::string out;
  FILE* p = ::popen((cmd + " 2>&1").c_str(), "r");
  if (p == nullptr) return "popen failed";
  char buf[4096];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof(buf), p)) > 0) out.append(buf, n);
  int st = ::pclose(p);
  if (rc != nullptr) *rc = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
  return out;
}

void MustRun(const std::string& cmd) {
  int rc = 0;
  std::string out = Sh(cmd, &rc);
  ASSERT_EQ(rc, 0) << cmd << ": " << out;
}

// What rsync -a -c -H -X -A would change: one itemized line per difference, the root folder's
// own ("./") included.
std::string RsyncDiff(const Pair& pair) {
  return Sh("rsync -a -c -n -i -H -X -A " + pair.primary() + "/ " + pair.secondary() + "/");
}

std::string Xattr(const std::string& path, const std::string& name) {
  char buf[65536];
  ssize_t n = ::lgetxattr(path.c_str(), name.c_str(), buf, sizeof(buf));
  return n < 0 ? "(none)" : std::string(buf, static_cast<size_t>(n));
}

class FidelityTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (::geteuid() != 0) GTEST_FAIL() << "the fidelity tests run as root (security.* and chown)";
    for (const char* tool : {"setfattr", "setfacl", "rsync"}) {
      ASSERT_EQ(std::system((std::string("command -v ") + tool + " >/dev/null").c_str()), 0)
          << tool << " is missing: ci/install-deps.sh installs attr, acl and rsync";
    }
  }
  // user.* attributes, a capability, an access ACL and a directory with a default ACL.
  void MakeTree() {
    std::string p = pair_.primary();
    testing::WriteFile(p + "/plain", "plain");
    MustRun("setfattr -n user.comment -v hello " + p + "/plain");
    MustRun("setfattr -n user.bin -v 0x000102ff " + p + "/plain");
    fs::create_directories(p + "/bin");
    testing::WriteFile(p + "/bin/ping", testing::RandomBytes(5000, 1));
    fs::permissions(p + "/bin/ping", fs::perms(0755));
    // cap_net_raw+ep, the raw form setcap writes (version 2).
    MustRun("setfattr -n security.capability -v 0x0100000200200000000000000000000000000000 " + p +
            "/bin/ping");
    testing::WriteFile(p + "/acl", "acl");
    MustRun("setfacl -m u:nobody:r,g:nogroup:rw " + p + "/acl");
    fs::create_directories(p + "/shared");
    MustRun("setfacl -d -m u:nobody:rwx,g::rx " + p + "/shared");
    testing::WriteFile(p + "/shared/inner", "inherits the default ACL");
    testing::WriteFile(p + "/big", testing::RandomBytes(5 << 20, 2));  // updated in place
    MustRun("setfattr -n user.big -v 1 " + p + "/big");
  }
  Pair pair_;
};

TEST_F(FidelityTest, AttributesCapabilitiesAndAclsArrive) {
  MakeTree();
  auto r = pair_.Sync();
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(RsyncDiff(pair_), "");
  std::string s = pair_.secondary();
  EXPECT_EQ(Xattr(s + "/plain", "user.comment"), "hello");
  EXPECT_EQ(Xattr(s + "/bin/ping", "security.capability"),
            Xattr(pair_.primary() + "/bin/ping", "security.capability"));
  EXPECT_NE(Sh("getfacl -p " + s + "/shared").find("default:user:nobody:rwx"), std::string::npos);
  // A no-change sync after it changes nothing (the attributes compare equal).
  auto again = pair_.Sync();
  ASSERT_TRUE(again.ok()) << again.status().ToString();
  EXPECT_EQ(again->files_changed + again->meta_changed, 0u);
}

TEST_F(FidelityTest, AttributeAndAclChangesAloneArriveAndRemovalsToo) {
  MakeTree();
  ASSERT_TRUE(pair_.Sync().ok());
  std::string p = pair_.primary();
  std::string s = pair_.secondary();
  MustRun("setfattr -n user.comment -v changed " + p + "/plain");
  MustRun("setfattr -x user.bin " + p + "/plain");
  MustRun("setfacl -m u:nobody:rwx " + p + "/acl");
  MustRun("setfattr -n user.big -v 2 " + p + "/big");
  MustRun("setfacl -d -m u:nobody:r " + p + "/shared");
  MustRun("setfattr -n user.extra -v local " + s + "/shared/inner");  // the Secondary's own
  auto r = pair_.Sync();
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  // The Primary's quick check includes ctime, which an attribute moves: plain, acl and big are
  // re-checked block by block (nothing sent), shared and shared/inner are metadata updates.
  EXPECT_EQ(r->files_changed + r->meta_changed, 5u);
  EXPECT_GE(r->meta_changed, 2u);
  EXPECT_EQ(r->bytes_changed, 0u) << "only metadata changed";
  EXPECT_EQ(RsyncDiff(pair_), "");
  EXPECT_EQ(Xattr(s + "/plain", "user.comment"), "changed");
  EXPECT_EQ(Xattr(s + "/plain", "user.bin"), "(none)");
  EXPECT_EQ(Xattr(s + "/shared/inner", "user.extra"), "(none)");
  EXPECT_EQ(Xattr(s + "/big", "user.big"), "2");
}

// An SELinux label is the Secondary's policy's: one the Primary lacks is never removed (an
// enforcing policy refuses that, and the sync would fail every time), while the attributes
// around it are replicated as ever.
TEST_F(FidelityTest, TheSecondarysOwnSelinuxLabelIsKept) {
  MakeTree();
  ASSERT_TRUE(pair_.Sync().ok());
  std::string s = pair_.secondary();
  // A directory: its attributes are updated in place (a changed file is staged anew, and a
  // policy labels the new file itself).
  MustRun("setfattr -n security.selinux -v system_u:object_r:etc_t:s0 " + s + "/shared");
  MustRun("setfattr -n user.comment -v changed " + pair_.primary() + "/shared");
  auto r = pair_.Sync();
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(Xattr(s + "/shared", "user.comment"), "changed");
  EXPECT_EQ(Xattr(s + "/shared", "security.selinux").substr(0, 26), "system_u:object_r:etc_t:s0");
}

// chown clears security.capability: a binary whose content changes keeps its capability only if
// the attributes are set after the owner (the apply's order); a big file changed in place gets
// its attributes from the journal's metadata step.
TEST_F(FidelityTest, ACapabilitySurvivesAContentChange) {
  MakeTree();
  ASSERT_TRUE(pair_.Sync().ok());
  std::string p = pair_.primary();
  testing::WriteFile(p + "/bin/ping", testing::RandomBytes(6000, 3));
  fs::permissions(p + "/bin/ping", fs::perms(0755));
  ::chown((p + "/bin/ping").c_str(), 65534, 65534);
  MustRun("setfattr -n security.capability -v 0x0100000200200000000000000000000000000000 " + p +
          "/bin/ping");
  {
    std::fstream f(p + "/big", std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(1 << 20);
    f.write("changed", 7);
  }
  MustRun("setfattr -n user.big -v 3 " + p + "/big");
  auto r = pair_.Sync();
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(RsyncDiff(pair_), "");
  EXPECT_NE(Xattr(pair_.secondary() + "/bin/ping", "security.capability"), "(none)");
  EXPECT_EQ(Xattr(pair_.secondary() + "/big", "user.big"), "3");
}

// owner = "name" end to end (both sides are this machine, so a name maps to the same id: the
// mapping itself is tested with two account tables in owner_names_test.cc).
TEST_F(FidelityTest, OwnershipByNameKeepsOwnersAndNamedAclEntries) {
  pair_.SetExtra("", "[sync]\nowner = \"name\"\n");
  MakeTree();
  std::string p = pair_.primary();
  ASSERT_EQ(::chown((p + "/acl").c_str(), 65534, 65534), 0);
  auto r = pair_.Sync();
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(RsyncDiff(pair_), "");
  struct stat st;
  ASSERT_EQ(::lstat((pair_.secondary() + "/acl").c_str(), &st), 0);
  EXPECT_EQ(st.st_uid, 65534u);
  EXPECT_NE(Sh("getfacl -p " + pair_.secondary() + "/acl").find("user:nobody:r"),
            std::string::npos);
}

}  // namespace
}  // namespace hasync
