// The catalog queries behind the database's scope. Tables are read one row per column (names
// may hold any character, so no list is split again), filtered to user schemas and away from
// extension members, in a fixed order, so both sides describe equal tables equally.
#include "snapshot/db_catalog.h"

#include <algorithm>

namespace hasync::snapshot {
namespace {

// Filters every query shares: user schemas only.
constexpr char kUserSchema[] =
    "n.nspname NOT IN ('pg_catalog', 'information_schema', 'pg_toast') "
    "AND n.nspname NOT LIKE 'pg\\_temp\\_%' AND n.nspname NOT LIKE 'pg\\_toast\\_temp\\_%'";
}  // namespace

bool SchemaInScope(const DbScope& scope, const std::string& schema) {
  if (schema == kStateSchema || schema == "pg_catalog" || schema == "information_schema" ||
      schema.rfind("pg_", 0) == 0) {
    return false;
  }
  auto has = [&schema](const std::vector<std::string>& v) {
    return std::find(v.begin(), v.end(), schema) != v.end();
  };
  if (!scope.include_schemas.empty() && !has(scope.include_schemas)) return false;
  return !has(scope.exclude_schemas);
}

bool TableDataInScope(const DbScope& scope, const std::string& schema, const std::string& name) {
  if (!SchemaInScope(scope, schema)) return false;
  std::string q = schema + "." + name;
  return std::find(scope.exclude_tables.begin(), scope.exclude_tables.end(), q) ==
         scope.exclude_tables.end();
}

Result<std::vector<TableInfo>> ListTables(PgConn& c, const DbScope& scope) {
  // One row per column: names may hold any character, so no aggregated strings to split.
  HASYNC_ASSIGN_OR_RETURN(
      PgResult r,
      c.Exec(
          std::string("SELECT n.nspname, c.relname, c.relpages, c.relreplident, c.relpersistence, "
                      "EXISTS (SELECT 1 FROM pg_index i WHERE i.indrelid = c.oid AND "
                      "  (i.indisprimary OR (c.relreplident = 'i' AND i.indisreplident))), "
                      "a.attname, format_type(a.atttypid, a.atttypmod), a.attnotnull, "
                      "coalesce((SELECT string_agg(k.attname, ', ' ORDER BY k.attnum) "
                      "  FROM pg_index i JOIN pg_attribute k ON k.attrelid = i.indrelid "
                      "  AND k.attnum = ANY (i.indkey) WHERE i.indrelid = c.oid AND "
                      "  (i.indisprimary OR (c.relreplident = 'i' AND i.indisreplident))), ''), "
                      "c.relreplident = 'f' OR (c.relreplident = 'd' AND EXISTS (SELECT 1 FROM "
                      "  pg_index i WHERE i.indrelid = c.oid AND i.indisprimary)) OR "
                      "  (c.relreplident = 'i' AND EXISTS (SELECT 1 FROM pg_index i WHERE "
                      "  i.indrelid = c.oid AND i.indisreplident)), ") +
          kTableToken +
          std::string(" "
                      "FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
                      "JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 "
                      "  AND NOT a.attisdropped AND a.attgenerated = '' "
                      "WHERE c.relkind = 'r' AND ") +
          kUserSchema +
          " AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = "
          "'pg_class'::regclass AND d.objid = c.oid AND d.deptype = 'e') "
          "ORDER BY n.nspname, c.relname, a.attnum"));
  std::vector<TableInfo> out;
  std::string key_desc;
  auto finish = [&] {
    if (!out.empty()) out.back().description += "; key (" + key_desc + ")";
  };
  for (int i = 0; i < r.rows(); ++i) {
    std::string schema = r.Get(i, 0);
    if (!SchemaInScope(scope, schema)) continue;
    std::string name = r.Get(i, 1);
    if (out.empty() || out.back().schema != schema || out.back().name != name) {
      finish();
      TableInfo t;
      t.schema = schema;
      t.name = name;
      t.pages = std::stoull(r.Get(i, 2));
      t.replident = r.View(i, 3).empty() ? 'd' : r.View(i, 3)[0];
      t.unlogged = r.View(i, 4) == "u";
      t.has_key = r.View(i, 5) == "t";
      t.data_excluded = !TableDataInScope(scope, schema, name);
      t.identity = r.View(i, 10) == "t";
      t.token = r.Get(i, 11);
      key_desc = r.Get(i, 9);
      out.push_back(std::move(t));
    }
    TableInfo& t = out.back();
    std::string col = r.Get(i, 6);
    t.description += (t.columns.empty() ? "" : ", ") + col + " " + r.Get(i, 7) +
                     (r.View(i, 8) == "t" ? " not null" : "");
    t.columns.push_back(std::move(col));
  }
  finish();
  return out;
}

std::vector<std::string> TablesWithoutIdentity(const std::vector<TableInfo>& tables) {
  std::vector<std::string> out;
  for (const auto& t : tables) {
    if (t.unlogged || t.data_excluded) continue;  // never decoded
    if (!t.identity) out.push_back(t.Qualified());
  }
  return out;
}

Result<std::vector<SequenceValue>> ReadSequences(PgConn& c, const DbScope& scope) {
  HASYNC_ASSIGN_OR_RETURN(PgResult r,
                          c.Exec("SELECT schemaname, sequencename, last_value IS NOT NULL, "
                                 "coalesce(last_value, start_value) FROM pg_sequences "
                                 "ORDER BY 1, 2"));
  std::vector<SequenceValue> out;
  for (int i = 0; i < r.rows(); ++i) {
    SequenceValue v{.schema = r.Get(i, 0),
                    .name = r.Get(i, 1),
                    .called = r.View(i, 2) == "t",
                    .value = r.Get(i, 3)};
    if (SchemaInScope(scope, v.schema)) out.push_back(std::move(v));
  }
  return out;
}

Result<std::vector<std::string>> ListSchemas(PgConn& c, const DbScope& scope) {
  HASYNC_ASSIGN_OR_RETURN(
      PgResult r, c.Exec(std::string("SELECT n.nspname FROM pg_namespace n WHERE ") + kUserSchema +
                         " ORDER BY 1"));
  std::vector<std::string> out;
  for (int i = 0; i < r.rows(); ++i) {
    std::string s = r.Get(i, 0);
    if (SchemaInScope(scope, s)) out.push_back(std::move(s));
  }
  return out;
}

}  // namespace hasync::snapshot
