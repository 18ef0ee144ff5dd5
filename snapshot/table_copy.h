// A table's rows as PostgreSQL's binary COPY format, read with COPY ... TO STDOUT: the statement
// for a whole table or for one key range of it (a repair), and the bytes it produces handed on in
// fixed-size pieces. The Secondary feeds the pieces to COPY ... FROM STDIN as one byte stream, so
// a piece may end anywhere, inside a row too.
#pragma once

#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <vector>

#include "common/status.h"
#include "snapshot/db_catalog.h"
#include "snapshot/pg.h"

namespace hasync::snapshot {

// "COPY s.t (a, b) TO STDOUT (FORMAT binary)": the stored columns, in order.
std::string CopyTableSql(const PgConn& c, const TableInfo& t);
// The same for the rows matching `where`, of the table only (not of tables inheriting from it).
std::string CopyRowsSql(const PgConn& c, const TableInfo& t, const std::string& where);

struct KeyColumn {
  std::string name;
  std::string type;  // format_type: "bigint", "character varying(20)"
};
// The columns of the primary key of `qualified` (a quoted name), in no particular order; empty
// when it has none.
Result<std::vector<KeyColumn>> PrimaryKeyColumns(PgConn& c, const std::string& qualified);

struct CopyOutOptions {
  std::string table;             // for messages: "schema.table"
  size_t piece_bytes = 1 << 20;  // every piece but the last is this long
};
using CopyPieceSink = std::function<Status(std::span<const std::byte>)>;

// Runs `copy` (a COPY ... TO STDOUT) on c and hands its output to sink in order, in pieces of
// exactly piece_bytes but the last. Returns the rows copied; the first failing sink call's
// Status, or kDatabase naming the table.
// REQUIRES: c is idle (no statement in progress).
Result<uint64_t> CopyOut(PgConn& c, const std::string& copy, const CopyOutOptions& options,
                         const CopyPieceSink& sink);

}  // namespace hasync::snapshot
