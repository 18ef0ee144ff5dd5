// Schema changes on the Primary between syncs, as an application's migration makes them, on real
// PostgreSQL 15 clusters: each is carried by the next incremental sync (no full copy, no exit
// 19), the tables it touches re-created and copied whole while the others stay incremental, and
// both sides then dump the same schema (pg_dump) and hold the same rows. What a sync cannot carry
// object by object makes it a full copy that says why; a migration rolled back changes nothing;
// a Secondary changed behind hasync's back is repaired.
#include <gtest/gtest.h>
#include <signal.h>

#include <future>

#include <nlohmann/json.hpp>

#include "engine/db/schema_apply.h"
#include "tests/db_fixture.h"

namespace hasync {
namespace {

using testing::DbTest;

class DbSchemaTest : public DbTest {
 protected:
  void SetUp() override {
    DbTest::SetUp();
    P("CREATE TABLE devices (id int PRIMARY KEY, name text NOT NULL); "
      "CREATE TABLE notes (id serial PRIMARY KEY, device int REFERENCES devices (id), v text); "
      "INSERT INTO devices SELECT g, 'd' || g FROM generate_series(1, 50) g; "
      "INSERT INTO notes (device, v) SELECT g % 50 + 1, 'n' || g FROM generate_series(1, 80) g;");
    auto r = Sync();
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    ASSERT_TRUE(r->db.full);
  }
  // The next sync: incremental, carrying exactly `changes`, and the pair equal after it.
  void SyncCarries(const std::vector<std::string>& changes) {
    auto r = Sync();
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    EXPECT_FALSE(r->db.full) << r->db.reason;
    EXPECT_EQ(r->db.schema_changes, changes);
    EXPECT_EQ(SecondarySchema(), PrimarySchema());
    EXPECT_EQ(SecondaryContents(), PrimaryContents());
  }
  // Then the application's next writes stream as before: nothing copied whole.
  void ThenStreams(const std::string& dml) {
    P(dml);
    auto r = Sync();
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    EXPECT_FALSE(r->db.full);
    EXPECT_TRUE(r->db.schema_changes.empty());
    EXPECT_TRUE(r->db.copied_whole.empty());
    EXPECT_GT(r->db.changes, 0u);
    EXPECT_EQ(SecondaryContents(), PrimaryContents());
  }
};

TEST_F(DbSchemaTest, AddedColumnIsCarriedAndTheOtherTablesStayIncremental) {
  P("ALTER TABLE devices ADD COLUMN os text DEFAULT 'linux'; "
    "INSERT INTO devices VALUES (51, 'new', 'ios'); UPDATE devices SET os = 'bsd' WHERE id = 2; "
    "UPDATE notes SET v = 'changed' WHERE id < 5;");
  auto r = Sync();
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_FALSE(r->db.full) << r->db.reason;
  EXPECT_EQ(r->db.schema_changes,
            std::vector<std::string>{"table public.devices altered, copied whole"});
  EXPECT_EQ(r->db.copied_whole, std::vector<std::string>{"public.devices"});
  EXPECT_EQ(r->db.changes, 4u) << "notes' four updates streamed; devices' changes left out";
  EXPECT_EQ(SecondarySchema(), PrimarySchema());
  EXPECT_EQ(SecondaryContents(), PrimaryContents());
  ThenStreams("UPDATE devices SET os = 'later' WHERE id = 3");
}

TEST_F(DbSchemaTest, TablesAddedAndDroppedWithTheirSequences) {
  P("CREATE TABLE events (id bigserial PRIMARY KEY, at timestamptz DEFAULT now(), what text); "
    "CREATE INDEX events_at ON events (at); INSERT INTO events (what) VALUES ('boot'), ('up'); "
    "DROP TABLE notes; INSERT INTO devices VALUES (60, 'x');");
  SyncCarries({"sequence public.events_id_seq added", "sequence public.notes_id_seq dropped",
               "table public.events added, copied whole", "table public.notes dropped"});
  ThenStreams("INSERT INTO events (what) VALUES ('later'); DELETE FROM devices WHERE id = 60;");
  EXPECT_EQ(secondary_->Rows(db_, "SELECT nextval('events_id_seq')"), "4\n");
}

TEST_F(DbSchemaTest, RenamesAndATypeChange) {
  P("ALTER TABLE devices RENAME TO hosts; ALTER TABLE hosts RENAME COLUMN name TO hostname; "
    "ALTER TABLE notes ALTER COLUMN v TYPE varchar(40); UPDATE hosts SET hostname = 'h' || id;");
  SyncCarries({"table public.devices dropped", "table public.hosts added, copied whole",
               "table public.notes altered, copied whole"});
  ThenStreams(
      "UPDATE hosts SET hostname = 'again' WHERE id = 1; INSERT INTO notes (v) VALUES ('x')");
}

TEST_F(DbSchemaTest, NewReplicaIdentityAndADroppedColumn) {
  P("ALTER TABLE notes ADD COLUMN extra int; ALTER TABLE devices REPLICA IDENTITY FULL;");
  SyncCarries(
      {"table public.devices altered, copied whole", "table public.notes altered, copied whole"});
  P("ALTER TABLE notes DROP COLUMN extra; UPDATE notes SET v = 'after drop' WHERE id = 1;");
  SyncCarries({"table public.notes altered, copied whole"});
  ThenStreams("UPDATE devices SET name = 'full identity' WHERE id = 7");
}

// The foreign key of notes (unchanged) into devices (re-created) is restored; new indexes and
// constraints arrive with their table.
TEST_F(DbSchemaTest, NewIndexesAndConstraints) {
  P("CREATE UNIQUE INDEX devices_name ON devices (name); "
    "ALTER TABLE devices ADD CONSTRAINT name_short CHECK (length(name) < 20);");
  SyncCarries({"table public.devices altered, copied whole"});
  EXPECT_EQ(secondary_->Rows(db_,
                             "SELECT count(*) FROM pg_constraint WHERE conname = "
                             "'notes_device_fkey' AND convalidated"),
            "1\n")
      << "notes' foreign key into the re-created devices, restored";
  P("ALTER TABLE notes ADD CONSTRAINT v_set CHECK (v IS NOT NULL) NOT VALID; "
    "CREATE INDEX notes_v ON notes (v);");
  SyncCarries({"table public.notes altered, copied whole"});
  ThenStreams(
      "INSERT INTO devices VALUES (70, 'seventy'); "
      "INSERT INTO notes (device, v) VALUES (70, 'x')");
}

TEST_F(DbSchemaTest, EnumValuesNewTypesAndSequences) {
  P("CREATE TYPE mood AS ENUM ('calm', 'angry'); ALTER TABLE devices ADD COLUMN m mood;");
  SyncCarries({"type public.mood added", "table public.devices altered, copied whole"});
  P("ALTER TYPE mood ADD VALUE 'happy' BEFORE 'angry'; ALTER TYPE mood ADD VALUE 'sad'; "
    "ALTER TYPE mood ADD VALUE 'first' BEFORE 'calm'; CREATE SEQUENCE tickets START 100;");
  P("UPDATE devices SET m = 'happy' WHERE id = 1; UPDATE devices SET m = 'sad' WHERE id = 2; "
    "UPDATE devices SET m = 'first' WHERE id = 3; SELECT nextval('tickets');");
  SyncCarries({"type public.mood altered (labels added)", "sequence public.tickets added"});
  EXPECT_EQ(secondary_->Rows(db_, "SELECT enum_range(NULL::mood)"),
            "{first,calm,happy,angry,sad}\n");
  EXPECT_EQ(secondary_->Rows(db_, "SELECT nextval('tickets')"), "101\n");
}

TEST_F(DbSchemaTest, FunctionsAndTriggers) {
  P("CREATE FUNCTION stamp() RETURNS trigger LANGUAGE plpgsql AS $$BEGIN NEW.v := NEW.v || "
    "'!'; RETURN NEW; END$$; CREATE TRIGGER notes_stamp BEFORE INSERT ON notes FOR EACH ROW "
    "EXECUTE FUNCTION stamp(); INSERT INTO notes (v) VALUES ('stamped');");
  SyncCarries({"function public.stamp() added", "table public.notes altered, copied whole"});
  P("CREATE OR REPLACE FUNCTION stamp() RETURNS trigger LANGUAGE plpgsql AS $$BEGIN NEW.v := "
    "NEW.v || '?'; RETURN NEW; END$$;");
  SyncCarries({"function public.stamp() altered"});
  // The trigger does not fire on the Secondary: the row arrives as the Primary wrote it.
  ThenStreams("INSERT INTO notes (v) VALUES ('once')");
  EXPECT_EQ(secondary_->Rows(db_, "SELECT v FROM notes WHERE v LIKE 'once%'"), "once?\n");
}

TEST_F(DbSchemaTest, WhatCannotBeCarriedMakesAFullCopyThatSaysWhy) {
  P("CREATE VIEW named AS SELECT id, name FROM devices");
  SyncCarries({"view public.named added"});
  P("ALTER TABLE devices ADD COLUMN os text");
  auto r = Sync();
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_TRUE(r->db.full);
  EXPECT_EQ(r->db.reason,
            "the schema changed: table public.devices altered: other objects depend on it (views, "
            "functions, columns of its row type or policies), which re-creating it would drop");
  EXPECT_EQ(SecondarySchema(), PrimarySchema());
  EXPECT_EQ(SecondaryContents(), PrimaryContents());
}

TEST_F(DbSchemaTest, AMigrationRolledBackOnThePrimaryChangesNothing) {
  auto c = primary_->Connect(db_);
  ASSERT_TRUE(c.Run("BEGIN; ALTER TABLE devices ADD COLUMN os text; CREATE TABLE t2 (a int); "
                    "INSERT INTO devices VALUES (99, 'half', 'way')")
                  .ok());
  EXPECT_FALSE(c.Run("ALTER TABLE devices ADD COLUMN os text").ok()) << "the migration's error";
  ASSERT_TRUE(c.Run("ROLLBACK").ok());
  P("UPDATE devices SET name = 'after' WHERE id = 1");
  auto r = Sync();
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_FALSE(r->db.full);
  EXPECT_TRUE(r->db.schema_changes.empty());
  EXPECT_TRUE(r->db.copied_whole.empty());
  EXPECT_EQ(r->db.changes, 1u);
  EXPECT_EQ(SecondarySchema(), PrimarySchema());
  EXPECT_EQ(SecondaryContents(), PrimaryContents());
}

// The same definition, so only its OID tells: without it the Secondary would keep the old rows
// and the new ones would stream on top of them.
TEST_F(DbSchemaTest, ATableDroppedAndRecreatedAlikeIsCopiedAgain) {
  P("DROP TABLE notes; "
    "CREATE TABLE notes (id serial PRIMARY KEY, device int REFERENCES devices (id), v text); "
    "INSERT INTO notes (device, v) VALUES (1, 'fresh'), (2, 'start');");
  SyncCarries({"table public.notes re-created, copied whole"});
  ThenStreams("INSERT INTO notes (device, v) VALUES (3, 'then')");
}

// DDL racing the sync. Unpinned (nothing to carry at the first look), a column added after the
// stream reached the marker is seen when the schema is read again: the sync fails, nothing is
// applied, the next one carries it.
TEST_F(DbSchemaTest, DdlWhileTheStreamIsReadFailsTheSyncAndTheNextCarriesIt) {
  // Without a post-sync check nothing pins an incremental sync that has no change to carry.
  pair_.SetExtra(Section(*primary_), Section(*secondary_, "[sync]\nverify = \"none\"\n"));
  P("UPDATE devices SET name = 'before' WHERE id = 1");
  const std::string schema = SecondarySchema(), rows = SecondaryContents();
  auto sync = std::async(std::launch::async, [&] {
    return pair_.Sync(nullptr, pair_.Serve("HASYNC_KILL_AT=db.streamed:1:stop"));
  });
  pid_t serve = testing::WaitForStopped(pair_.primary_config());
  if (serve == 0) {
    auto failed = sync.get();
    FAIL() << "serve never reached its stop point: "
           << (failed.ok() ? std::string("the sync passed") : failed.status().ToString());
  }
  P("ALTER TABLE devices ADD COLUMN os text; INSERT INTO devices VALUES (90, 'mid', 'ios');");
  ASSERT_EQ(::kill(serve, SIGCONT), 0);
  auto r = sync.get();
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("table public.devices altered while this sync ran; "
                                      "nothing was applied: the next sync carries it"),
            std::string::npos)
      << r.status().ToString();
  EXPECT_EQ(SecondarySchema(), schema);
  EXPECT_EQ(SecondaryContents(), rows);
  SyncCarries({"table public.devices altered, copied whole"});
}

// Pinned (a change to carry), a DDL after the pin is not this sync's: it carries what its
// snapshot shows, and the next sync carries the rest.
TEST_F(DbSchemaTest, DdlAfterThePinIsLeftToTheNextSync) {
  P("ALTER TABLE notes ADD COLUMN extra int");
  auto sync = std::async(std::launch::async, [&] {
    return pair_.Sync(nullptr, pair_.Serve("HASYNC_KILL_AT=db.pinned:1:stop"));
  });
  pid_t serve = testing::WaitForStopped(pair_.primary_config());
  ASSERT_NE(serve, 0) << "serve never reached its stop point";
  P("ALTER TABLE devices ADD COLUMN os text; UPDATE devices SET os = 'late';");
  ASSERT_EQ(::kill(serve, SIGCONT), 0);
  auto r = sync.get();
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->db.schema_changes,
            std::vector<std::string>{"table public.notes altered, copied whole"});
  SyncCarries({"table public.devices altered, copied whole"});
}

