// Table checks for `hasync verify` and verified syncs: each table's row count and an
// order-independent hash of its rows (the sum of a 64-bit hash of each row's text), and for a
// table with a one-column primary key the same per key range, so a difference is narrowed to a
// range. The Primary picks the ranges; the Secondary hashes the same ranges.
#pragma once

#include <functional>
#include <vector>

#include "common/status.h"
#include "snapshot/db_catalog.h"
#include "snapshot/pg.h"

namespace hasync::verify {

// One key range of one table: [from, to) of its one-column primary key.
struct KeyRange {
  std::string schema;
  std::string name;
  std::string key;   // the table's one-column primary key
  std::string from;  // inclusive; "" unbounded
  std::string to;    // exclusive; "" unbounded
};

struct TableBucket {
  uint64_t rows = 0;
  std::string hash;  // decimal (signed) sum of per-row 64-bit hashes
  bool operator==(const TableBucket&) const = default;
};

struct TableCheck {
  std::string table;  // schema.table
  uint64_t rows = 0;
  std::string hash;             // decimal (signed) sum of per-row 64-bit hashes
  bool rows_replicated = true;  // false for [database] exclude_tables
  // Tables with a one-column primary key are checked in key ranges: the Primary picks the
  // bounds (as text, ascending), both sides hash each range; buckets has bounds.size() + 1
  // entries (below the first bound, between bounds, from the last bound on).
  std::string key;
  std::vector<std::string> bounds;
  std::vector<TableBucket> buckets;
};

struct CheckOptions {
  // Row counts, no hashes and no ranges (the cheap "counts" level).
  bool counts_only = false;
  // The key ranges only (the Primary sends them first, so the Secondary hashes while it does).
  bool bounds_only = false;
  // 0..7, or -1: the "sample" level: row counts per key range everywhere, row hashes only in
  // ranges whose index is sample modulo 8 (a deterministic eighth, another one each sync).
  int sample = -1;
};

// REQUIRES: c is in a transaction (REPEATABLE READ on the Primary: one snapshot for all tables).
// primary: null on the Primary (it picks the key ranges), else the Primary's checks.
Result<std::vector<TableCheck>> CheckTablesOn(snapshot::PgConn& c, const snapshot::DbScope& scope,
                                              const std::vector<TableCheck>* primary,
                                              const CheckOptions& options = {});

// The Secondary's side of the two verify tables messages (the Primary's key ranges, then its
// checks): `read` returns each message; `check` computes this side's checks in the given ranges,
// run while the Primary's checks are on their way. Returns both sides' checks.
struct BothChecks {
  std::vector<TableCheck> primary;
  std::vector<TableCheck> local;
};
Result<BothChecks> ExchangeTableChecks(
    const std::function<Result<std::vector<TableCheck>>()>& read,
    const std::function<Result<std::vector<TableCheck>>(const std::vector<TableCheck>& ranges)>&
        check);

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

std::vector<TableComparison> CompareTableChecks(const std::vector<TableCheck>& primary,
                                                const std::vector<TableCheck>& local);

// "key >= 'from'::type AND key < 'to'::type" (each side only when bounded; TRUE when neither).
std::string RangeCondition(snapshot::PgConn& c, const KeyRange& r, const std::string& key_type);

}  // namespace hasync::verify
