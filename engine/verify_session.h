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
#include "engine/settings.h"
#include "engine/verify_protocol.h"
#include "transport/channel.h"
#include "transport/frame_io.h"
#include "verify/merkle.h"

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
  struct Table {
    std::string table;
    int64_t primary_rows = -1;  // -1: the table is not on that side
    int64_t secondary_rows = -1;
    bool rows_replicated = true;
    bool equal = true;
    std::string what;  // why not
    // Where, for a table with a one-column key: [from, to) ranges of that key ("": unbounded).
    std::string key;
    std::vector<std::pair<std::string, std::string>> ranges;
  };
  std::string primary;
  std::vector<Root> roots;
  bool database = false;
  std::vector<Table> tables;
  double duration_s = 0;
  bool equal() const;
};

Result<VerifyReport> RunVerify(const Settings& s, const VerifyOptions& o);

// The Primary's side, after hello, given the verify request frame's payload.
// peer_node: the Secondary's name (its replication slot is hasync_<peer_node>).
Status ServeVerify(const Settings& s, transport::Channel& ch, transport::FrameEncoder& enc,
                   transport::FrameDecoder& dec, const VerifyRequest& req,
                   const std::string& peer_node);

}  // namespace hasync::engine