// A refresh is not in the stream: the event trigger writes a message in the refresh's own
// transaction, and the sync whose window holds it refreshes the Secondary's view (CONCURRENTLY
// too; WITH NO DATA too). Without a refresh the view keeps the content the Primary's has.
TEST_F(DbSchemaTest, MaterializedViewsRefreshedOnThePrimaryAreRefreshedHere) {
  P("CREATE MATERIALIZED VIEW per_device AS SELECT device, count(*) AS n FROM notes GROUP BY 1; "
    "CREATE UNIQUE INDEX per_device_key ON per_device (device);");
  auto r = Sync();
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_TRUE(r->db.full) << "materialized views are not carried: a full copy";
  auto view = [&](const testing::PgCluster& c) {
    return c.Rows(db_, "SELECT device, n FROM per_device ORDER BY 1");
  };
  EXPECT_EQ(view(*secondary_), view(*primary_));
  P("INSERT INTO notes (device, v) SELECT 1, 'more' FROM generate_series(1, 5)");
  r = Sync();
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_TRUE(r->db.refreshed.empty());
  EXPECT_EQ(view(*secondary_), view(*primary_)) << "both still show the old counts";
  P("REFRESH MATERIALIZED VIEW per_device");
  r = Sync();
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_FALSE(r->db.full);
  EXPECT_EQ(r->db.refreshed, std::vector<std::string>{"public.per_device"});
  EXPECT_EQ(view(*secondary_), view(*primary_));
  EXPECT_NE(view(*secondary_).find("1|6\n"), std::string::npos) << view(*secondary_);
  P("DELETE FROM notes WHERE device = 2; REFRESH MATERIALIZED VIEW CONCURRENTLY per_device");
  r = Sync();
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->db.refreshed, std::vector<std::string>{"public.per_device"});
  EXPECT_EQ(view(*secondary_), view(*primary_));
  P("REFRESH MATERIALIZED VIEW per_device WITH NO DATA");
  r = Sync();
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(secondary_->Rows(db_,
                             "SELECT relispopulated FROM pg_class WHERE relname = "
                             "'per_device'"),
            "f\n");
}

