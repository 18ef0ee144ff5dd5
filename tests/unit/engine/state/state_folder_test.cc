// The state folder's trust check: another account able to write it, or anything hasync keeps in
// it, is refused with the path and the fix; a fresh or missing folder passes.
#include "engine/state/state_folder.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

namespace hasync::engine {
namespace {

namespace fs = std::filesystem;

class StateFolderTest : public ::testing::Test {
 protected:
  StateFolderTest() {
    char tmpl[] = "/tmp/hasync-state-XXXXXX";
    dir_ = ::mkdtemp(tmpl);
    s_.state_dir = dir_ + "/state";
    fs::create_directories(s_.state_dir);
    ::chmod(s_.state_dir.c_str(), 0700);
  }
  ~StateFolderTest() override { fs::remove_all(dir_); }
  Status Check() { return CheckStateFolder(*Env::Default().value(), s_); }
  void Touch(const std::string& path) { std::ofstream(path) << "x"; }

  std::string dir_;
  Settings s_;
};

TEST_F(StateFolderTest, AFolderOnlyThisAccountWritesPasses) {
  EXPECT_TRUE(Check().ok());
  Touch(s_.state_dir + "/node.db");
  Touch(s_.state_dir + "/journal");
  ::chmod((s_.state_dir + "/journal").c_str(), 0600);
  EXPECT_TRUE(Check().ok()) << Check().ToString();
  s_.state_dir = dir_ + "/not-yet";
  EXPECT_TRUE(Check().ok()) << "created later by this account";
}

TEST_F(StateFolderTest, WritableByGroupOrOthersIsRefusedWithTheFix) {
  ::chmod(s_.state_dir.c_str(), 0770);
  Status st = Check();
  EXPECT_EQ(st.code(), Code::kConfig);
  EXPECT_NE(st.message().find("chmod go-w " + s_.state_dir), std::string::npos) << st.message();
  ::chmod(s_.state_dir.c_str(), 0700);
  for (const char* name : {"node.db", "journal", "known_hosts"}) {
    SCOPED_TRACE(name);
    std::string path = s_.state_dir + "/" + name;
    Touch(path);
    ::chmod(path.c_str(), 0666);
    st = Check();
    EXPECT_EQ(st.code(), Code::kConfig);
    EXPECT_NE(st.message().find(path), std::string::npos) << st.message();
    ::chmod(path.c_str(), 0600);
  }
  fs::create_directories(s_.state_dir + "/ssh");
  ::chmod((s_.state_dir + "/ssh").c_str(), 0777);
  EXPECT_EQ(Check().code(), Code::kConfig);
}

// Needs root (the tests run as root) to give a file away.
TEST_F(StateFolderTest, OwnedByAnotherAccountIsRefusedWithTheFix) {
  std::string path = s_.state_dir + "/journal";
  Touch(path);
  ASSERT_EQ(::chown(path.c_str(), 12345, 12345), 0);
  Status st = Check();
  EXPECT_EQ(st.code(), Code::kConfig);
  EXPECT_NE(st.message().find("chown"), std::string::npos) << st.message();
  EXPECT_NE(st.message().find(path), std::string::npos) << st.message();
}

}  // namespace
}  // namespace hasync::engine
