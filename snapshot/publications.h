// hasync's publications on the Primary, kept right at the moment of each DDL so that they never
// make an application write fail. PostgreSQL refuses an UPDATE or DELETE on a table that a
// publication publishing updates and deletes holds unless the table has a usable replica
// identity, and it checks at each statement: so `hasync` (insert, update, delete, truncate)
// lists only the tables in scope with one, `hasync_keyless` (insert, truncate) the others, and
// an event trigger (ddl_command_end, SECURITY DEFINER) moves a table that lost its identity out
// of `hasync` inside the DDL's own transaction. A table that gained one moves back only at a
// sync (MovePublications), which then copies it whole at the sync's pinned point: its updates
// and deletes before the move were never published.
#pragma once

#include <set>
#include <string>
#include <utility>

#include "common/status.h"
#include "snapshot/db_catalog.h"
#include "snapshot/pg.h"

namespace hasync::snapshot {

// The publication every hasync slot decodes through: the tables in scope whose updates and
// deletes can be published.
constexpr char kPublication[] = "hasync";
// Inserts and truncates of the tables in scope without a usable replica identity.
constexpr char kKeylessPublication[] = "hasync_keyless";
// The event trigger that keeps the two right; pg_dump writes it, the Secondary skips it.
constexpr char kEventTrigger[] = "hasync_publications";

// "schema.table" of each table.
using TableSet = std::set<std::string>;

struct PublicationState {
  // FOR ALL TABLES (the previous version's publication, left so because this role could not
  // convert it): keyless tables stay refused.
  bool legacy = false;
  // The tables in scope that were not in `hasync` before this sync moved them: their updates and
  // deletes since the last sync may not be in the stream, so they are copied whole.
  TableSet outside;
};

// Creates or converts the publications, the membership function and the event trigger, then
// moves every table in scope to where it belongs, in one transaction. A FOR ALL TABLES
// publication `hasync` (the previous version's) is converted (said in the log). kConfig naming
// the fix when this role may not create the event trigger (superuser only).
// REQUIRES: before the slot is created (decoding looks the publication up as of each change).
Result<PublicationState> EnsurePublications(PgConn& c, const DbScope& scope);

// The tables among `tables` (logged, rows replicated) that `hasync` does not hold as c's
// snapshot sees it (read from pg_publication_rel with SQL: pg_publication_tables reads the
// catalog as of now, not as of an imported snapshot).
Result<TableSet> TablesOutsidePublication(PgConn& c, const std::vector<TableInfo>& tables);

}  // namespace hasync::snapshot
