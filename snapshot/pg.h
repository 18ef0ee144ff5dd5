// PostgreSQL through libpq: connections (plain and replication), results, LSNs, quoting, and
// pg_dump as a child process. Every error names the server's message and, for connections, the
// target without its password.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

struct pg_conn;
struct pg_result;

namespace hasync::snapshot {

using Lsn = uint64_t;
std::string FormatLsn(Lsn lsn);  // "16/B374D848"
Result<Lsn> ParseLsn(std::string_view text);

class PgResult {
 public:
  PgResult() = default;
  explicit PgResult(pg_result* r) : r_(r, Free) {}
  int rows() const;
  int cols() const;
  bool IsNull(int row, int col) const;
  std::string Get(int row, int col) const;
  std::string_view View(int row, int col) const;
  std::string CmdTuples() const;  // "1" after an UPDATE of one row
  pg_result* raw() const { return r_.get(); }

 private:
  static void Free(pg_result* r);
  std::unique_ptr<pg_result, void (*)(pg_result*)> r_{nullptr, Free};
};

struct ConnectOptions {
  // A walsender connection ("replication=database") for the replication protocol.
  bool replication = false;
};

class PgConn {
 public:
  static Result<PgConn> Connect(const std::string& conninfo, const ConnectOptions& options = {});

  PgConn() = default;
  PgConn(PgConn&&) noexcept = default;
  PgConn& operator=(PgConn&&) noexcept = default;

  // Runs one or more statements (simple protocol); kDatabase naming the server's message.
  Result<PgResult> Exec(const std::string& sql);
  Status Run(const std::string& sql);
  // One statement with text parameters (std::nullopt: NULL).
  Result<PgResult> ExecParams(const std::string& sql,
                              const std::vector<std::optional<std::string>>& params);

  std::string QuoteIdent(std::string_view name) const;  // "my ""table"""
  std::string QuoteLiteral(std::string_view value) const;
  int server_version() const;        // 150018
  std::string ErrorMessage() const;  // the last libpq error, trimmed
  // "host 127.0.0.1 port 5432 database mdm user postgres": for messages, never the password.
  const std::string& target() const { return target_; }
  pg_conn* raw() const { return c_.get(); }
  bool connected() const { return c_ != nullptr; }

 private:
  static void Free(pg_conn* c);
  std::unique_ptr<pg_conn, void (*)(pg_conn*)> c_{nullptr, Free};
  std::string target_;
};

// A database error for statement `what`, with the server's message (and detail and hint).
Status PgError(const PgConn& c, const std::string& what, pg_result* r = nullptr);

// The conninfo's settings as libpq's environment variables (PGHOST=..., PGPASSWORD=...) for a
// child process such as pg_dump: nothing secret reaches a command line. kConfig when malformed.
Result<std::vector<std::string>> ConninfoEnvironment(const std::string& conninfo);
// "host 127.0.0.1 port 5432 database mdm user postgres" from a conninfo (no password).
std::string DescribeConninfo(const std::string& conninfo);

// pg_dump's path for a server of this version: Debian's /usr/lib/postgresql/<major>/bin/pg_dump
// when present, else pg_dump from PATH.
std::string PgDumpPath(int server_version);

}  // namespace hasync::snapshot
