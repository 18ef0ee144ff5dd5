// A database's schema as a list of objects with a digest each, read from its catalog in one
// pass: what each sync compares between the two sides to find the tables, sequences, types and
// functions that were added, dropped or altered on the Primary since the last sync (or changed
// on the Secondary behind hasync's back). Owners, privileges, OIDs and storage never enter a
// digest, so the Primary's objects and the Secondary's copies of them (owned by its apply role)
// digest equally.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "common/status.h"
#include "snapshot/db_catalog.h"
#include "snapshot/pg.h"

namespace hasync::snapshot {

// The order is the wire's (engine/FORMAT.md) and the order objects are created in.
enum class ObjectKind : uint8_t {
  kSchema = 0,
  kExtension = 1,
  kType = 2,      // enum, domain, composite, range
  kFunction = 3,  // name: "f(identity arguments)"
  kSequence = 4,
  kTable = 5,  // regular and partitioned tables
  kView = 6,   // views and materialized views
};
constexpr uint8_t kMaxObjectKind = 6;
const char* ObjectKindName(ObjectKind k);

// SchemaObject::flags
constexpr uint8_t kObjectInherits = 1;  // a table that is partitioned, a partition, or inherits
// A table that other objects depend on (views, SQL-standard function bodies, other tables'
// columns of its row type, policies; not foreign keys), or a view that other views read.
constexpr uint8_t kObjectHasViews = 2;
constexpr uint8_t kObjectEnum = 4;           // a type that is an enum (labels set)
constexpr uint8_t kObjectDefinable = 8;      // a function or procedure (pg_get_functiondef works)
constexpr uint8_t kObjectMaterialized = 16;  // a materialized view
constexpr uint8_t kMaxObjectFlags = 31;

struct SchemaObject {
  ObjectKind kind = ObjectKind::kTable;
  std::string schema;  // a schema's own entry: its name here, name empty
  std::string name;
  std::string digest;  // md5 of the object's definition, as the catalog prints it
  uint8_t flags = 0;
  std::string owner;                // a sequence owned by a column: that table, "schema.table"
  std::vector<std::string> labels;  // an enum's labels in their order
  std::string token;                // a table's kTableToken: read locally, never sent
  std::string Qualified() const { return name.empty() ? schema : schema + "." + name; }
  bool operator==(const SchemaObject&) const = default;
};

// Every object in scope, sorted by kind, schema and name; extensions' members and hasync's own
// schema left out. Reads with search_path set to pg_catalog alone (restored after), so every
// name the catalog prints is qualified the same way on both sides.
Result<std::vector<SchemaObject>> ReadSchemaObjects(PgConn& c, const DbScope& scope);

// Runs f (returning Status or Result) with the session's search_path set to pg_catalog alone,
// restoring the session's own after: pg_get_*def and format_type then qualify every name.
template <typename F>
auto WithCatalogSearchPath(PgConn& c, F f) -> decltype(f()) {
  HASYNC_ASSIGN_OR_RETURN(PgResult old, c.Exec("SELECT pg_catalog.current_setting('search_path')"));
  HASYNC_RETURN_IF_ERROR(
      c.Exec("SELECT pg_catalog.set_config('search_path', 'pg_catalog', false)").status());
  auto out = f();
  Status restore =
      c.ExecParams("SELECT pg_catalog.set_config('search_path', $1, false)", {old.Get(0, 0)})
          .status();
  if (out.ok()) HASYNC_RETURN_IF_ERROR(restore);
  return out;
}

// CREATE OR REPLACE FUNCTION statements (pg_get_functiondef) for the functions named as
// SchemaObject::name in `schema`, in the order asked. kDatabase when one is missing.
Result<std::vector<std::string>> FunctionDefinitions(
    PgConn& c, const std::vector<std::pair<std::string, std::string>>& functions);

}  // namespace hasync::snapshot