// What the operator reads: `sync --json` and the Sync History name each change and its table.
TEST_F(DbSchemaTest, JsonAndTheHistoryNameTheChanges) {
  P("ALTER TABLE devices ADD COLUMN os text; CREATE TABLE audit (at int)");
  testing::Cmd out =
      testing::Shell(std::string(HASYNC_BIN) + " sync --json --log-level error " + "--config " +
                     pair_.secondary_config() + " --transport '" + pair_.Serve() + "' 2>/dev/null");
  ASSERT_EQ(out.code, 0) << out.out;
  auto j = nlohmann::json::parse(out.out, nullptr, false);
  ASSERT_FALSE(j.is_discarded()) << out.out;
  EXPECT_EQ(j["database"]["full_copy"], false);
  EXPECT_EQ(j["database"]["schema_changes"],
            nlohmann::json::array({"table public.audit added, copied whole",
                                   "table public.devices altered, copied whole"}));
  testing::Cmd history = testing::Shell(std::string(HASYNC_BIN) + " history --json --config " +
                                        pair_.secondary_config() + " 2>/dev/null");
  ASSERT_EQ(history.code, 0) << history.out;
  auto h = nlohmann::json::parse(history.out, nullptr, false);
  ASSERT_FALSE(h.is_discarded()) << history.out;
  ASSERT_TRUE(h.is_array() && !h.empty()) << history.out;
  EXPECT_EQ(h[0]["db_detail"],
            "schema changes carried: table public.audit added, copied whole; table "
            "public.devices altered, copied whole");
}

