// Tables without a replica identity, on real PostgreSQL 15 clusters: hasync's publications never
// make the Primary's own updates and deletes fail, whatever the application creates, alters or
// drops (each case ends with an UPDATE and a DELETE on the Primary, which fail under a FOR ALL
// TABLES publication), and such tables reach the Secondary exactly, duplicates and pgbench's
// own history table under load included.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <thread>

#include "tests/db_fixture.h"

namespace hasync {
namespace {

using testing::DbTest;
using testing::PgCluster;

class DbKeylessTest : public DbTest {
 protected:
  // The application's own writes on the Primary: each must succeed (Exec fails the test).
  void UpdateAndDelete(const std::string& table) {
    SCOPED_TRACE(table);
    P("UPDATE " + table + " SET v = v || '!'");
    P("DELETE FROM " + table + " WHERE v LIKE 'gone%'");
  }
  std::string Where(const std::string& table) const {
    return primary_->Rows(db_,
                          "SELECT p.pubname FROM pg_publication_rel r JOIN pg_publication p ON "
                          "p.oid = r.prpubid WHERE r.prrelid = '" +
                              table + "'::regclass ORDER BY 1");
  }
  // Each distinct row with its count: a multiset, duplicates included.
  std::string Counts(const PgCluster& c, const std::string& table) const {
    return c.Rows(db_, "SELECT t::text, count(*) FROM " + table + " t GROUP BY 1 ORDER BY 1");
  }
};

TEST_F(DbKeylessTest, KeylessTableCreatedAfterTheFirstSyncCanBeUpdatedAndDeletedFrom) {
  P("CREATE TABLE devices (id int PRIMARY KEY, v text); INSERT INTO devices VALUES (1, 'a');");
  auto r = Sync();
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(Where("devices"), "hasync\n");
  P("CREATE TABLE audit (at int, v text); INSERT INTO audit VALUES (1, 'x'), (2, 'gone');");
  UpdateAndDelete("audit");
  EXPECT_EQ(Where("audit"), "hasync_keyless\n");
  // CREATE TABLE AS and a partition without a key, too.
  P("CREATE TABLE audit_copy AS SELECT * FROM audit; "
    "CREATE TABLE events (region text, v text) PARTITION BY LIST (region); "
    "CREATE TABLE events_eu PARTITION OF events FOR VALUES IN ('eu'); "
    "INSERT INTO audit_copy VALUES (3, 'gone'); INSERT INTO events VALUES ('eu', 'gone');");
  UpdateAndDelete("audit_copy");
  UpdateAndDelete("events");
  UpdateAndDelete("devices");
}

TEST_F(DbKeylessTest, DroppingThePrimaryKeyLeavesUpdatesAndDeletesWorking) {
  P("CREATE TABLE devices (id int PRIMARY KEY, v text); "
    "INSERT INTO devices VALUES (1, 'a'), (2, 'gone');");
  ASSERT_TRUE(Sync().ok());
  P("ALTER TABLE devices DROP CONSTRAINT devices_pkey");
  UpdateAndDelete("devices");
  EXPECT_EQ(Where("devices"), "hasync_keyless\n");
}

TEST_F(DbKeylessTest, ReplicaIdentityNothingLeavesUpdatesAndDeletesWorkingAndReplicates) {
  P("CREATE TABLE devices (id int PRIMARY KEY, v text); "
    "INSERT INTO devices SELECT g, 'v' || g FROM generate_series(1, 20) g;");
  ASSERT_TRUE(Sync().ok());
  P("ALTER TABLE devices REPLICA IDENTITY NOTHING; INSERT INTO devices VALUES (21, 'gone');");
  UpdateAndDelete("devices");
  EXPECT_EQ(Where("devices"), "hasync_keyless\n");
  // Its columns and key are unchanged, so the next sync carries it: copied whole.
  auto r = Sync();
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_FALSE(r->db.full);
  EXPECT_EQ(r->db.copied_whole, std::vector<std::string>{"public.devices"});
  EXPECT_EQ(SecondaryContents(), PrimaryContents());
  // Its identity back: it returns to `hasync` at the next sync, which copies it once more
  // (the updates before the change were never published), then it streams again.
  P("UPDATE devices SET v = 'before' WHERE id = 1; ALTER TABLE devices REPLICA IDENTITY DEFAULT; "
    "UPDATE devices SET v = 'after' WHERE id = 2;");
  EXPECT_EQ(Where("devices"), "hasync_keyless\n") << "moved back only by a sync";
  r = Sync();
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->db.copied_whole, std::vector<std::string>{"public.devices"});
  EXPECT_EQ(SecondaryContents(), PrimaryContents());
  EXPECT_EQ(Where("devices"), "hasync\n");
  P("UPDATE devices SET v = 'streamed' WHERE id = 3");
  r = Sync();
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_TRUE(r->db.copied_whole.empty());
  EXPECT_EQ(r->db.changes, 1u);
  EXPECT_EQ(SecondaryContents(), PrimaryContents());
}

TEST_F(DbKeylessTest, TableRecreatedWithoutAKeyCanBeUpdatedAndDeletedFrom) {
  P("CREATE TABLE devices (id int PRIMARY KEY, v text); INSERT INTO devices VALUES (1, 'a');");
  ASSERT_TRUE(Sync().ok());
  P("DROP TABLE devices; CREATE TABLE devices (id int, v text); "
    "INSERT INTO devices VALUES (1, 'a'), (2, 'gone');");
  UpdateAndDelete("devices");
  EXPECT_EQ(Where("devices"), "hasync_keyless\n");
}

// The previous version made `hasync` FOR ALL TABLES: a sync served by a superuser converts it,
// says so, and a slot that decoded through the old one carries on with no change lost: here the
// old publication served one sync first (a role that is no superuser serves it as before).
TEST_F(DbKeylessTest, PreviousVersionsForAllTablesPublicationIsConvertedUnderALiveSlot) {
  primary_->Exec("postgres", "CREATE ROLE hasync_old LOGIN REPLICATION");
  P("CREATE PUBLICATION hasync FOR ALL TABLES; CREATE TABLE devices (id int PRIMARY KEY, v text);"
    "ALTER TABLE devices OWNER TO hasync_old; INSERT INTO devices VALUES (1, 'a');");
  const std::string old_role =
      "[database]\nconninfo = \"" + primary_->Conninfo(db_, "hasync_old") + "\"\n";
  pair_.SetExtra(old_role, Section(*secondary_));
  auto r = Sync();
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_TRUE(r->db.full);
  P("INSERT INTO devices VALUES (2, 'before'); UPDATE devices SET v = 'b' WHERE id = 1;");
  pair_.SetExtra(Section(*primary_), Section(*secondary_));
  P("INSERT INTO devices VALUES (3, 'while converting')");
  r = Sync();
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_FALSE(r->db.full);
  EXPECT_EQ(SecondaryContents(), PrimaryContents());
  EXPECT_EQ(primary_->Rows(db_, "SELECT puballtables FROM pg_publication WHERE pubname = 'hasync'"),
            "f\n");
  EXPECT_EQ(Where("devices"), "hasync\n");
  P("CREATE TABLE audit (at int, v text); INSERT INTO audit VALUES (1, 'gone');");
  UpdateAndDelete("audit");
  P("UPDATE devices SET v = 'after' WHERE id = 2; DELETE FROM devices WHERE id = 3;");
  r = Sync(true);  // a full copy asked for: the converted publications carry on after one too
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  P("UPDATE devices SET v = 'later' WHERE id = 1; UPDATE audit SET v = 'later';");
  r = Sync();
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_FALSE(r->db.full);
  EXPECT_EQ(SecondaryContents(), PrimaryContents());
  // The event trigger stays on the Primary; the Secondary's copy does not get it.
  EXPECT_EQ(secondary_->Rows(db_, "SELECT count(*) FROM pg_event_trigger"), "0\n");
  P("DROP TABLE devices");
  primary_->Exec("postgres", "DROP ROLE hasync_old");
}

// Without superuser the event trigger cannot be made: the sync fails naming the fix.
TEST_F(DbKeylessTest, NoSuperuserAndNoEventTriggerFailsNamingTheFix) {
  primary_->Exec("postgres", "CREATE ROLE hasync_serve LOGIN REPLICATION");
  P("CREATE TABLE devices (id int PRIMARY KEY, v text); ALTER TABLE devices OWNER TO "
    "hasync_serve; GRANT CREATE ON DATABASE " +
    db_ + " TO hasync_serve;");
  pair_.SetExtra("[database]\nconninfo = \"" + primary_->Conninfo(db_, "hasync_serve") + "\"\n",
                 Section(*secondary_));
  auto r = Sync();
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Code::kConfig) << r.status().ToString();
  EXPECT_NE(r.status().message().find("needs a superuser once"), std::string::npos)
      << r.status().message();
  EXPECT_EQ(primary_->Rows(db_, "SELECT count(*) FROM pg_replication_slots"), "0\n");
  // Once a superuser made them, the same role serves.
  pair_.SetExtra(Section(*primary_), Section(*secondary_));
  ASSERT_TRUE(Sync().ok());
  pair_.SetExtra("[database]\nconninfo = \"" + primary_->Conninfo(db_, "hasync_serve") + "\"\n",
                 Section(*secondary_));
  P("INSERT INTO devices VALUES (1, 'a')");
  r = Sync();
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(SecondaryContents(), PrimaryContents());
  primary_->Exec(db_, "DROP OWNED BY hasync_serve CASCADE");
  primary_->Exec("postgres", "DROP OWNED BY hasync_serve CASCADE; DROP ROLE hasync_serve");
}

