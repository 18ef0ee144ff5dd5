// `hasync verify`: proves the Secondary equal to its Primary, or names every difference.
// Files: both sides build a Merkle tree of their hashed manifests; the Secondary asks only for
// the children of directories whose digests differ, then for the block hashes of files whose
// contents differ, and reports the differing block ranges. Database (engine/table_check.h):
// the Primary pins a point (a temporary slot's exported snapshot), sends the changes since the
// Secondary's last sync up to that point and its table checks there; the Secondary applies
// the changes in a transaction, checks its tables inside it, and rolls back. Both sides are
// compared at the same point however busy the Primary is, and nothing changes on either.
// Holds the sync lock, so no sync runs meanwhile.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "common/status.h"
#include "engine/config/settings.h"
#include "engine/wire/db_protocol.h"
#include "engine/wire/peer_link.h"
#include "engine/wire/verify_protocol.h"
#include "transport/channel.h"
#include "transport/frame_io.h"
#include "verify/merkle.h"
#include "verify/table_check.h"

namespace hasync::engine {

struct VerifyOptions {
  std::string transport_command;  // started with /bin/sh -c; its stdio reaches `serve --stdio`
  bool rehash_all = false;        // --checksum: re-read every file on both sides
};

struct VerifyReport {
  struct Root {
    std::string name;
    bool equal = true;
    uint64_t primary_entries = 0;
    uint64_t secondary_entries = 0;
    int rounds = 0;  // directory levels descended
    std::vector<verify::TreeDifference> differences;
  };
  using Table = verify::TableComparison;
  std::string primary;
  std::vector<Root> roots;
  bool database = false;
  std::vector<Table> tables;
  double duration_s = 0;
  bool equal() const;
};

Result<VerifyReport> RunVerify(const Settings& s, const VerifyOptions& o);

// `verify --repair`: what the repairing sync re-syncs. Differing files are dropped from this
// node's manifest cache, so the sync re-reads them and fetches only the blocks that differ;
// differing key ranges are copied again at the Primary's pinned point; a table that differs
// with no key range to narrow it to (no one-column key) makes it a full database copy.
struct RepairPlan {
  std::vector<DbRange> ranges;
  bool full_db = false;
  size_t files = 0;
  std::vector<std::string> notes;  // what will be repaired, for the operator
};
Result<RepairPlan> PrepareRepair(const Settings& s, const VerifyReport& v);

// The Primary's side, after hello, given the verify request frame's payload.
// peer_node: the Secondary's name (its replication slot is hasync_<peer_node>).
Status ServeVerify(const Settings& s, PeerLink& link, const VerifyRequest& req,
                   const std::string& peer_node);

}  // namespace hasync::engine
