// hasync's two publications and the event trigger that keeps their membership right at each
// DDL. The membership rule is one SQL body, written into two functions that never call each
// other (a SECURITY DEFINER function calling another by name could be made to run a function
// the schema's owner swapped in): the event trigger's only moves a table out of `hasync` (or
// out of both when it left the scope) and puts tables it finds nowhere in `hasync_keyless`;
// hasync.move_publications(true), run by each sync, also moves tables into `hasync`.
#include "snapshot/publications.h"

#include "common/log.h"
#include "snapshot/change_filter.h"

namespace hasync::snapshot {
namespace {

constexpr char kAllActions[] = "insert, update, delete, truncate";
constexpr char kInsertActions[] = "insert, truncate";

// The commands after which a table may have gained or lost its replica identity, or entered
// or left the scope; and REFRESH MATERIALIZED VIEW, which the stream never carries: the trigger
// writes a transactional logical message (prefix kRefreshPrefix, the view's OID) in the
// refresh's own transaction, so the sync whose window holds it refreshes the Secondary's.
constexpr char kTags[] =
    "'CREATE TABLE', 'CREATE TABLE AS', 'SELECT INTO', 'ALTER TABLE', 'DROP INDEX', "
    "'ALTER INDEX', 'CREATE SCHEMA', 'ALTER SCHEMA', 'ALTER EXTENSION', "
    "'REFRESH MATERIALIZED VIEW'";

std::string TextArray(PgConn& c, const std::vector<std::string>& v) {
  std::string out = "ARRAY[";
  for (size_t i = 0; i < v.size(); ++i) out += (i ? ", " : "") + c.QuoteLiteral(v[i]);
  return out + "]::text[]";
}

// The plpgsql body; `promote` is a boolean expression (the parameter, or false); `first` runs
// before the membership loop (the event trigger's refresh messages).
std::string MoveBody(PgConn& c, const DbScope& scope, const std::string& promote,
                     const std::string& first = "") {
  std::string in_scope =
      "n.nspname <> 'hasync' AND n.nspname <> 'information_schema' AND n.nspname NOT LIKE "
      "'pg\\_%' AND c.relpersistence = 'p' AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE "
      "d.classid = 'pg_class'::regclass AND d.objid = c.oid AND d.deptype = 'e') AND "
      "(cardinality(" +
      TextArray(c, scope.include_schemas) + ") = 0 OR n.nspname = ANY (" +
      TextArray(c, scope.include_schemas) + ")) AND NOT n.nspname = ANY (" +
      TextArray(c, scope.exclude_schemas) + ") AND NOT (n.nspname || '.' || c.relname) = ANY (" +
      TextArray(c, scope.exclude_tables) + ")";
  std::string member =
      "EXISTS (SELECT 1 FROM pg_publication_rel pr JOIN pg_publication p ON p.oid = pr.prpubid "
      "WHERE pr.prrelid = c.oid AND p.pubname = ";
  return "DECLARE r record; want text; BEGIN " + first +
         "FOR r IN SELECT format('%I.%I', n.nspname, "
         "c.relname) AS rel, " +
         member + "'hasync') AS in_main, " + member + "'hasync_keyless') AS in_keyless, " +
         in_scope +
         " AS in_scope, (c.relreplident = 'f' OR (c.relreplident = 'd' AND EXISTS (SELECT 1 FROM "
         "pg_index i WHERE i.indrelid = c.oid AND i.indisprimary)) OR (c.relreplident = 'i' AND "
         "EXISTS (SELECT 1 FROM pg_index i WHERE i.indrelid = c.oid AND i.indisreplident))) AS "
         "identity FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE "
         "c.relkind = 'r' AND n.nspname NOT IN ('pg_catalog', 'information_schema', 'pg_toast') "
         "LOOP want := CASE WHEN NOT r.in_scope THEN NULL WHEN r.identity AND (r.in_main OR " +
         promote +
         ") THEN 'hasync' ELSE 'hasync_keyless' END; "
         "IF r.in_main AND want IS DISTINCT FROM 'hasync' THEN EXECUTE format('ALTER PUBLICATION "
         "hasync DROP TABLE %s', r.rel); END IF; "
         "IF r.in_keyless AND want IS DISTINCT FROM 'hasync_keyless' THEN EXECUTE "
         "format('ALTER PUBLICATION hasync_keyless DROP TABLE %s', r.rel); END IF; "
         "IF want = 'hasync' AND NOT r.in_main THEN EXECUTE format('ALTER PUBLICATION hasync ADD "
         "TABLE %s', r.rel); END IF; "
         "IF want = 'hasync_keyless' AND NOT r.in_keyless THEN EXECUTE format('ALTER PUBLICATION "
         "hasync_keyless ADD TABLE %s', r.rel); END IF; END LOOP; END";
}

std::string CreateTriggerSql() {
  return std::string("CREATE EVENT TRIGGER ") + kEventTrigger +
         " ON ddl_command_end WHEN TAG IN (" + kTags +
         ") EXECUTE FUNCTION hasync.publications_ddl()";
}

// The publication's actions as CREATE/ALTER PUBLICATION spells them, or "" when missing.
Result<std::string> Actions(PgConn& c, const char* name, bool& all_tables) {
  HASYNC_ASSIGN_OR_RETURN(
      PgResult r,
      c.ExecParams("SELECT puballtables, concat_ws(', ', CASE WHEN pubinsert THEN 'insert' END, "
                   "CASE WHEN pubupdate THEN 'update' END, CASE WHEN pubdelete THEN 'delete' END, "
                   "CASE WHEN pubtruncate THEN 'truncate' END), pubviaroot FROM pg_publication "
                   "WHERE pubname = $1",
                   {std::string(name)}));
  if (r.rows() == 0) return std::string();
  all_tables = r.Get(0, 0) == "t";
  return r.Get(0, 1) + (r.Get(0, 2) == "t" ? " (via root)" : "");
}

// CREATE or ALTER so that `name` publishes exactly `actions`, leaves alone when it does.
Status EnsureOne(PgConn& c, const char* name, const char* actions) {
  bool all = false;
  HASYNC_ASSIGN_OR_RETURN(std::string have, Actions(c, name, all));
  std::string with =
      std::string(" (publish = '") + actions + "', publish_via_partition_root = false)";
  if (have.empty()) return c.Run(std::string("CREATE PUBLICATION ") + name + " WITH" + with);
  if (have == actions) return Status::Ok();
  return c.Run(std::string("ALTER PUBLICATION ") + name + " SET" + with);
}

Result<bool> Superuser(PgConn& c) {
  HASYNC_ASSIGN_OR_RETURN(PgResult r,
                          c.Exec("SELECT rolsuper FROM pg_roles WHERE rolname = current_user"));
  return r.rows() == 1 && r.Get(0, 0) == "t";
}

Result<bool> SetUp(PgConn& c) {
  HASYNC_ASSIGN_OR_RETURN(
      PgResult r, c.ExecParams("SELECT (SELECT count(*) FROM pg_event_trigger WHERE evtname = $1 "
                               "AND evtenabled <> 'D' AND 'REFRESH MATERIALIZED VIEW' = ANY "
                               "(evttags)) + (SELECT count(*) FROM pg_proc p JOIN "
                               "pg_namespace n ON n.oid = p.pronamespace WHERE n.nspname = "
                               "'hasync' AND p.proname = 'move_publications') + (SELECT count(*) "
                               "FROM pg_publication WHERE pubname = $2 AND NOT puballtables)",
                               {std::string(kEventTrigger), std::string(kKeylessPublication)}));
  return r.Get(0, 0) == "3";
}

// Several Secondaries' serve sessions may start at once, each running this: the advisory lock
// makes them take turns, so none fails on the other's CREATE PUBLICATION (a duplicate name) or
// its CREATE OR REPLACE FUNCTION ("tuple concurrently updated"), and each reads, after the
// lock, what the one before it committed.
Status Create(PgConn& c, const DbScope& scope, bool convert) {
  HASYNC_RETURN_IF_ERROR(c.Run("BEGIN"));
  HASYNC_RETURN_IF_ERROR(c.Run("SELECT pg_advisory_xact_lock(hashtext('hasync.publications'))"));
  if (convert) HASYNC_RETURN_IF_ERROR(c.Run(std::string("DROP PUBLICATION ") + kPublication));
  HASYNC_RETURN_IF_ERROR(EnsureOne(c, kPublication, kAllActions));
  HASYNC_RETURN_IF_ERROR(EnsureOne(c, kKeylessPublication, kInsertActions));
  const std::string head =
      " LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $hasync$";
  HASYNC_RETURN_IF_ERROR(
      c.Run("CREATE SCHEMA IF NOT EXISTS hasync; GRANT USAGE ON SCHEMA hasync TO PUBLIC; "
            "CREATE OR REPLACE FUNCTION hasync.move_publications(promote boolean) RETURNS void" +
            head + MoveBody(c, scope, "promote") +
            "$hasync$; CREATE OR REPLACE FUNCTION hasync.publications_ddl() RETURNS event_trigger" +
            head +
            MoveBody(c, scope, "false",
                     std::string("IF tg_tag = 'REFRESH MATERIALIZED VIEW' THEN FOR r IN SELECT "
                                 "objid FROM pg_event_trigger_ddl_commands() LOOP PERFORM "
                                 "pg_logical_emit_message(true, '") +
                         kRefreshPrefix + "', r.objid::text); END LOOP; RETURN; END IF; ") +
            "$hasync$; DROP EVENT TRIGGER IF EXISTS " + kEventTrigger + "; " + CreateTriggerSql()));
  HASYNC_RETURN_IF_ERROR(c.Run("SELECT hasync.move_publications(true)"));
  return c.Run("COMMIT");
}

}  // namespace

Result<TableSet> TablesOutsidePublication(PgConn& c, const std::vector<TableInfo>& tables) {
  HASYNC_ASSIGN_OR_RETURN(
      PgResult r,
      c.ExecParams("SELECT n.nspname || '.' || c.relname FROM pg_publication p JOIN "
                   "pg_publication_rel pr ON pr.prpubid = p.oid JOIN pg_class c ON c.oid = "
                   "pr.prrelid JOIN pg_namespace n ON n.oid = c.relnamespace WHERE p.pubname = $1",
                   {std::string(kPublication)}));
  TableSet in;
  for (int i = 0; i < r.rows(); ++i) in.insert(r.Get(i, 0));
  TableSet out;
  for (const auto& t : tables) {
    if (t.unlogged || t.data_excluded || in.count(t.Qualified())) continue;
    out.insert(t.Qualified());
  }
  return out;
}

Result<PublicationState> EnsurePublications(PgConn& c, const DbScope& scope) {
  auto log = Log("database");
  bool all_tables = false;
  HASYNC_ASSIGN_OR_RETURN(std::string have, Actions(c, kPublication, all_tables));
  HASYNC_ASSIGN_OR_RETURN(bool super, Superuser(c));
  HASYNC_ASSIGN_OR_RETURN(auto tables, ListTables(c, scope));
  PublicationState state;
  if (!all_tables) {
    HASYNC_ASSIGN_OR_RETURN(state.outside, TablesOutsidePublication(c, tables));
  }
  if (super) {
    if (all_tables) {
      log->warn(
          "converting publication hasync from FOR ALL TABLES (the previous version's) to "
          "{} and {} kept by the event trigger {}: a table without a replica identity no "
          "longer makes the application's updates and deletes fail",
          kPublication, kKeylessPublication, kEventTrigger);
    }
    Status st = Create(c, scope, all_tables);
    if (!st.ok()) {
      (void)c.Run("ROLLBACK");
      return st.Context("creating hasync's publications and event trigger on the Primary");
    }
    return state;
  }
  const std::string fix =
      ": the event trigger that keeps hasync's publications right at each DDL (so that no "
      "application write fails) needs a superuser once: run one sync from this server with "
      "[database] conninfo's role a superuser (ALTER ROLE ... SUPERUSER, NOSUPERUSER after), "
      "or connect as one (docs/operating.md, \"Roles\")";
  if (all_tables) {
    log->warn("publication hasync is FOR ALL TABLES and this role is no superuser{}", fix);
    state.legacy = true;
    return state;
  }
  HASYNC_ASSIGN_OR_RETURN(bool set_up, SetUp(c));
  if (!set_up) {
    return Status(Code::kConfig, "on the Primary, hasync's publications or its event trigger " +
                                     std::string(kEventTrigger) + " are missing" + fix);
  }
  HASYNC_RETURN_IF_ERROR(c.Run("SELECT hasync.move_publications(true)"));
  return state;
}

}  // namespace hasync::snapshot
