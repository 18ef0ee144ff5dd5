// The path check that keeps a peer's paths inside the roots (invariant 5).
#include "common/path.h"

#include <gtest/gtest.h>

#include <vector>

namespace hasync {
namespace {

TEST(PathTest, AcceptsPlainRelativePaths) {
  EXPECT_TRUE(ValidateRelativePath("a").ok());
  EXPECT_TRUE(ValidateRelativePath("certs/server.pem").ok());
  EXPECT_TRUE(ValidateRelativePath("a/..b/c.").ok());
}

TEST(PathTest, RefusesEverythingThatCouldEscape) {
  for (const std::string& bad :
       std::vector<std::string>{"", "/etc/passwd", "..", "../x", "a/../../x", "a/./b", "a//b", "a/",
                                std::string("a\0b", 3), std::string(300, 'n')}) {
    Status st = ValidateRelativePath(bad);
    EXPECT_EQ(st.code(), Code::kUnsafePath) << "accepted: " << bad;
  }
}

TEST(PathTest, ParentOf) {
  EXPECT_EQ(ParentOf("a/b/c"), "a/b");
  EXPECT_EQ(ParentOf("c"), "");
}

}  // namespace
}  // namespace hasync
