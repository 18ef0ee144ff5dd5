// Settings validation: every bad file gets one error naming the key.
#include "engine/settings.h"

#include <gtest/gtest.h>

namespace hasync::engine {
namespace {

const char* kGood = R"([node]
name = "mdm-b"
state_dir = "/var/lib/hasync"
software_version = "11.12.0.0"
[ha]
enabled = true
[[files]]
name = "certs"
root = "/srv/certs/"
exclude = ["*.tmp"]
[sync]
compression = "off"
threads = 4
)";

TEST(SettingsTest, ParsesTheDesignShape) {
  auto s = ParseSettings(kGood, "t.toml");
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  EXPECT_EQ(s->node_name, "mdm-b");
  ASSERT_EQ(s->roots.size(), 1u);
  EXPECT_EQ(s->roots[0].root, "/srv/certs");
  EXPECT_EQ(s->threads, 4u);
  EXPECT_FALSE(s->database.enabled());
}

TEST(SettingsTest, DatabaseSection) {
  auto s = ParseSettings(std::string(kGood) +
                             "[database]\nconninfo = \"host=127.0.0.1 dbname=mdm\"\n"
                             "exclude_schemas = [\"scratch\"]\nmax_slot_wal_mb = 100\n",
                         "t.toml");
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  EXPECT_TRUE(s->database.enabled());
  EXPECT_EQ(s->database.exclude_schemas, std::vector<std::string>{"scratch"});
  EXPECT_EQ(s->database.max_slot_wal_mb, 100u);
}

struct BadCase {
  std::string text;
  std::string names;
};

TEST(SettingsTest, BadFilesNameTheKey) {
  std::vector<BadCase> cases = {
      {"[node]\nname='a'\n", "node.state_dir"},
      {"[node]\nname='a'\nstate_dir='/x'\ncolour='red'\n", "node.colour"},
      {"[node]\nname='a'\nstate_dir='relative'\n", "node.state_dir"},
      {"[nodes]\n", "nodes"},
      {"[node]\nname='a'\nstate_dir='/x'\n[[files]]\nname='a b'\nroot='/r'\n", "files[0].name"},
      {"[node]\nname='a'\nstate_dir='/x'\n[[files]]\nname='a'\nroot='r'\n", "files[0].root"},
      {"[node]\nname='a'\nstate_dir='/x'\n[[files]]\nname='a'\nroot='/"
       "r'\n[[files]]\nname='a'\nroot='/q'\n",
       "used twice"},
      {"[node]\nname='a'\nstate_dir='/x'\n[sync]\ncompression='fast'\n", "sync.compression"},
      {"[node]\nname='a'\nstate_dir='/x'\n[sync]\nthreads=-1\n", "sync.threads"},
      {"[node\n", "t.toml:1"},
      {"[node]\nname='a'\nstate_dir='/x'\n[database]\ninclude_schemas=['x']\n",
       "database.conninfo"},
      {"[node]\nname='a'\nstate_dir='/x'\n[database]\nconninfo='dbname=a'\nschemas=['x']\n",
       "database.schemas"},
      {"[node]\nname='a'\nstate_dir='/x'\n[database]\nconninfo='dbname=a'\n"
       "include_schemas=['hasync']\n",
       "database.include_schemas"},
      {"[node]\nname='a'\nstate_dir='/x'\n[database]\nconninfo='dbname=a'\n"
       "exclude_schemas=['a; DROP']\n",
       "schema name 'a; DROP'"},
      {"[node]\nname='a'\nstate_dir='/x'\n[database]\nconninfo='dbname=a'\nmax_slot_wal_mb=0\n",
       "database.max_slot_wal_mb"},
      {"[node]\nname='a'\nstate_dir='/x'\n[database]\nconninfo='dbname=a'\n"
       "exclude_tables=['events']\n",
       "database.exclude_tables"},
  };
  for (const auto& c : cases) {
    auto s = ParseSettings(c.text, "t.toml");
    ASSERT_FALSE(s.ok()) << c.text;
    EXPECT_EQ(s.status().code(), Code::kConfig);
    EXPECT_NE(s.status().message().find(c.names), std::string::npos) << s.status().message();
  }
}

TEST(SettingsTest, MissingFileSaysHowToPointAtOne) {
  auto s = LoadSettings("/nonexistent/hasync.toml");
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.status().code(), Code::kNotFound);
  EXPECT_NE(s.status().message().find("--config"), std::string::npos);
}

}  // namespace
}  // namespace hasync::engine
