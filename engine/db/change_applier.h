// The Secondary's incremental apply: the Primary's change records (db_protocol.h's stream)
// applied in order inside the sync's transaction. Row changes go through ChangeBatcher's runs
// and change_sql.h's statements, sent through ApplyPipeline (runs of inserts as COPY, outside
// it); relations are checked against this node's scope and its column types looked up; commits
// are counted. Nothing here commits: db_apply.h's transaction does.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "common/status.h"
#include "engine/db/apply_pipeline.h"
#include "engine/db/change_batcher.h"
#include "engine/wire/db_protocol.h"
#include "snapshot/db_catalog.h"
#include "snapshot/pg.h"

namespace hasync::engine {

// Not thread-safe; borrows the connection and the scope, which must outlive it.
class ChangeApplier {
 public:
  ChangeApplier(snapshot::PgConn& conn, const snapshot::DbScope& scope)
      : conn_(conn), scope_(scope), pipeline_(conn) {}

  // Before the first change: as PostgreSQL's own apply worker, no user triggers and no
  // re-checked foreign keys (the Primary checked them).
  // REQUIRES: in the sync's transaction.
  Status Begin();
  // One database-changes frame: every record it completes is applied, and waited for.
  Status Apply(std::span<const std::byte> payload);
  // Applies the pending run and leaves pipeline mode: before a COPY, sequences, database end or
  // the commit.
  Status Finish();

  bool mid_record() const { return !reader_.empty(); }  // the frames ended inside a record
  bool pipeline_on() const { return pipeline_.on(); }
  uint64_t transactions() const { return transactions_; }  // commit records applied
  uint64_t changes() const { return changes_; }            // row changes and truncates

 private:
  Status ApplyRecord(snapshot::PgMessage m);
  Status Describe(const snapshot::PgRelation& rel);
  Status Truncate(const snapshot::PgMessage& m);
  Status Run(const std::vector<ChangeBatch>& batches);
  Status Run(const ChangeBatch& b);
  Status CopyRun(const ApplyRelation& r, const ChangeBatch& b);
  // This node's types of rel's columns; kSchema for a column it lacks.
  Result<std::vector<std::string>> ColumnTypes(const ApplyRelation& r,
                                               const snapshot::PgRelation& rel);

  snapshot::PgConn& conn_;
  const snapshot::DbScope& scope_;
  ChangeReader reader_;
  ChangeBatcher batcher_;
  ApplyPipeline pipeline_;
  uint64_t transactions_ = 0;
  uint64_t changes_ = 0;
};

}  // namespace hasync::engine
