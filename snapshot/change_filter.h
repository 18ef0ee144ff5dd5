// Which of a logical slot's decoded messages reach the Secondary, and where this sync's stream
// ends. Pure (no PostgreSQL), so the scope filter and the end rules are tested on their own; the
// replication stream that feeds it is change_stream.h, and pg_source.h runs the two together.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>

#include "common/status.h"
#include "snapshot/db_catalog.h"
#include "snapshot/pg.h"
#include "snapshot/pgoutput.h"

namespace hasync::snapshot {

// The prefix of the transactional message that marks a sync's point (pg_logical_emit_message).
constexpr char kMarkerPrefix[] = "hasync";
// A refresh of a materialized view on the Primary (publications.h's event trigger): the view's
// OID as text.
constexpr char kRefreshPrefix[] = "hasync.refresh";

struct ChangeFilterOptions {
  DbScope scope;      // tables outside it never reach the Secondary
  std::string token;  // this sync's marker: a message kMarkerPrefix / token
  // A pinned point (a temporary slot's consistent point), or 0: the stream ends at the first
  // transaction that commits at or past it, so only what the pinned snapshot shows is sent.
  Lsn bound = 0;
};

// Not thread-safe. Feed it the slot's messages in stream order until done().
//
// Forwarded: relations of tables in scope; inserts, updates and deletes of those relations;
// truncates reduced to their tables in scope (dropped when none is); the commit of a transaction
// that forwarded a change (empty transactions are not sent). The stream ends (done(), end_lsn())
// at the commit of the transaction holding this sync's marker (its end LSN), or at the begin of
// a transaction committing at or past the bound (the bound itself).
class ChangeFilter {
 public:
  explicit ChangeFilter(ChangeFilterOptions options) : options_(std::move(options)) {}

  // m when the Secondary gets it (a truncate possibly reduced), nullopt when not; kDatabase for
  // a change to a relation the stream has not described.
  // REQUIRES: !done().
  Result<std::optional<PgMessage>> Add(PgMessage m);

  bool done() const { return end_lsn_ != 0; }
  // Where the Secondary is once it has applied what was forwarded; 0 until done().
  Lsn end_lsn() const { return end_lsn_; }
  uint64_t transactions() const { return transactions_; }  // commits forwarded
  uint64_t changes() const { return changes_; }            // row changes and truncates forwarded
  // The OIDs of the materialized views refreshed in the window, in OID order.
  const std::set<uint32_t>& refreshed() const { return refreshed_; }

 private:
  ChangeFilterOptions options_;
  std::map<uint32_t, bool> in_scope_;  // the Primary's relation OID -> replicated
  bool txn_changed_ = false;
  bool marker_ = false;
  Lsn end_lsn_ = 0;
  uint64_t transactions_ = 0;
  uint64_t changes_ = 0;
  std::set<uint32_t> refreshed_;
};

}  // namespace hasync::snapshot
