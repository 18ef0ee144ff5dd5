// Real PostgreSQL 15 clusters for the tests (Debian's postgresql-15): initdb as the postgres user
// when running as root, a free loopback port, the socket in the cluster's own folder, trust
// authentication for loopback only. Started once per test suite; each test uses its own
// databases.
#pragma once

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "snapshot/pg.h"
#include "tests/test_util.h"

namespace hasync::testing {

inline const char* PgBin() {
  const char* b = std::getenv("PG_BIN");
  return b != nullptr ? b : "/usr/lib/postgresql/15/bin";
}

// Runs a shell command as the clusters' owner (postgres when we are root).
inline int RunAsOwner(const std::string& cmd) {
  std::string full = ::geteuid() == 0 ? "runuser -u postgres -- " + cmd : cmd;
  return std::system(full.c_str());
}

class PgCluster {
 public:
  // Starts a cluster; settings are extra "name=value" server settings.
  static std::unique_ptr<PgCluster> Start(const std::vector<std::string>& settings = {}) {
    auto c = std::unique_ptr<PgCluster>(new PgCluster());
    c->dir_ = MakeTempDir();
    ::chmod(c->dir_.c_str(), 0755);
    if (::geteuid() == 0 && std::system(("chown postgres: " + c->dir_).c_str()) != 0)
      return nullptr;
    c->port_ = FreeLoopbackPort();
    std::string log = c->dir_ + "/postgres.log";
    if (RunAsOwner(std::string(PgBin()) + "/initdb -D " + c->dir_ +
                   "/data -U postgres --auth=trust -E UTF8 --locale=C.UTF-8 >" + c->dir_ +
                   "/initdb.log 2>&1") != 0) {
      ADD_FAILURE() << "initdb failed: " << ReadFile(c->dir_ + "/initdb.log");
      return nullptr;
    }
    std::string opts = "-c listen_addresses=127.0.0.1 -c port=" + std::to_string(c->port_) +
                       " -c unix_socket_directories=" + c->dir_ +
                       " -c max_wal_senders=10 -c max_replication_slots=20 -c fsync=off";
    bool has_wal_level = false;
    for (const auto& s : settings) {
      opts += " -c " + s;
      if (s.rfind("wal_level=", 0) == 0) has_wal_level = true;
    }
    if (!has_wal_level) opts += " -c wal_level=logical";
    if (RunAsOwner(std::string(PgBin()) + "/pg_ctl -D " + c->dir_ + "/data -l " + log + " -w -o '" +
                   opts + "' start >/dev/null") != 0) {
      ADD_FAILURE() << "postgres did not start: " << ReadFile(log);
      return nullptr;
    }
    c->started_ = true;
    return c;
  }

  ~PgCluster() {
    if (started_) {
      RunAsOwner(std::string(PgBin()) + "/pg_ctl -D " + dir_ + "/data -m immediate -w stop " +
                 ">/dev/null 2>&1");
    }
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }

  int port() const { return port_; }
  std::string Conninfo(const std::string& db, const std::string& user = "postgres") const {
    return "host=127.0.0.1 port=" + std::to_string(port_) + " dbname=" + db + " user=" + user;
  }

  // The Secondary's apply role (docs/operating.md, "Roles"): it logs in, is no superuser, and
  // may set session_replication_role. Once per cluster.
  static constexpr char kApplyRole[] = "hasync_apply";
  void CreateApplyRole() const {
    Exec("postgres", std::string("CREATE ROLE ") + kApplyRole +
                         " LOGIN; GRANT SET ON PARAMETER session_replication_role TO " +
                         kApplyRole);
  }
  // What the apply role needs in db: CREATE on it (its replicated schemas and hasync's) and the
  // public schema, which pg_dump never creates.
  void GrantApply(const std::string& db) const {
    Exec("postgres", "GRANT CREATE ON DATABASE " + db + " TO " + kApplyRole);
    Exec(db, std::string("ALTER SCHEMA public OWNER TO ") + kApplyRole);
  }
  std::string ApplyConninfo(const std::string& db) const { return Conninfo(db, kApplyRole); }
  snapshot::PgConn Connect(const std::string& db) const {
    auto c = snapshot::PgConn::Connect(Conninfo(db));
    EXPECT_TRUE(c.ok()) << c.status().ToString();
    // PgConn empties search_path (hasync qualifies every name); the tests write plain SQL.
    if (c.ok()) {
      EXPECT_TRUE(c->Run("SET search_path = \"$user\", public").ok());
    }
    return c.ok() ? std::move(*c) : snapshot::PgConn();
  }
  // Runs SQL; a failure fails the test.
  void Exec(const std::string& db, const std::string& sql) const {
    auto c = Connect(db);
    Status st = c.Run(sql);
    EXPECT_TRUE(st.ok()) << st.ToString();
  }
  // Every row of a query, as "a|b|c" lines.
  std::string Rows(const std::string& db, const std::string& sql) const {
    auto c = Connect(db);
    auto r = c.Exec(sql);
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    if (!r.ok()) return "";
    std::string out;
    for (int i = 0; i < r->rows(); ++i) {
      for (int j = 0; j < r->cols(); ++j) {
        if (j) out += '|';
        out += r->IsNull(i, j) ? std::string("<null>") : r->Get(i, j);
      }
      out += "\n";
    }
    return out;
  }

 private:
  PgCluster() = default;
  std::string dir_;
  int port_ = 0;
  bool started_ = false;
};

}  // namespace hasync::testing
