// The Secondary's half of an incremental sync that carries schema changes (schema_plan.h): what
// it does itself, from its own catalog, around the Primary's definitions (the pre-data script
// after Prepare, the post-data script after the copies). Only names the Secondary described in
// its own request are dropped: a Primary cannot make it drop anything else.
#pragma once

#include <string>
#include <vector>

#include "common/status.h"
#include "engine/wire/db_protocol.h"
#include "snapshot/db_catalog.h"
#include "snapshot/pg.h"
#include "snapshot/schema_catalog.h"

namespace hasync::engine {

// Not thread-safe; borrows the connection and scope. One per sync.
class SchemaApply {
 public:
  SchemaApply(snapshot::PgConn& conn, const snapshot::DbScope& scope)
      : conn_(conn), scope_(scope) {}

  // This node's schema, read for the request; the changes are checked against it.
  Status Describe();
  const std::vector<snapshot::SchemaObject>& mine() const { return mine_; }

  // Before the sync's transaction, in transactions of their own: the enum labels the changes
  // add. kSchema when an enum here is not a subsequence of the Primary's (changed meanwhile).
  Status AddLabels(const std::vector<SchemaChange>& changes);
  // In the sync's transaction, before the Primary's pre-data script: remembers the foreign keys
  // of other tables that reference a table about to go, drops what the changes drop or
  // re-create (views, tables, sequences, routines, types, schemas, in that order), creates the
  // schemas and enum types they add. kProtocol for a change naming what this node lacks.
  Status Prepare(const std::vector<SchemaChange>& changes);
  // After the post-data script: restores the remembered foreign keys, then checks that every
  // object here now digests as the Primary's (kSchema naming the first that does not).
  Status Finish(const std::vector<SchemaChange>& changes);

 private:
  const snapshot::SchemaObject* Find(const SchemaChange& c) const;
  Status Drop(const SchemaChange& c);

  snapshot::PgConn& conn_;
  const snapshot::DbScope& scope_;
  std::vector<snapshot::SchemaObject> mine_;
  std::vector<std::string> foreign_keys_;  // ALTER TABLE ... ADD CONSTRAINT statements
};

}  // namespace hasync::engine