// The guide's software upgrade procedure with a real migration on both clusters: HA disabled on
// the Secondary, a last sync, the Secondary upgraded (its version changes, its migration runs on
// its own data: a column, a table, rows rewritten), made a maintenance Primary to fetch the
// upgrade and returned to Secondary; syncs refused while the versions differ (exit 9, nothing
// changed); the Primary upgraded (its own migration, and the application writing on); HA
// enabled: the next sync converges to the Primary's data, saying why it copies whole.
TEST_F(DbSchemaTest, TheGuidesUpgradeProcedureConvergesWithRealMigrations) {
  auto hasync = [&](const std::string& args) {
    return testing::Shell(std::string(HASYNC_BIN) + " " + args + " --config " +
                          pair_.secondary_config());
  };
  const std::string migration =
      "ALTER TABLE devices ADD COLUMN os text NOT NULL DEFAULT 'unknown'; "
      "CREATE TABLE settings (k text PRIMARY KEY, v text, at timestamptz DEFAULT "
      "clock_timestamp()); "
      "INSERT INTO settings (k, v) VALUES ('schema', '2'); "
      "UPDATE notes SET v = v || ' (v2 at ' || clock_timestamp() || ')';";
  ASSERT_EQ(hasync("ha disable").code, 0);
  P("INSERT INTO devices VALUES (100, 'last before upgrade')");
  auto r = Sync();
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  // The Secondary upgraded: the new software, its migration (as the role that owns its copy).
  pair_.WriteConfigs("1.0", "2.0");
  S(std::string("SET ROLE ") + testing::PgCluster::kApplyRole + "; " + migration);
  auto mode = hasync("mode primary --json");
  ASSERT_EQ(mode.code, 0) << mode.out;
  EXPECT_NE(mode.out.find("\"maintenance\": true"), std::string::npos) << mode.out;
  ASSERT_EQ(hasync("mode secondary").code, 0);
  const std::string schema = SecondarySchema(), rows = SecondaryContents();
  P("INSERT INTO devices VALUES (101, 'while the versions differ')");
  r = Sync();
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Code::kVersion) << r.status().ToString();
  EXPECT_EQ(SecondarySchema(), schema);
  EXPECT_EQ(SecondaryContents(), rows);
  // The Primary upgraded: its own migration on its own data; the application goes on.
  pair_.WriteConfigs("2.0", "2.0");
  P(migration);
  P("UPDATE devices SET os = 'ios' WHERE id = 1; INSERT INTO settings (k, v) VALUES ('a', 'b');");
  ASSERT_EQ(hasync("ha enable").code, 0);
  r = Sync();
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_TRUE(r->db.full);
  EXPECT_EQ(r->db.reason,
            "this node's software version changed since its last sync (1.0 to 2.0): its own "
            "upgrade may have written to its database, so it is copied whole");
  EXPECT_EQ(SecondarySchema(), PrimarySchema());
  EXPECT_EQ(SecondaryContents(), PrimaryContents());
  // And on from there, incrementally.
  ThenStreams("UPDATE settings SET v = '3' WHERE k = 'schema'");
}

