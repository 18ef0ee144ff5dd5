// The schema of a full copy: pg_dump's pre-data (tables, types, functions) and post-data
// (indexes, constraints, triggers, and the refresh of each materialized view populated on the
// Primary, in dependency order) sections, both read in an exported snapshot and run at once in
// the background while the copy starts. pg_dump, not hasync, knows how to write every object a
// PostgreSQL version has; its plain script goes to the Secondary's server as SQL.
#pragma once

#include <future>
#include <string>
#include <vector>

#include "common/status.h"
#include "snapshot/db_catalog.h"

namespace hasync::snapshot {

struct SchemaDumpOptions {
  std::string pg_dump;           // the program (PgDumpPath, or [database] pg_dump)
  std::string snapshot;          // the exported snapshot both sections read
  DbScope scope;                 // --schema / --exclude-schema
  std::vector<std::string> env;  // the connection's settings (ConninfoEnvironment)
  // Only these tables, sequences and views (schema, name): pg_dump --table, each exactly (with
  // --strict-names: one that is missing fails the dump). Empty: the whole schema in scope.
  std::vector<std::pair<std::string, std::string>> objects;
};

// pg_dump's --table pattern matching exactly schema.name: both quoted, quotes doubled.
std::string ExactPattern(const std::string& schema, const std::string& name);

struct SchemaScripts {
  std::string pre_data;
  std::string post_data;
};

// Move-only. Destroying it before Wait() waits for both pg_dump runs.
class SchemaDump {
 public:
  // Starts both sections. REQUIRES: the snapshot stays exported until Wait() returns.
  static SchemaDump Start(const SchemaDumpOptions& options);

  // Both scripts, meta-commands stripped; the pre-data section's failure first. Once only.
  Result<SchemaScripts> Wait();

 private:
  SchemaDump(std::future<Result<std::string>> pre, std::future<Result<std::string>> post)
      : pre_(std::move(pre)), post_(std::move(post)) {}

  std::future<Result<std::string>> pre_;
  std::future<Result<std::string>> post_;
};

// pg_dump's plain output may carry psql's \restrict and \unrestrict lines (PostgreSQL 15.14 and
// later); they guard psql, not the server, and are dropped. Any other meta-command is refused
// (kDatabase): the script goes to the server as SQL.
Result<std::string> StripMetaCommands(const std::string& script);

}  // namespace hasync::snapshot
