// libpq behind PgConn and PgResult: every connection gets hasync's application name, a connect
// timeout and its notices routed to the log, a plain one an empty search_path (so catalog output
// is the same whatever the role's settings); errors carry the server's message, detail and hint.
#include "snapshot/pg.h"

#include <libpq-fe.h>
#include <unistd.h>

#include <cinttypes>
#include <cstdio>

#include "common/log.h"

namespace hasync::snapshot {
namespace {

std::string TrimRight(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
  return s;
}

// Server notices ("schema hasync already exists, skipping") go to the log, not stderr.
void LogNotice(void*, const char* message) {
  Log("database")->debug("server: {}", TrimRight(message));
}

}  // namespace

std::string FormatLsn(Lsn lsn) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%X/%X", static_cast<unsigned>(lsn >> 32),
                static_cast<unsigned>(lsn & 0xffffffffu));
  return buf;
}

Result<Lsn> ParseLsn(std::string_view text) {
  unsigned hi = 0, lo = 0;
  std::string t(text);
  int used = 0;
  if (std::sscanf(t.c_str(), "%X/%X%n", &hi, &lo, &used) != 2 ||
      static_cast<size_t>(used) != t.size()) {
    return Status(Code::kProtocol, "malformed LSN '" + t + "'");
  }
  return (static_cast<Lsn>(hi) << 32) | lo;
}

void PgResult::Free(pg_result* r) {
  if (r != nullptr) PQclear(r);
}
int PgResult::rows() const { return r_ ? PQntuples(r_.get()) : 0; }
int PgResult::cols() const { return r_ ? PQnfields(r_.get()) : 0; }
bool PgResult::IsNull(int row, int col) const { return PQgetisnull(r_.get(), row, col) != 0; }
std::string PgResult::Get(int row, int col) const { return std::string(View(row, col)); }
std::string_view PgResult::View(int row, int col) const {
  return std::string_view(PQgetvalue(r_.get(), row, col),
                          static_cast<size_t>(PQgetlength(r_.get(), row, col)));
}
std::string PgResult::CmdTuples() const { return r_ ? PQcmdTuples(r_.get()) : ""; }

void PgConn::Free(pg_conn* c) {
  if (c != nullptr) PQfinish(c);
}

Result<PgConn> PgConn::Connect(const std::string& conninfo, const ConnectOptions& options) {
  const bool replication = options.replication;
  std::vector<const char*> keys = {"dbname", "fallback_application_name", "connect_timeout"};
  std::vector<const char*> values = {conninfo.c_str(), "hasync", "10"};
  if (replication) {
    keys.push_back("replication");
    values.push_back("database");
  }
  keys.push_back(nullptr);
  values.push_back(nullptr);
  PgConn c;
  c.target_ = DescribeConninfo(conninfo);
  // expand_dbname = 1: the first "dbname" is the whole conninfo; the rest are defaults for it.
  c.c_.reset(PQconnectdbParams(keys.data(), values.data(), 1));
  if (c.c_ == nullptr) return Status(Code::kDatabase, "out of memory connecting to the database");
  if (PQstatus(c.c_.get()) != CONNECTION_OK) {
    return Status(Code::kDatabase,
                  "cannot connect to the database (" + c.target_ + "): " + c.ErrorMessage());
  }
  PQsetNoticeProcessor(c.c_.get(), LogNotice, nullptr);
  if (!replication) {
    // Names in every statement here are qualified, and catalog output (format_type) is then
    // the same whatever the role's search_path: what schema fingerprints compare.
    HASYNC_RETURN_IF_ERROR(c.Run("SELECT pg_catalog.set_config('search_path', '', false)"));
  }
  return c;
}

std::string PgConn::ErrorMessage() const {
  return c_ ? TrimRight(PQerrorMessage(c_.get())) : "not connected";
}

