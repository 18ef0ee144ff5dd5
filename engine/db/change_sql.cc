// Statement text depends only on the table and on which columns a change carries, never on its
// values, so a stream of changes to a few tables prepares a handful of statements. A VALUES list
// casts its first row to this node's column types, which fixes the type of every row after it.
#include "engine/db/change_sql.h"

namespace hasync::engine {
namespace {

using snapshot::PgMessage;
using snapshot::PgValue;

// Builds a statement's parameter list: each call adds a value and returns its placeholder.
class Params {
 public:
  std::string Add(const PgValue& v) {
    values_.push_back(v.kind == PgValue::kText ? v.text.c_str() : nullptr);
    return "$" + std::to_string(values_.size());
  }
  std::vector<const char*> Take() { return std::move(values_); }

 private:
  std::vector<const char*> values_;
};

Result<ApplyStatement> InsertStatement(const ApplyRelation& r, const PgMessage& m) {
  Params params;
  std::string cols, values;
  for (size_t i = 0; i < r.cols.size(); ++i) {
    if (m.new_tuple[i].kind == PgValue::kUnchanged) {
      return Status(Code::kProtocol, "an insert into " + r.display + " lacks a value");
    }
    cols += (i ? ", " : "") + r.cols[i];
    values += (i ? ", " : "") + params.Add(m.new_tuple[i]);
  }
  // The Primary chose identity values; they are copied, not generated again.
  return ApplyStatement{.kind = ApplyStatement::Kind::kPrepared,
                        .sql = "INSERT INTO " + r.qname + " (" + cols +
                               ") OVERRIDING SYSTEM VALUE VALUES (" + values + ")",
                        .params = params.Take(),
                        .rows = -1,
                        .what = "an insert into " + r.display};
}

}  // namespace

Result<std::optional<ApplyStatement>> RowStatement(const ApplyRelation& r, const PgMessage& m) {
  const size_t n = r.cols.size();
  if ((m.type != PgMessage::kDelete && m.new_tuple.size() != n) ||
      (m.old_kind != 0 && m.old_tuple.size() != n)) {
    return Status(Code::kProtocol, "a change to " + r.display + " has the wrong column count");
  }
  if (m.type == PgMessage::kInsert) {
    HASYNC_ASSIGN_OR_RETURN(ApplyStatement st, InsertStatement(r, m));
    return std::optional<ApplyStatement>(std::move(st));
  }
  Params params;
  std::string set;
  if (m.type == PgMessage::kUpdate) {
    for (size_t i = 0; i < n; ++i) {
      // An unchanged TOASTed value is not sent: the row keeps what it has.
      if (m.new_tuple[i].kind == PgValue::kUnchanged) continue;
      set += (set.empty() ? "" : ", ") + r.cols[i] + " = " + params.Add(m.new_tuple[i]);
    }
    if (set.empty()) return std::optional<ApplyStatement>();
  }
  const snapshot::PgTuple& key = m.old_kind != 0 ? m.old_tuple : m.new_tuple;
  std::string where, key_text;
  for (size_t i = 0; i < n; ++i) {
    if (!r.key[i] || key[i].kind == PgValue::kUnchanged) continue;
    where += where.empty() ? "" : " AND ";
    if (key[i].kind == PgValue::kNull) {
      where += r.cols[i] + " IS NULL";
    } else {
      where += r.cols[i] + " = " + params.Add(key[i]);
      if (key_text.size() < 200) key_text += (key_text.empty() ? "" : ", ") + key[i].text;
    }
  }
  if (where.empty()) return Status(Code::kProtocol, "a change to " + r.display + " carries no key");
  if (r.replident == 'f') {
    // No key: one row with these values, whichever it is (duplicates are interchangeable).
    where = "ctid = (SELECT ctid FROM " + r.qname + " WHERE " + where + " LIMIT 1)";
  }
  const bool update = m.type == PgMessage::kUpdate;
  return std::optional<ApplyStatement>(ApplyStatement{
      .kind = ApplyStatement::Kind::kPrepared,
      .sql = update ? "UPDATE " + r.qname + " SET " + set + " WHERE " + where
                    : "DELETE FROM " + r.qname + " WHERE " + where,
      .params = params.Take(),
      .rows = 1,
      .what =
          (update ? "an update of " : "a delete from ") + r.display + " (key " + key_text + ")"});
}

std::optional<ApplyStatement> ValuesStatement(const ApplyRelation& r, const ChangeBatch& b) {
  const bool update = b.type == PgMessage::kUpdate;
  const size_t n = r.cols.size();
  std::vector<size_t> used;  // the columns each VALUES row carries: keys, then set columns
  for (size_t i = 0; i < n; ++i) {
    if (r.key[i]) used.push_back(i);
  }
  if (update) {
    for (size_t i = 0; i < n; ++i) {
      if (b.set[i] && !r.key[i]) used.push_back(i);
    }
  }
  Params params;
  std::string list;
  for (size_t row = 0; row < b.changes.size(); ++row) {
    const snapshot::PgTuple& t = update ? b.changes[row].new_tuple : b.changes[row].old_tuple;
    list += row ? ", (" : "(";
    for (size_t j = 0; j < used.size(); ++j) {
      list += (j ? ", " : "") + params.Add(t[used[j]]);
      if (row == 0) list += "::" + r.types[used[j]];
    }
    list += ")";
  }
  std::string alias, where, set;
  for (size_t j = 0; j < used.size(); ++j) {
    std::string v = "v" + std::to_string(j);
    alias += (j ? ", " : "") + v;
    size_t c = used[j];
    if (r.key[c]) {
      where += (where.empty() ? "" : " AND ") + ("t." + r.cols[c]) + " = v." + v;
    } else {
      set += (set.empty() ? "" : ", ") + r.cols[c] + " = v." + v;
    }
  }
  if (update && set.empty()) return std::nullopt;
  return ApplyStatement{.kind = ApplyStatement::Kind::kParams,
                        .sql = update
                                   ? "UPDATE " + r.qname + " AS t SET " + set + " FROM (VALUES " +
                                         list + ") AS v(" + alias + ") WHERE " + where
                                   : "DELETE FROM " + r.qname + " AS t USING (VALUES " + list +
                                         ") AS v(" + alias + ") WHERE " + where,
                        .params = params.Take(),
                        .rows = static_cast<int64_t>(b.changes.size()),
                        .what = std::to_string(b.changes.size()) +
                                (update ? " updates of " : " deletes from ") + r.display};
}

std::string CopyInSql(const ApplyRelation& r) {
  std::string cols;
  for (const auto& c : r.cols) cols += (cols.empty() ? "" : ", ") + c;
  return "COPY " + r.qname + " (" + cols + ") FROM STDIN";
}

std::string CopyTextRow(const snapshot::PgTuple& t) {
  std::string line;
  for (size_t i = 0; i < t.size(); ++i) {
    if (i) line.push_back('\t');
    const PgValue& v = t[i];
    if (v.kind != PgValue::kText) {
      line += "\\N";
      continue;
    }
    for (char ch : v.text) {
      switch (ch) {
        case '\\':
          line += "\\\\";
          break;
        case '\n':
          line += "\\n";
          break;
        case '\r':
          line += "\\r";
          break;
        case '\t':
          line += "\\t";
          break;
        default:
          line.push_back(ch);
      }
    }
  }
  line.push_back('\n');
  return line;
}

std::string TruncateSql(const std::vector<std::string>& qnames, uint8_t options) {
  std::string sql = "TRUNCATE ONLY ";
  for (size_t i = 0; i < qnames.size(); ++i) sql += (i ? ", " : "") + qnames[i];
  if (options & 2) sql += " RESTART IDENTITY";
  if (options & 1) sql += " CASCADE";
  return sql;
}

}  // namespace hasync::engine
