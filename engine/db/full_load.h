// What the Secondary loads whole, inside the sync's transaction: a full copy (its replicated
// schemas dropped, the Primary's pre-data script, every table through binary COPY with its row
// count checked, sequences, the post-data script, and at the end the check that the copy made
// exactly the Primary's tables), and within an incremental sync the unlogged tables, the
// repaired key ranges and the sequences. CompareSchemas is the fingerprint check both kinds use.
#pragma once

#include <chrono>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "common/status.h"
#include "engine/db/schema_script.h"
#include "engine/wire/db_protocol.h"
#include "snapshot/db_catalog.h"
#include "snapshot/pg.h"

namespace hasync::engine {

struct FullLoadOptions {
  // A full copy: tables are created in this transaction, so COPY may write their rows frozen.
  bool full = false;
};

// Not thread-safe; borrows the connection and the scope, which must outlive it. One per sync.
// REQUIRES for every method: the sync's transaction is open and no pipeline is (the change
// applier has finished).
class FullLoad {
 public:
  FullLoad(snapshot::PgConn& conn, const snapshot::DbScope& scope, const FullLoadOptions& options)
      : conn_(conn), scope_(scope), options_(options) {}

  // A full copy's start: drops every schema in scope (CASCADE), re-creates public as initdb
  // makes it, and gives index builds more memory.
  Status Begin();
  // A piece of a schema script; the whole section runs when its last piece arrives, if every
  // statement passes CheckSchemaScript (schema_script.h) and every extension it creates is here
  // already (left alone) or the apply role may create it (else kConfig naming it, with the fix).
  Status AddSql(const DbSql& m);
  bool sql_pending() const { return !sql_[0].empty() || !sql_[1].empty(); }

  // Table copy begin: checks the scope, empties the table or deletes the repaired key range
  // when asked, starts COPY FROM STDIN.
  Status BeginCopy(const DbCopyBegin& m);
  Status CopyData(std::span<const std::byte> data);
  // Ends the COPY; kProtocol unless the rows loaded are the rows the Primary sent.
  Status EndCopy(const DbCopyEnd& m);
  bool copying() const { return copying_; }
  uint64_t rows() const { return rows_; }  // rows loaded by every copy so far

  // Sets each sequence (in scope) to the Primary's value.
  Status SetSequences(const std::vector<DbSequence>& seqs);

 private:
  Status DeleteRange(const std::string& qname, const DbRange& r);
  Status ResolveExtensions(std::vector<ScriptStatement>& statements);

  snapshot::PgConn& conn_;
  const snapshot::DbScope& scope_;
  FullLoadOptions options_;
  std::string sql_[2];  // by DbSection
  bool copying_ = false;
  std::string copy_table_;  // schema.table
  std::chrono::steady_clock::time_point copy_start_;
  uint64_t rows_ = 0;
};

// kSchema naming the first table that differs between theirs (the Primary's, per `who`) and this
// node's tables in scope: missing on either side, or with another description.
Status CompareSchemas(snapshot::PgConn& conn, const snapshot::DbScope& scope,
                      const std::vector<DbTableDesc>& theirs, const char* who);

}  // namespace hasync::engine
