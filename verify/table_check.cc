// Table checks: the SQL that counts and hashes rows per key range. Plain functions over one
// PostgreSQL connection, so the verify session, the Primary's pinned point and the Secondary's
// verified sync all call the same code, and verify/ needs nothing from engine/.
#include "verify/table_check.h"

#include <algorithm>
#include <future>
#include <map>

namespace hasync::verify {
namespace {

// A PostgreSQL array literal of texts: {"a","b\"c"}.
std::string ArrayLiteral(const std::vector<std::string>& items) {
  std::string out = "{";
  for (size_t i = 0; i < items.size(); ++i) {
    out += i ? ",\"" : "\"";
    for (char c : items[i]) {
      if (c == '"' || c == '\\') out += '\\';
      out += c;
    }
    out += '"';
  }
  return out + "}";
}

// Each row's text through PostgreSQL's 64-bit text hash, summed exactly (sum of bigint is
// numeric): the same rows in any order give the same sum. Both sides run the same PostgreSQL
// release (the version gate), so the hash is the same function on both. md5 of the row text
// was 3x slower for no gain here: this detects differences, it does not defend against an
// adversary (the channel and the sync's checksums do).
constexpr char kRowHash[] = "hashtextextended(t::text, 0)";

// At most this many key ranges per table; at least this many rows per range.
constexpr uint64_t kMaxRanges = 4096;
constexpr uint64_t kMinRangeRows = 1000;

// Fills `check` (the caller's, already named) with t's key ranges and their counts and hashes.
Status CheckOneTable(snapshot::PgConn& c, const snapshot::TableInfo& t, const TableCheck* primary,
                     const CheckOptions& o, TableCheck& check) {
  const bool bounds_only = o.bounds_only;
  const int sample = o.sample;
  std::string q = c.QuoteIdent(t.schema) + "." + c.QuoteIdent(t.name);
  // The one-column primary key, and its type, if the table has one.
  HASYNC_ASSIGN_OR_RETURN(
      snapshot::PgResult k,
      c.ExecParams("SELECT a.attname, format_type(a.atttypid, a.atttypmod) FROM pg_index i JOIN "
                   "pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY (i.indkey) "
                   "WHERE i.indrelid = $1::regclass AND i.indisprimary",
                   {q}));
  std::string key_type;
  if (k.rows() == 1) {
    check.key = k.Get(0, 0);
    key_type = k.Get(0, 1);
  }
  if (primary != nullptr && primary->key != check.key) check.key.clear();
  if (!check.key.empty()) {
    std::string col = c.QuoteIdent(check.key);
    if (primary == nullptr) {
      // The planner's row estimate is enough to space the ranges.
      HASYNC_ASSIGN_OR_RETURN(
          snapshot::PgResult n,
          c.ExecParams("SELECT greatest(reltuples, 0)::bigint FROM pg_class WHERE oid = "
                       "$1::regclass",
                       {q}));
      uint64_t rows = std::stoull(n.Get(0, 0));
      uint64_t per = std::max(kMinRangeRows, (rows + kMaxRanges - 1) / kMaxRanges);
      HASYNC_ASSIGN_OR_RETURN(
          snapshot::PgResult b,
          c.Exec("SELECT k::text FROM (SELECT " + col + " AS k, row_number() OVER (ORDER BY " +
                 col + ") AS rn FROM ONLY " + q + ") x WHERE rn % " + std::to_string(per) +
                 " = 1 AND rn > 1 ORDER BY rn"));
      for (int i = 0; i < b.rows(); ++i) check.bounds.push_back(b.Get(i, 0));
    } else {
      check.bounds = primary->bounds;
    }
    if (bounds_only) return Status::Ok();
    check.buckets.assign(check.bounds.size() + 1, TableBucket{0, "0"});
    // One scan: each range, and (the rollup row, range NULL) the whole table.
    std::string hash = kRowHash;
    if (sample >= 0) {
      // CASE is lazy: rows outside the sampled ranges are counted, never turned into text.
      hash = "CASE WHEN b % 8 = " + std::to_string(sample) + " THEN " + hash + " END";
    }
    HASYNC_ASSIGN_OR_RETURN(
        snapshot::PgResult r,
        c.ExecParams("SELECT b, count(*), coalesce(sum(" + hash +
                         "), 0)::text FROM (SELECT width_bucket(" + col +
                         ", $1::text[]::" + key_type + "[]) AS b, t FROM ONLY " + q +
                         " t) x GROUP BY ROLLUP (b) ORDER BY b NULLS LAST",
                     {ArrayLiteral(check.bounds)}));
    check.rows = 0;
    check.hash = "0";
    for (int i = 0; i < r.rows(); ++i) {
      if (r.IsNull(i, 0)) {
        check.rows = std::stoull(r.Get(i, 1));
        check.hash = r.Get(i, 2);
        continue;
      }
      size_t b = std::stoull(r.Get(i, 0));
      if (b >= check.buckets.size()) return Status(Code::kDatabase, "width_bucket out of range");
      check.buckets[b] = {std::stoull(r.Get(i, 1)), r.Get(i, 2)};
    }
    return Status::Ok();
  }
  if (bounds_only) return Status::Ok();
  HASYNC_ASSIGN_OR_RETURN(snapshot::PgResult r,
                          c.Exec(std::string("SELECT count(*), coalesce(sum(") + kRowHash +
                                 "), 0)::text FROM ONLY " + q + " t"));
  check.rows = std::stoull(r.Get(0, 0));
  check.hash = r.Get(0, 1);
  return Status::Ok();
}

}  // namespace

std::string RangeCondition(snapshot::PgConn& c, const KeyRange& r, const std::string& key_type) {
  std::string k = c.QuoteIdent(r.key);
  std::string out;
  if (!r.from.empty()) out = k + " >= " + c.QuoteLiteral(r.from) + "::" + key_type;
  if (!r.to.empty()) {
    out += (out.empty() ? "" : " AND ") + k + " < " + c.QuoteLiteral(r.to) + "::" + key_type;
  }
  return out.empty() ? "TRUE" : out;
}

Result<std::vector<TableCheck>> CheckTablesOn(snapshot::PgConn& c, const snapshot::DbScope& scope,
                                              const std::vector<TableCheck>* primary,
                                              const CheckOptions& o) {
  const bool counts_only = o.counts_only, bounds_only = o.bounds_only;
  HASYNC_ASSIGN_OR_RETURN(auto tables, snapshot::ListTables(c, scope));
  std::map<std::string, const TableCheck*> theirs;
  if (primary != nullptr) {
    for (const auto& t : *primary) theirs[t.table] = &t;
  }
  std::vector<TableCheck> out;
  for (const auto& t : tables) {
    TableCheck check{
        .table = t.Qualified(), .rows = 0, .hash = "0", .rows_replicated = !t.data_excluded};
    if (check.rows_replicated) {
      auto it = theirs.find(check.table);
      const TableCheck* p = it == theirs.end() ? nullptr : it->second;
      if (bounds_only && counts_only) {
        // Nothing to range.
      } else if (counts_only || (primary != nullptr && p == nullptr)) {
        // Counted only (the level asks no more, or the table is not on the Primary).
        HASYNC_ASSIGN_OR_RETURN(snapshot::PgResult r,
                                c.Exec("SELECT count(*) FROM ONLY " + c.QuoteIdent(t.schema) + "." +
                                       c.QuoteIdent(t.name)));
        check.rows = std::stoull(r.Get(0, 0));
      } else {
        HASYNC_RETURN_IF_ERROR(CheckOneTable(c, t, p, o, check));
      }
    }
    out.push_back(std::move(check));
  }
  return out;
}

std::vector<TableComparison> CompareTableChecks(const std::vector<TableCheck>& primary,
                                                const std::vector<TableCheck>& local) {
  std::vector<TableComparison> out;
  std::map<std::string, const TableCheck*> mine;
  for (const auto& t : local) mine[t.table] = &t;
  for (const auto& p : primary) {
    TableComparison t{.table = p.table,
                      .primary_rows = static_cast<int64_t>(p.rows),
                      .rows_replicated = p.rows_replicated};
    auto it = mine.find(p.table);
    if (it == mine.end()) {
      t.equal = false;
      t.what = "missing on the Secondary";
    } else {
      t.secondary_rows = static_cast<int64_t>(it->second->rows);
      if (p.rows_replicated && p.rows != it->second->rows) {
        t.equal = false;
        t.what = "row counts differ";
      } else if (p.rows_replicated && p.hash != it->second->hash) {
        t.equal = false;
        t.what = "rows differ (same count, different contents)";
      }
      const TableCheck& m = *it->second;
      if (!t.equal && !p.key.empty() && m.key == p.key && m.buckets.size() == p.buckets.size()) {
        t.key = p.key;
        for (size_t b = 0; b < p.buckets.size(); ++b) {
          if (p.buckets[b] == m.buckets[b]) continue;
          t.ranges.push_back(
              {b == 0 ? "" : p.bounds[b - 1], b == p.bounds.size() ? "" : p.bounds[b]});
        }
      }
      mine.erase(it);
    }
    out.push_back(std::move(t));
  }
  for (const auto& [name, check] : mine) {
    out.push_back({.table = name,
                   .primary_rows = -1,
                   .secondary_rows = static_cast<int64_t>(check->rows),
                   .rows_replicated = check->rows_replicated,
                   .equal = false,
                   .what = "not on the Primary"});
  }
  return out;
}

Result<BothChecks> ExchangeTableChecks(
    const std::function<Result<std::vector<TableCheck>>()>& read,
    const std::function<Result<std::vector<TableCheck>>(const std::vector<TableCheck>& ranges)>&
        check) {
  HASYNC_ASSIGN_OR_RETURN(std::vector<TableCheck> ranges, read());
  auto local = std::async(std::launch::async, [&] { return check(ranges); });
  auto primary = read();
  auto mine = local.get();
  HASYNC_RETURN_IF_ERROR(primary.status());
  HASYNC_RETURN_IF_ERROR(mine.status());
  return BothChecks{std::move(*primary), std::move(*mine)};
}

}  // namespace hasync::verify
