// Loads run in the sync's transaction like everything else, so a failed or interrupted copy
// leaves the Secondary's database as it was. The schema scripts are collected whole before they
// run (pg_dump's output is one script; a statement may span pieces), up to 512 MiB.
#include "engine/db/full_load.h"

#include <algorithm>
#include <map>

#include "common/log.h"
#include "engine/db/copy_in.h"
#include "engine/db/schema_script.h"
#include "engine/db/scope_check.h"
#include "snapshot/table_copy.h"
#include "verify/table_check.h"

namespace hasync::engine {
namespace {

using snapshot::PgResult;

constexpr size_t kMaxScript = 512u << 20;

double Since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

}  // namespace

Status FullLoad::Begin() {
  HASYNC_ASSIGN_OR_RETURN(auto schemas, snapshot::ListSchemas(conn_, scope_));
  for (const auto& n : schemas) {
    HASYNC_RETURN_IF_ERROR(conn_.Run("DROP SCHEMA " + conn_.QuoteIdent(n) + " CASCADE"));
  }
  // pg_dump never creates the public schema; every database starts with it, as initdb makes it
  // (its comment too: pg_dump leaves that default out, so it must be there already).
  if (snapshot::SchemaInScope(scope_, "public")) {
    // Its owner is pg_database_owner where the apply role may give it that (it owns the
    // database, or is a superuser); else the apply role keeps it, so that the next full copy can
    // drop it again.
    HASYNC_RETURN_IF_ERROR(
        conn_.Run("CREATE SCHEMA IF NOT EXISTS public; GRANT USAGE ON SCHEMA public TO PUBLIC; "
                  "COMMENT ON SCHEMA public IS 'standard public schema'"));
    HASYNC_ASSIGN_OR_RETURN(
        PgResult owner, conn_.Exec("SELECT pg_catalog.pg_has_role('pg_database_owner', 'MEMBER')"));
    if (owner.Get(0, 0) == "t") {
      HASYNC_RETURN_IF_ERROR(conn_.Run("ALTER SCHEMA public OWNER TO pg_database_owner"));
    }
  }
  return conn_.Run("SET LOCAL maintenance_work_mem = '256MB'");
}

Status FullLoad::AddSql(const DbSql& m) {
  std::string& text = sql_[static_cast<int>(m.section)];
  if (text.size() + m.text.size() > kMaxScript) {
    return Status(Code::kProtocol, "the Primary's schema script passes 512 MiB");
  }
  text.append(reinterpret_cast<const char*>(m.text.data()), m.text.size());
  if (!m.last) return Status::Ok();
  const bool pre = m.section == DbSection::kPreData;
  auto t0 = std::chrono::steady_clock::now();
  HASYNC_ASSIGN_OR_RETURN(auto statements, CheckSchemaScript(text));
  text.clear();
  HASYNC_RETURN_IF_ERROR(ResolveExtensions(statements));
  const char* what =
      pre ? "creating the Primary's tables" : "creating the Primary's indexes and constraints";
  // One statement per call through the extended protocol: the server refuses a string that holds
  // two, so exactly the statements checked run.
  for (size_t i = 0; i < statements.size(); ++i) {
    HASYNC_RETURN_IF_ERROR(
        conn_.ExecParams(statements[i].text, {})
            .status()
            .Context(std::string(what) + " (statement " + std::to_string(i + 1) + ")"));
  }
  Log("database")
      ->debug("{} script: {} statements, {:.2f} s", pre ? "pre-data" : "post-data",
              statements.size(), Since(t0));
  return Status::Ok();
}

// pg_dump writes CREATE EXTENSION IF NOT EXISTS for every extension of the Primary's database.
// One that is here already is left as it is (its COMMENT too: the apply role may not own it);
// one the apply role may create (a trusted extension, or a superuser role) is created by the
// script; any other is refused by name before a statement runs.
Status FullLoad::ResolveExtensions(std::vector<ScriptStatement>& statements) {
  std::vector<std::string> present;
  for (const auto& st : statements) {
    if (st.extension.empty()) continue;
    HASYNC_ASSIGN_OR_RETURN(
        PgResult r,
        conn_.ExecParams(
            "SELECT (SELECT count(*) FROM pg_catalog.pg_extension WHERE extname = $1), "
            "(SELECT count(*) FROM pg_catalog.pg_available_extensions WHERE name = $1), "
            "(SELECT count(*) FROM pg_catalog.pg_available_extension_versions v JOIN "
            "pg_catalog.pg_available_extensions a ON a.name = v.name AND a.default_version = "
            "v.version WHERE v.name = $1 AND (v.trusted OR NOT v.superuser OR (SELECT rolsuper "
            "FROM pg_catalog.pg_roles WHERE rolname = current_user)))",
            {st.extension}));
    if (r.Get(0, 0) != "0") {
      present.push_back(st.extension);
      continue;
    }
    const bool plain = std::all_of(st.extension.begin(), st.extension.end(), [](char c) {
      return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_';
    });
    std::string fix = "create it on this node once as a superuser: CREATE EXTENSION " +
                      (plain ? st.extension : conn_.QuoteIdent(st.extension)) + ";";
    if (r.Get(0, 1) == "0") {
      return Status(Code::kConfig, "the Primary's schema needs extension " + st.extension +
                                       ", which this node's PostgreSQL does not have: install "
                                       "the package that ships it, then " +
                                       fix);
    }
    if (r.Get(0, 2) == "0") {
      return Status(Code::kConfig, "the Primary's schema needs extension " + st.extension +
                                       ", which this node's database role may not create; " + fix);
    }
  }
  auto is_present = [&](const std::string& name) {
    return !name.empty() && std::find(present.begin(), present.end(), name) != present.end();
  };
  std::erase_if(statements, [&](const ScriptStatement& st) {
    return is_present(st.extension) || is_present(st.comments_on);
  });
  return Status::Ok();
}

Status FullLoad::BeginCopy(const DbCopyBegin& m) {
  HASYNC_RETURN_IF_ERROR(CheckInScope(scope_, m.schema, m.name));
  copy_table_ = m.schema + "." + m.name;
  std::string q = conn_.QuoteIdent(m.schema) + "." + conn_.QuoteIdent(m.name);
  if (m.truncate) HASYNC_RETURN_IF_ERROR(conn_.Run("TRUNCATE ONLY " + q));
  if (!m.range.key.empty()) HASYNC_RETURN_IF_ERROR(DeleteRange(q, m.range));
  std::string cols;
  for (const auto& c : m.columns) cols += (cols.empty() ? "" : ", ") + conn_.QuoteIdent(c);
  // FREEZE: the table was created (or emptied) in this transaction, so its rows can be written
  // frozen and never need a second write for hint bits or vacuum.
  HASYNC_RETURN_IF_ERROR(conn_.Run("COPY " + q + " (" + cols + ") FROM STDIN (FORMAT binary" +
                                   (options_.full || m.truncate ? ", FREEZE" : "") + ")"));
  copying_ = true;
  copy_start_ = std::chrono::steady_clock::now();
  return Status::Ok();
}

Status FullLoad::CopyData(std::span<const std::byte> data) {
  return PutCopyData(conn_, std::span(reinterpret_cast<const char*>(data.data()), data.size()),
                     "loading " + copy_table_);
}

Status FullLoad::EndCopy(const DbCopyEnd& m) {
  copying_ = false;
  HASYNC_ASSIGN_OR_RETURN(uint64_t rows, EndCopyIn(conn_, copy_table_));
  if (rows != m.rows) {
    return Status(Code::kProtocol, "table " + copy_table_ + ": the Primary sent " +
                                       std::to_string(m.rows) + " rows, " + std::to_string(rows) +
                                       " arrived");
  }
  rows_ += rows;
  Log("database")->debug("loaded {}: {} rows in {:.2f} s", copy_table_, rows, Since(copy_start_));
  return Status::Ok();
}

// A repair: the damaged key range goes before the Primary's rows of it arrive. The range's key
// must be the table's one-column primary key here too.
Status FullLoad::DeleteRange(const std::string& qname, const DbRange& r) {
  HASYNC_ASSIGN_OR_RETURN(auto key, snapshot::PrimaryKeyColumns(conn_, qname));
  if (key.size() != 1 || key[0].name != r.key) {
    return Status(Code::kProtocol, "a repair of " + qname + " by a key (" + r.key +
                                       ") that is not its primary key here");
  }
  HASYNC_ASSIGN_OR_RETURN(PgResult d, conn_.Exec("DELETE FROM ONLY " + qname + " WHERE " +
                                                 verify::RangeCondition(conn_, r, key[0].type)));
  Log("database")
      ->info("repair: {} rows of {} deleted in [{}, {}) before the Primary's", d.CmdTuples(), qname,
             r.from, r.to);
  return Status::Ok();
}

Status FullLoad::SetSequences(const std::vector<DbSequence>& seqs) {
  for (const auto& q : seqs) {
    HASYNC_RETURN_IF_ERROR(CheckInScope(scope_, q.schema, q.name));
    HASYNC_RETURN_IF_ERROR(
        conn_
            .ExecParams("SELECT pg_catalog.setval($1::regclass, $2::bigint, $3::boolean)",
                        {conn_.QuoteIdent(q.schema) + "." + conn_.QuoteIdent(q.name),
                         std::to_string(q.value), std::string(q.called ? "true" : "false")})
            .status());
  }
  return Status::Ok();
}

Status CompareSchemas(snapshot::PgConn& conn, const snapshot::DbScope& scope,
                      const std::vector<DbTableDesc>& theirs, const char* who) {
  HASYNC_ASSIGN_OR_RETURN(auto mine, snapshot::ListTables(conn, scope));
  std::map<std::string, const snapshot::TableInfo*> by_name;
  for (const auto& t : mine) by_name[t.Qualified()] = &t;
  for (const auto& t : theirs) {
    std::string name = t.schema + "." + t.name;
    auto it = by_name.find(name);
    if (it == by_name.end()) {
      return Status(Code::kSchema, "table " + name + " exists on " + who +
                                       " but not on this node; run hasync sync --full-db to "
                                       "copy the database whole");
    }
    if (it->second->description != t.description) {
      return Status(Code::kSchema, "table " + name + " differs: " + who + " has (" + t.description +
                                       "), this node has (" + it->second->description +
                                       "); bring both to the same software version, or run "
                                       "hasync sync --full-db");
    }
    by_name.erase(it);
  }
  if (!by_name.empty()) {
    return Status(Code::kSchema, "table " + by_name.begin()->first +
                                     " exists on this node but not on " + who +
                                     "; run hasync sync --full-db");
  }
  return Status::Ok();
}

}  // namespace hasync::engine
