// The Secondary's database side: applies what the Primary sends (a full copy, or the changes
// since this node's position) inside one transaction, and commits it together with the record
// of the sync and the position reached (hasync.sync_state), so the database is always at one
// sync point. The file journal's commit waits on this commit (DESIGN.md, "Atomic commit").
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "engine/config/settings.h"
#include "engine/wire/db_protocol.h"
#include "engine/wire/peer_link.h"
#include "engine/wire/verify_protocol.h"
#include "transport/frame.h"

namespace hasync::engine {

struct DbSummary {
  bool full = false;
  std::string reason;  // why a full copy
  uint64_t transactions = 0;
  uint64_t changes = 0;  // rows copied (full) or changes applied
  uint64_t end_lsn = 0;
  uint64_t slot_retained_bytes = 0;
  // Incremental: the tables the Primary sent whole, emptied first (unlogged ones, and those
  // without a replica identity since the last sync), "schema.table".
  std::vector<std::string> copied_whole;
  // Incremental: the schema changes carried (schema_plan.h DescribeChange), in order.
  std::vector<std::string> schema_changes;
  // Incremental: the materialized views refreshed because the Primary refreshed them.
  std::vector<std::string> refreshed;
};

struct DbRequestOptions {
  bool force_full = false;  // `hasync sync --full-db`
  // This node's software version now (DbTarget::Request fills it from the settings): when it
  // differs from the one recorded at the last commit, the node was upgraded since and its own
  // migration may have written to its database, so the request asks for a full copy, saying so.
  std::string software_version;
};

class DbTarget {
 public:
  // Connects. hasync's own schema and table are made by the first sync's transaction.
  static Result<std::unique_ptr<DbTarget>> Open(const Settings& s);
  ~DbTarget();

  // The sync id recorded with the last commit (0: none): decides a journal left by a crash.
  Result<uint64_t> CommittedSyncId();
  Result<DbRequest> Request(const DbRequestOptions& options);
  // This node now follows source_node: a slot it kept for that node (when it was that node's
  // Primary) would stream what this node applies back to its origin, so it goes; should the
  // roles swap again, that node gets a full copy ("slot missing"). Returns whether one went.
  Result<bool> DropSlotFor(const std::string& source_node);

  // Reads database begin ... database end and applies it in an open transaction.
  Status Receive(PeerLink& link);
  // Records sync_id and the position reached, and commits: durable when this returns ok.
  Status Commit(uint64_t sync_id);
  // Throws away what Receive applied (also done when destroyed uncommitted).
  void Abort();
  // `hasync verify`: this database's table checks inside the open transaction (after Receive
  // applied the changes up to the Primary's pinned point), in the Primary's key ranges.
  Result<std::vector<TableCheck>> CheckInTransaction(const std::vector<TableCheck>& primary,
                                                     const verify::CheckOptions& options);

  const DbSummary& summary() const;

 private:
  struct Impl;
  explicit DbTarget(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace hasync::engine
