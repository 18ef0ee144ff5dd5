// The SQL the Secondary runs for each batch of changes (change_batcher.h), as text and
// parameters, built without PostgreSQL so the statements are tested on their own. Values travel
// as text parameters, never spliced into SQL: the Primary's output functions wrote them and this
// node's input functions read them back.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "common/status.h"
#include "engine/db/change_batcher.h"
#include "snapshot/pgoutput.h"

namespace hasync::engine {

struct ApplyStatement {
  enum class Kind : uint8_t {
    kPrepared,  // prepared once per distinct text, then run with each change's values
    kParams,    // sent with its parameters, unprepared: a VALUES list's text varies with its length
  };
  Kind kind = Kind::kPrepared;
  std::string sql;
  // Text values, nullptr for NULL. They point into the changes the statement was built from,
  // which must stay where they are (not moved or destroyed) while the statement is used.
  std::vector<const char*> params;
  int64_t rows = -1;  // rows it must change (-1: any): fewer means this node differs
  std::string what;   // for messages: "an update of public.devices (key 7)"
};

// A kRow batch's change as INSERT, UPDATE or DELETE (a prepared statement with one row to change
// for updates and deletes); nullopt when an update sets nothing (every value unchanged).
// kProtocol for a change that does not fit the relation (column count, missing values or key).
Result<std::optional<ApplyStatement>> RowStatement(const ApplyRelation& r,
                                                   const snapshot::PgMessage& m);

// A kValues batch: UPDATE ... FROM (VALUES ...) or DELETE ... USING (VALUES ...), joined on the
// key, which must change exactly as many rows as the batch has; nullopt when the updates set key
// columns only (the key is unchanged, so they change nothing).
// REQUIRES: b came from ChangeBatcher (one table, plain keys, full tuples).
std::optional<ApplyStatement> ValuesStatement(const ApplyRelation& r, const ChangeBatch& b);

// A kCopy batch's statement: COPY in text format (the values are text already).
std::string CopyInSql(const ApplyRelation& r);
// One line of COPY's text format: values tab-separated, \N for NULL, backslash, newline,
// carriage return and tab escaped, ending in a newline.
std::string CopyTextRow(const snapshot::PgTuple& t);

// TRUNCATE ONLY of the quoted names, with pgoutput's options (bit 0 CASCADE, bit 1 RESTART
// IDENTITY).
std::string TruncateSql(const std::vector<std::string>& qnames, uint8_t options);

}  // namespace hasync::engine