TEST_F(DbKeylessTest, DuplicateRowsMatchExactlyAfterUpdatesAndDeletes) {
  P("CREATE TABLE logs (at int, v text); "
    "INSERT INTO logs VALUES (1, 'x'), (1, 'x'), (1, 'x'), (2, 'y'), (2, 'y'), (3, 'z');"
    "CREATE TABLE devices (id int PRIMARY KEY, v text); INSERT INTO devices VALUES (1, 'a');");
  auto r = Sync();
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_TRUE(r->db.full);
  EXPECT_EQ(Counts(*secondary_, "logs"), Counts(*primary_, "logs"));
  // One of three duplicates deleted, one of two updated, one more inserted.
  P("DELETE FROM logs WHERE ctid = (SELECT min(ctid) FROM logs WHERE at = 1); "
    "UPDATE logs SET v = 'Y' WHERE ctid = (SELECT max(ctid) FROM logs WHERE at = 2); "
    "INSERT INTO logs VALUES (3, 'z'); UPDATE devices SET v = 'b';");
  r = Sync();
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_FALSE(r->db.full);
  EXPECT_EQ(r->db.copied_whole, std::vector<std::string>{"public.logs"});
  EXPECT_EQ(Counts(*secondary_, "logs"), "(1,x)|2\n(2,Y)|1\n(2,y)|1\n(3,z)|2\n");
  EXPECT_EQ(SecondaryContents(), PrimaryContents());
  // Emptied on the Primary: empty on the Secondary.
  P("DELETE FROM logs");
  ASSERT_TRUE(Sync().ok());
  EXPECT_EQ(secondary_->Rows(db_, "SELECT count(*) FROM logs"), "0\n");
}

