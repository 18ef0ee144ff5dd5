// What of a database is replicated, read from its catalog: the tables in scope with their column
// lists and a description that serves as the schema fingerprint, and the sequences' values.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "common/status.h"
#include "snapshot/pg.h"

namespace hasync::snapshot {

// hasync's own bookkeeping schema: never replicated, never dropped.
constexpr char kStateSchema[] = "hasync";

struct DbScope {
  std::vector<std::string> include_schemas;  // empty: all
  std::vector<std::string> exclude_schemas;
  std::vector<std::string> exclude_tables;  // "schema.table": the table, not its rows
};
// Not a system schema, not hasync's, and allowed by the lists.
bool SchemaInScope(const DbScope& scope, const std::string& schema);
// The table's rows are replicated: its schema is in scope and it is not in exclude_tables.
bool TableDataInScope(const DbScope& scope, const std::string& schema, const std::string& name);

// A table's identity and shape as the catalog keeps them, over pg_class c: its OID, file node
// (a rewrite, TRUNCATE, VACUUM FULL), its pg_class row's and its columns' row versions (almost
// any ALTER TABLE, a column renamed, dropped or added, even back to the same definition).
// Equal tokens at two syncs: no DDL touched the table in between (ANALYZE and VACUUM update in
// place and keep it). md5, so it is short whatever the columns.
constexpr char kTableToken[] =
    "c.oid::text || '/' || md5(concat_ws('/', c.relfilenode, c.xmin, (SELECT string_agg(a.attnum "
    "|| ':' || a.xmin, ',' ORDER BY a.attnum) FROM pg_catalog.pg_attribute a WHERE a.attrelid = "
    "c.oid AND a.attnum > 0)))";

struct TableInfo {
  std::string schema;
  std::string name;
  std::vector<std::string> columns;  // stored (not generated) columns, in order
  // "id bigint not null, name text, ...; key (id)": equal descriptions, compatible tables.
  std::string description;
  uint64_t pages = 0;
  std::string token;  // kTableToken: changes with any DDL that touched the table
  char replident = 'd';
  bool has_key = false;  // a primary key or a replica identity index
  // Updates and deletes can be published: REPLICA IDENTITY FULL, DEFAULT with a primary key, or
  // USING INDEX with that index (as PostgreSQL checks each UPDATE and DELETE).
  bool identity = false;
  bool unlogged = false;
  bool data_excluded = false;  // in exclude_tables: created on the Secondary, never filled
  std::string Qualified() const { return schema + "." + name; }
};

// Regular tables and partitions in scope (not partitioned parents, not extension members),
// sorted by schema and name.
Result<std::vector<TableInfo>> ListTables(PgConn& c, const DbScope& scope);

// Tables whose updates and deletes cannot be published (!identity), logged and with their rows
// in scope. Empty when all can.
std::vector<std::string> TablesWithoutIdentity(const std::vector<TableInfo>& tables);

struct SequenceValue {
  std::string schema;
  std::string name;
  bool called = false;  // false: nextval returns `value` itself
  std::string value;    // last_value, or start_value when never called
};
Result<std::vector<SequenceValue>> ReadSequences(PgConn& c, const DbScope& scope);

// The schemas in scope that exist in this database.
Result<std::vector<std::string>> ListSchemas(PgConn& c, const DbScope& scope);

}  // namespace hasync::snapshot
