// Table checks for `hasync verify` and verified syncs: each table's row count and an
// order-independent hash of its rows (the sum of a 64-bit hash of each row's text), and for a
// table with a one-column primary key the same per key range, so a difference is narrowed to a
// range. The Primary picks the ranges; the Secondary hashes the same ranges.
#pragma once

#include <functional>
#include <vector>

#include "common/status.h"
#include "engine/db_protocol.h"
#include "engine/verify_protocol.h"
#include "snapshot/db_catalog.h"
#include "snapshot/pg.h"

namespace hasync::engine {

// REQUIRES: c is in a transaction (REPEATABLE READ on the Primary: one snapshot for all tables).
// primary: null on the Primary (it picks the key ranges), else the Primary's checks.
// counts_only: row counts, no hashes and no ranges (the cheap "counts" level). bounds_only: the
// key ranges only (the Primary sends them first, so the Secondary hashes while it does).
// sample (0..7, or -1): the "sample" level: row counts per key range everywhere, row hashes only
// in ranges whose index is sample modulo 8 (a deterministic eighth, another one each sync).
Result<std::vector<TableCheck>> CheckTablesOn(snapshot::PgConn& c, const snapshot::DbScope& scope,
                                              const VerifyTables* primary, bool counts_only = false,
                                              bool bounds_only = false, int sample = -1);

// The Secondary's side of the two verify tables messages (the Primary's key ranges, then its
// checks): `read` returns each message; `check` computes this side's checks in the given ranges,
// run while the Primary's checks are on their way. Returns both sides' checks.
struct BothChecks {
  VerifyTables primary;
  std::vector<TableCheck> local;
};
Result<BothChecks> ExchangeTableChecks(
    const std::function<Result<VerifyTables>()>& read,
    const std::function<Result<std::vector<TableCheck>>(const VerifyTables& ranges)>& check);

// One table compared between the two sides.
struct TableComparison {
  std::string table;
  int64_t primary_rows = -1;  // -1: the table is not on that side
  int64_t secondary_rows = -1;
  bool rows_replicated = true;
  bool equal = true;
  std::string what;  // why not
  // Where, for a table with a one-column key: [from, to) ranges of that key ("": unbounded).
  std::string key;
  std::vector<std::pair<std::string, std::string>> ranges;
};

std::vector<TableComparison> CompareTableChecks(const VerifyTables& primary,
                                                const std::vector<TableCheck>& local);

// "key >= 'from'::type AND key < 'to'::type" (each side only when bounded; TRUE when neither).
std::string RangeCondition(snapshot::PgConn& c, const DbRange& r, const std::string& key_type);

}  // namespace hasync::engine