TEST_F(DbKeylessTest, KeylessTableDroppedAndRecreatedBetweenSyncs) {
  P("CREATE TABLE logs (at int, v text); INSERT INTO logs VALUES (1, 'old'), (1, 'old');");
  ASSERT_TRUE(Sync().ok());
  P("DROP TABLE logs; CREATE TABLE logs (at int, v text); "
    "INSERT INTO logs VALUES (2, 'new'), (2, 'new'), (3, 'gone');");
  UpdateAndDelete("logs");
  auto r = Sync();
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_FALSE(r->db.full);
  EXPECT_EQ(Counts(*secondary_, "logs"), "(2,new!)|2\n");
  EXPECT_EQ(SecondaryContents(), PrimaryContents());
}

TEST_F(DbKeylessTest, RefuseKeylessNamesTheTable) {
  pair_.SetExtra(Section(*primary_, "keyless = \"refuse\"\n"), Section(*secondary_));
  P("CREATE TABLE good (id int PRIMARY KEY); CREATE TABLE logs (at timestamptz, line text);");
  auto r = Sync();
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Code::kConfig);
  EXPECT_NE(r.status().message().find("public.logs has no primary key"), std::string::npos)
      << r.status().message();
  EXPECT_EQ(secondary_->Rows(db_, "SELECT count(*) FROM pg_tables WHERE tablename = 'good'"),
            "0\n");
  EXPECT_EQ(primary_->Rows(db_, "SELECT count(*) FROM pg_replication_slots"), "0\n");
}

// pgbench's own schema, pgbench_history without a key as pgbench makes it, synced while pgbench
// writes; once it stops, one more sync and the two sides are equal row for row.
TEST_F(DbKeylessTest, PgbenchOwnSchemaSyncsUnderLoad) {
  ASSERT_EQ(Pgbench("-i -q -s 2"), 0);
  std::atomic<int> load_rc{-1};
  std::thread load([&] { load_rc = Pgbench("-T 6 -c 2 -j 2 -n"); });
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  auto r = Sync();
  EXPECT_TRUE(r.ok()) << r.status().ToString();
  for (int i = 0; i < 3 && r.ok(); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(700));
    r = Sync();
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    if (r.ok()) {
      EXPECT_FALSE(r->db.full);
      EXPECT_EQ(r->db.copied_whole, std::vector<std::string>{"public.pgbench_history"});
    }
  }
  load.join();
  EXPECT_EQ(load_rc, 0);
  r = Sync();
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(SecondaryContents(), PrimaryContents());
  for (const char* t : {"pgbench_history", "pgbench_accounts", "pgbench_branches"}) {
    EXPECT_EQ(Counts(*secondary_, t), Counts(*primary_, t)) << t;
  }
  EXPECT_NE(primary_->Rows(db_, "SELECT count(*) FROM pgbench_history"), "0\n");
}

}  // namespace
}  // namespace hasync
