// What the Secondary runs of a full copy's schema scripts: only the statement kinds pg_dump
// writes for a schema (--schema-only, and the refreshes of materialized views its post-data
// section adds: snapshot/schema_dump.h), refused whole before any of it runs otherwise. The
// Secondary's database role is not a superuser, so PostgreSQL itself refuses COPY ... PROGRAM,
// ALTER SYSTEM, untrusted extensions and other roles' objects; this check is the second wall, and
// it keeps a Primary's script from ending the sync's transaction (COMMIT) or touching hasync's own
// schema.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace hasync::engine {

struct ScriptStatement {
  std::string text;         // the statement as sent, without its semicolon
  std::string extension;    // CREATE EXTENSION [IF NOT EXISTS] <this>: its name, else empty
  std::string comments_on;  // COMMENT ON EXTENSION <this>: its name, else empty
};

// Splits a script into statements the way PostgreSQL's lexer does (quoted identifiers, string
// literals with their E'' escapes, dollar quotes, nested comments, BEGIN ATOMIC bodies) and
// checks each. Allowed: SET of the settings pg_dump writes (standard_conforming_strings only on:
// the split depends on it), SELECT pg_catalog.set_config('search_path', '', false), CREATE,
// ALTER, COMMENT, SECURITY LABEL, GRANT/REVOKE on objects, and REFRESH MATERIALIZED VIEW
// <name> (the post-data section's refresh of a view populated on the Primary; not CONCURRENTLY,
// not WITH [NO] DATA). Refused (kProtocol, naming the
// statement's number and first words): anything else (COPY, DO, LOAD, COMMIT, INSERT, ...),
// CREATE/ALTER of roles, users, groups, databases, the system, tablespaces, subscriptions,
// publications, servers, foreign-data wrappers, languages and event triggers, ALTER EXTENSION,
// any statement naming hasync's state schema outside a literal or body, a NUL byte, a
// backslash outside a literal (a psql meta-command), and an unterminated literal or comment.
// Skipped: CREATE EVENT TRIGGER of hasync's own trigger (snapshot/publications.h).
Result<std::vector<ScriptStatement>> CheckSchemaScript(std::string_view script);

// The statements joined back into one script for the server.
std::string JoinStatements(const std::vector<ScriptStatement>& statements);

}  // namespace hasync::engine
