// What an incremental sync does about the differences between the Primary's schema and the
// Secondary's (snapshot::ReadSchemaObjects on each side), decided from the two lists alone. Pure,
// so each rule is tested without PostgreSQL.
//
// Carried object by object, inside the sync's one transaction (enum labels excepted):
// - tables added, dropped or altered (columns, types, defaults, keys, constraints, indexes,
//   triggers, replica identity, policies): dropped on the Secondary, created from the Primary's
//   definition (pg_dump --table in the sync's pinned snapshot) and copied whole at the pinned
//   point; their changes in the stream are left out. A rename is a drop and an add.
// - sequences added or dropped (and those that go with a table re-created);
// - plain views added, dropped or altered that nothing else reads;
// - functions and procedures added or altered (CREATE OR REPLACE from pg_get_functiondef) or
//   dropped; schemas added or dropped; enum types added or dropped;
// - enum labels added (anywhere in the order): ALTER TYPE ... ADD VALUE in its own transaction
//   before the sync's, since PostgreSQL refuses a label in the transaction that adds it. Adding
//   a label changes no row, so a sync that then fails leaves the Secondary consistent.
// Anything else (extensions, other types, partitioned or inheriting tables, tables or views that
// views read, materialized views, aggregates, a sequence's parameters, enum labels renamed or
// removed) is a full copy, with the reason naming the first such object.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "engine/wire/db_protocol.h"
#include "snapshot/schema_catalog.h"

namespace hasync::engine {

struct SchemaPlan {
  std::string full_copy;              // non-empty: why the sync must copy the database whole
  std::vector<SchemaChange> changes;  // sorted by kind, schema and name
  bool empty() const { return full_copy.empty() && changes.empty(); }
};

// remembered: the Primary's tables with their tokens (snapshot::kTableToken) as the Secondary
// last committed them (DbRequest::primary_tables); a table alike on both sides whose token
// changed since was touched by a DDL on the Primary that its definition does not show (dropped
// and created again, rewritten by ALTER ... TYPE ... USING, a column dropped and added back,
// renamed and back, truncated): kRecreated, copied whole.
SchemaPlan PlanSchemaChanges(const std::vector<snapshot::SchemaObject>& primary,
                             const std::vector<snapshot::SchemaObject>& secondary,
                             const std::vector<DbTableDesc>& remembered = {});

// "added", "dropped", "altered", "re-created".
const char* SchemaActionWord(SchemaAction a);

// "table public.devices altered, copied whole": the words history, the log and --json use.
// rows_copied: false for a table whose rows are not replicated (exclude_tables).
std::string DescribeChange(const SchemaChange& c, bool rows_copied = true);

// The tables a sync re-creates and copies whole (added or altered), and those whose changes in
// the stream it leaves out (those and the dropped ones), "schema.table".
std::vector<std::string> TablesToCopy(const std::vector<SchemaChange>& changes);
std::vector<std::string> TablesLeftOutOfTheStream(const std::vector<SchemaChange>& changes);

// For pg_dump --table: the tables, sequences and views the Primary's definitions are dumped for.
std::vector<std::pair<std::string, std::string>> ObjectsToDump(
    const std::vector<SchemaChange>& changes);

// The labels of `want` (the Primary's) that `have` (the Secondary's) lacks, each with the label
// it goes after ("" first: before have's first label), in want's order; nullopt when `have` is
// not a subsequence of `want` (a label renamed, removed or moved).
struct LabelToAdd {
  std::string label;
  std::string after;   // "": before `before`
  std::string before;  // set only when after is ""
};
std::optional<std::vector<LabelToAdd>> LabelsToAdd(const std::vector<std::string>& have,
                                                   const std::vector<std::string>& want);

}  // namespace hasync::engine
