// The database tests' fixture: two real PostgreSQL 15 clusters (pg_harness.h) started once per
// suite, a fresh database on each per test, and a pair of nodes (pair.h) syncing them, the
// Primary serving as postgres and the Secondary applying as its role without superuser.
#pragma once

#include <gtest/gtest.h>

#include <cstdlib>
#include <string>

#include "tests/pair.h"
#include "tests/pg_harness.h"

namespace hasync::testing {

// Every table and sequence of a database as text, sorted: equal strings, equal databases.
inline std::string Contents(const PgCluster& c, const std::string& db) {
  std::string tables =
      c.Rows(db,
             "SELECT format('%I.%I', schemaname, tablename) FROM pg_tables WHERE schemaname NOT IN "
             "('pg_catalog', 'information_schema', 'hasync') ORDER BY 1");
  std::string out;
  size_t pos = 0;
  while (pos < tables.size()) {
    size_t end = tables.find('\n', pos);
    std::string t = tables.substr(pos, end - pos);
    pos = end + 1;
    out += "== " + t + "\n" + c.Rows(db, "SELECT t::text FROM " + t + " t ORDER BY 1");
  }
  out += "== sequences\n" +
         c.Rows(db,
                "SELECT schemaname, sequencename, last_value FROM pg_sequences WHERE "
                "schemaname <> 'hasync' ORDER BY 1, 2");
  return out;
}

// pg_dump --schema-only of a database as the tests compare it: owners, privileges, comments,
// psql's \restrict lines and hasync's own objects (its schema, publications and event trigger,
// which only the Primary has) left out. Equal strings, equal schemas.
inline std::string SchemaText(const PgCluster& c, const std::string& db) {
  Cmd out = Shell(std::string(PgBin()) + "/pg_dump -h 127.0.0.1 -p " + std::to_string(c.port()) +
                  " -U postgres --schema-only --no-owner --no-privileges --no-publications "
                  "--exclude-schema=hasync " +
                  db);
  EXPECT_EQ(out.code, 0) << out.out;
  std::string text, statement;
  size_t pos = 0;
  bool skipping = false;
  while (pos < out.out.size()) {
    size_t end = out.out.find('\n', pos);
    if (end == std::string::npos) end = out.out.size();
    std::string line = out.out.substr(pos, end - pos);
    pos = end + 1;
    if (line.rfind("CREATE EVENT TRIGGER hasync_publications", 0) == 0) skipping = true;
    if (skipping) {
      if (line.find(';') != std::string::npos) skipping = false;
      continue;
    }
    if (line.empty() || line.rfind("--", 0) == 0 || line[0] == '\\') continue;
    text += line + "\n";
  }
  return text;
}

class DbTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    primary_ = PgCluster::Start().release();
    secondary_ = PgCluster::Start().release();
    // The Secondary applies as a role without superuser; the Primary serves as postgres.
    if (secondary_ != nullptr) secondary_->CreateApplyRole();
  }
  static void TearDownTestSuite() {
    delete primary_;
    delete secondary_;
  }

  void SetUp() override {
    ASSERT_NE(primary_, nullptr);
    ASSERT_NE(secondary_, nullptr);
    db_ = "t" + std::to_string(++counter_);
    primary_->Exec("postgres", "CREATE DATABASE " + db_);
    secondary_->Exec("postgres", "CREATE DATABASE " + db_);
    secondary_->GrantApply(db_);
    pair_.SetExtra(Section(*primary_), Section(*secondary_));
  }

  void TearDown() override {
    for (PgCluster* c : {primary_, secondary_}) {
      c->Exec("postgres",
              "SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE "
              "database = '" +
                  db_ + "'");
    }
    primary_->Exec("postgres", "DROP DATABASE " + db_ + " WITH (FORCE)");
    secondary_->Exec("postgres", "DROP DATABASE " + db_ + " WITH (FORCE)");
  }

  std::string Section(const PgCluster& c, const std::string& extra = "") const {
    std::string conninfo = &c == secondary_ ? c.ApplyConninfo(db_) : c.Conninfo(db_);
    return "[database]\nconninfo = \"" + conninfo + "\"\n" + extra;
  }
  // Runs pgbench with args against the Primary's test database; its exit status.
  int Pgbench(const std::string& args) const {
    std::string cmd = std::string(PgBin()) + "/pgbench -h 127.0.0.1 -p " +
                      std::to_string(primary_->port()) + " -U postgres " + args + " " + db_ +
                      " >/dev/null 2>&1";
    return std::system(cmd.c_str());
  }
  void P(const std::string& sql) const { primary_->Exec(db_, sql); }
  void S(const std::string& sql) const { secondary_->Exec(db_, sql); }
  std::string PrimaryContents() const { return Contents(*primary_, db_); }
  std::string SecondaryContents() const { return Contents(*secondary_, db_); }
  std::string PrimarySchema() const { return SchemaText(*primary_, db_); }
  std::string SecondarySchema() const { return SchemaText(*secondary_, db_); }
  Result<engine::SyncSummary> Sync(bool full_db = false) {
    return pair_.Sync(nullptr, "", full_db);
  }

  static inline PgCluster* primary_ = nullptr;
  static inline PgCluster* secondary_ = nullptr;
  static inline int counter_ = 0;
  std::string db_;
  Pair pair_;
};

}  // namespace hasync::testing