// A hostile Primary's schema changes: the Secondary drops only what its own description named,
// in its own scope, and adds labels only to its own enums; each refusal comes before any
// statement, so nothing changes.
TEST_F(DbSchemaTest, AHostilePrimarysSchemaChangesAreRefusedBeforeAnythingRuns) {
  auto conn = snapshot::PgConn::Connect(secondary_->ApplyConninfo(db_));
  ASSERT_TRUE(conn.ok()) << conn.status().ToString();
  const snapshot::DbScope scope{.include_schemas = {}, .exclude_schemas = {}, .exclude_tables = {}};
  const std::string before = SecondarySchema(), rows = SecondaryContents();
  auto change = [](snapshot::ObjectKind kind, engine::SchemaAction action, std::string schema,
                   std::string name) {
    return engine::SchemaChange{.kind = kind,
                                .action = action,
                                .schema = std::move(schema),
                                .name = std::move(name),
                                .digest = "",
                                .labels = {"x"}};
  };
  using engine::SchemaAction;
  using snapshot::ObjectKind;
  const std::vector<std::pair<std::vector<engine::SchemaChange>, std::string>> cases = {
      {{change(ObjectKind::kTable, SchemaAction::kDropped, "public", "nope")},
       "which this node does not have"},
      {{change(ObjectKind::kTable, SchemaAction::kDropped, "pg_catalog", "pg_authid")},
       "outside this node's replicated schemas"},
      {{change(ObjectKind::kTable, SchemaAction::kDropped, "hasync", "sync_state")},
       "outside this node's replicated schemas"},
      {{change(ObjectKind::kTable, SchemaAction::kAltered, "public", "devices"),
        change(ObjectKind::kFunction, SchemaAction::kDropped, "public", "nope()")},
       "which this node does not have"},
  };
  for (const auto& [changes, words] : cases) {
    engine::SchemaApply apply(*conn, scope);
    ASSERT_TRUE(apply.Describe().ok());
    ASSERT_TRUE(conn->Run("BEGIN").ok());
    Status st = apply.Prepare(changes);
    EXPECT_EQ(st.code(), Code::kProtocol) << st.ToString();
    EXPECT_NE(st.message().find(words), std::string::npos) << st.ToString();
    ASSERT_TRUE(conn->Run("ROLLBACK").ok());
    // Labels for a type that is no enum here, before any transaction.
    Status labels =
        apply.AddLabels({change(ObjectKind::kType, SchemaAction::kAltered, "public", "devices")});
    EXPECT_EQ(labels.code(), Code::kProtocol) << labels.ToString();
  }
  EXPECT_EQ(SecondarySchema(), before);
  EXPECT_EQ(SecondaryContents(), rows);
}

TEST_F(DbSchemaTest, TheSecondarysSchemaChangedBehindHasyncsBackIsRepaired) {
  S(std::string("SET ROLE ") + testing::PgCluster::kApplyRole +
    "; ALTER TABLE devices ADD COLUMN local text; CREATE TABLE scratch (a int);");
  P("UPDATE devices SET name = 'p' WHERE id = 1");
  SyncCarries({"table public.devices altered, copied whole", "table public.scratch dropped"});
}

}  // namespace
}  // namespace hasync
