// COPY out through libpq: PQgetCopyData returns one row at a time; rows are gathered into pieces
// of a fixed size, so the frames on the wire are full whatever the row sizes, and a row larger
// than a piece is cut across several.
#include "snapshot/table_copy.h"

#include <libpq-fe.h>

#include <algorithm>
#include <memory>

namespace hasync::snapshot {
namespace {

std::string ColumnList(const PgConn& c, const TableInfo& t) {
  std::string cols;
  for (const auto& col : t.columns) cols += (cols.empty() ? "" : ", ") + c.QuoteIdent(col);
  return cols;
}

// The COPY's command status once its data is read; the rows it copied.
Result<uint64_t> FinishCopyOut(PgConn& c, const std::string& table) {
  PgResult r(PQgetResult(c.raw()));
  if (PQresultStatus(r.raw()) != PGRES_COMMAND_OK) {
    return PgError(c, "copying " + table, r.raw());
  }
  while (PgResult(PQgetResult(c.raw())).raw() != nullptr) {
  }
  return std::stoull(r.CmdTuples().empty() ? "0" : r.CmdTuples());
}

}  // namespace

std::string CopyTableSql(const PgConn& c, const TableInfo& t) {
  return "COPY " + c.QuoteIdent(t.schema) + "." + c.QuoteIdent(t.name) + " (" + ColumnList(c, t) +
         ") TO STDOUT (FORMAT binary)";
}

std::string CopyRowsSql(const PgConn& c, const TableInfo& t, const std::string& where) {
  return "COPY (SELECT " + ColumnList(c, t) + " FROM ONLY " + c.QuoteIdent(t.schema) + "." +
         c.QuoteIdent(t.name) + " WHERE " + where + ") TO STDOUT (FORMAT binary)";
}

Result<std::vector<KeyColumn>> PrimaryKeyColumns(PgConn& c, const std::string& qualified) {
  HASYNC_ASSIGN_OR_RETURN(
      PgResult k,
      c.ExecParams("SELECT a.attname, format_type(a.atttypid, a.atttypmod) FROM pg_index i JOIN "
                   "pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY (i.indkey) "
                   "WHERE i.indrelid = $1::regclass AND i.indisprimary",
                   {qualified}));
  std::vector<KeyColumn> out;
  for (int i = 0; i < k.rows(); ++i) out.push_back({.name = k.Get(i, 0), .type = k.Get(i, 1)});
  return out;
}

Result<uint64_t> CopyOut(PgConn& c, const std::string& copy, const CopyOutOptions& options,
                         const CopyPieceSink& sink) {
  const size_t piece = options.piece_bytes;
  HASYNC_RETURN_IF_ERROR(c.Run(copy));
  std::vector<std::byte> buf;
  buf.reserve(piece + 65536);
  for (;;) {
    char* row = nullptr;
    int n = PQgetCopyData(c.raw(), &row, 0);
    if (n == -2) return PgError(c, "copying " + options.table);
    if (n <= 0) break;  // -1: the data is done
    std::unique_ptr<char, void (*)(void*)> hold(row, PQfreemem);
    auto b = std::as_bytes(std::span<const char>(row, static_cast<size_t>(n)));
    size_t off = 0;
    while (off < b.size()) {
      size_t take = std::min(b.size() - off, piece - std::min(piece, buf.size()));
      if (take == 0) {
        HASYNC_RETURN_IF_ERROR(sink(buf));
        buf.clear();
        continue;
      }
      buf.insert(buf.end(), b.begin() + off, b.begin() + off + take);
      off += take;
    }
    if (buf.size() >= piece) {
      HASYNC_RETURN_IF_ERROR(sink(buf));
      buf.clear();
    }
  }
  if (!buf.empty()) HASYNC_RETURN_IF_ERROR(sink(buf));
  return FinishCopyOut(c, options.table);
}

}  // namespace hasync::snapshot
