// pg_dump's script as the Secondary's server gets it: psql's \restrict guard lines dropped, any
// other psql meta-command refused.
#include "snapshot/schema_dump.h"

#include <gtest/gtest.h>

namespace hasync::snapshot {
namespace {

TEST(SchemaDumpTest, RestrictLinesAreDroppedAndTheRestKept) {
  auto r = StripMetaCommands(
      "\\restrict abc\nCREATE TABLE a (id int);\n\nSELECT '\\x';\n\\unrestrict abc\n");
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(*r, "CREATE TABLE a (id int);\n\nSELECT '\\x';\n");
}

TEST(SchemaDumpTest, LastLineGetsItsNewline) {
  auto r = StripMetaCommands("SELECT 1;");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(*r, "SELECT 1;\n");
}

TEST(SchemaDumpTest, OtherMetaCommandIsRefusedNamingIt) {
  auto r = StripMetaCommands("CREATE TABLE a (id int);\n\\connect other\n");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Code::kDatabase);
  EXPECT_NE(r.status().message().find("\\connect other"), std::string::npos);
}

}  // namespace
}  // namespace hasync::snapshot