Status PgError(const PgConn& c, const std::string& what, pg_result* r) {
  std::string msg;
  if (r != nullptr && PQresultErrorMessage(r)[0] != '\0') {
    const char* primary = PQresultErrorField(r, PG_DIAG_MESSAGE_PRIMARY);
    msg = primary != nullptr ? primary : TrimRight(PQresultErrorMessage(r));
    if (const char* d = PQresultErrorField(r, PG_DIAG_MESSAGE_DETAIL))
      msg += " (" + std::string(d) + ")";
    if (const char* h = PQresultErrorField(r, PG_DIAG_MESSAGE_HINT))
      msg += "; hint: " + std::string(h);
  } else {
    msg = c.ErrorMessage();
  }
  return Status(Code::kDatabase, what + ": " + msg);
}

namespace {
// First line of a statement, for messages.
std::string Brief(const std::string& sql) {
  std::string s = sql.substr(0, sql.find('\n'));
  if (s.size() > 120) s = s.substr(0, 117) + "...";
  return s;
}
bool ResultOk(pg_result* r) {
  auto st = PQresultStatus(r);
  return st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK || st == PGRES_COPY_OUT ||
         st == PGRES_COPY_IN || st == PGRES_COPY_BOTH;
}
}  // namespace

Result<PgResult> PgConn::Exec(const std::string& sql) {
  PgResult r(PQexec(c_.get(), sql.c_str()));
  if (r.raw() == nullptr || !ResultOk(r.raw())) return PgError(*this, Brief(sql), r.raw());
  return r;
}

Status PgConn::Run(const std::string& sql) { return Exec(sql).status(); }

Result<PgResult> PgConn::ExecParams(const std::string& sql,
                                    const std::vector<std::optional<std::string>>& params) {
  std::vector<const char*> values;
  for (const auto& p : params) values.push_back(p ? p->c_str() : nullptr);
  PgResult r(PQexecParams(c_.get(), sql.c_str(), static_cast<int>(values.size()), nullptr,
                          values.data(), nullptr, nullptr, 0));
  if (r.raw() == nullptr || !ResultOk(r.raw())) return PgError(*this, Brief(sql), r.raw());
  return r;
}

std::string PgConn::QuoteIdent(std::string_view name) const {
  std::string out = "\"";
  for (char ch : name) {
    if (ch == '"') out += '"';
    out += ch;
  }
  return out + "\"";
}

std::string PgConn::QuoteLiteral(std::string_view value) const {
  char* q = PQescapeLiteral(c_.get(), value.data(), value.size());
  if (q == nullptr) return "NULL";  // only on out of memory or bad encoding
  std::string out(q);
  PQfreemem(q);
  return out;
}

int PgConn::server_version() const { return c_ ? PQserverVersion(c_.get()) : 0; }

Result<std::vector<std::string>> ConninfoEnvironment(const std::string& conninfo) {
  char* err = nullptr;
  PQconninfoOption* opts = PQconninfoParse(conninfo.c_str(), &err);
  if (opts == nullptr) {
    std::string m = err != nullptr ? TrimRight(err) : "out of memory";
    if (err != nullptr) PQfreemem(err);
    return Status(Code::kConfig, "[database] conninfo is malformed: " + m);
  }
  std::vector<std::string> env;
  for (PQconninfoOption* o = opts; o->keyword != nullptr; ++o) {
    if (o->val == nullptr || o->envvar == nullptr || o->val[0] == '\0') continue;
    env.push_back(std::string(o->envvar) + "=" + o->val);
  }
  PQconninfoFree(opts);
  return env;
}

std::string DescribeConninfo(const std::string& conninfo) {
  PQconninfoOption* opts = PQconninfoParse(conninfo.c_str(), nullptr);
  if (opts == nullptr) return "malformed conninfo";
  std::string out;
  for (PQconninfoOption* o = opts; o->keyword != nullptr; ++o) {
    std::string k = o->keyword;
    if (o->val == nullptr ||
        (k != "host" && k != "hostaddr" && k != "port" && k != "dbname" && k != "user")) {
      continue;
    }
    out += (out.empty() ? "" : " ") + (k == "dbname" ? std::string("database") : k) + " " + o->val;
  }
  PQconninfoFree(opts);
  return out.empty() ? "libpq defaults" : out;
}

std::string PgDumpPath(int server_version) {
  std::string p = "/usr/lib/postgresql/" + std::to_string(server_version / 10000) + "/bin/pg_dump";
  return ::access(p.c_str(), X_OK) == 0 ? p : "pg_dump";
}

}  // namespace hasync::snapshot
