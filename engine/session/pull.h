// The Secondary's side of a sync (`hasync sync`): start the channel, pass the version gate,
// compare the Primary's list with its own scan, receive and verify every block, stage, and
// commit atomically through the journal.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "common/env.h"
#include "engine/config/settings.h"
#include "engine/db/db_apply.h"
#include "engine/state/node_state.h"
#include "engine/wire/db_protocol.h"
#include "engine/wire/protocol.h"

namespace hasync::engine {

struct SyncOptions {
  std::string transport_command;  // started with /bin/sh -c; its stdio is the channel
  bool dry_run = false;
  bool rehash_all = false;  // --checksum
  bool full_db = false;     // --full-db: copy the database whole, not its changes
  bool progress = false;    // report on stderr while it runs
  // --force: sync even from a source of an older or diverged generation (invariant 8),
  // discarding what only this node has.
  bool force_generation = false;
  // After the source's hello, before anything is written: the node's own judgement of the
  // source (with [failover] etcd, the daemon checks it is the leader key's holder). Null: none.
  std::function<Status(const Hello& source)> judge_source;
  std::string verify_level;        // "": [sync] verify; else none | counts | full
  std::vector<DbRange> db_repair;  // `verify --repair`: key ranges to copy again
  Env* env = nullptr;              // default: Env::Default()
};

// SyncTotals (engine/state/node_state.h: duration, bytes on the wire and changed, files
// changed and deleted, the verification level that passed) and the rest a caller may show.
struct SyncSummary : SyncTotals {
  uint64_t files_scanned = 0;  // regular files on the Primary
  uint64_t bytes_scanned = 0;
  uint64_t dirs_created = 0;
  uint64_t meta_changed = 0;
  uint64_t vanished = 0;   // files gone on the Primary between its scan and their transfer
  bool recovered = false;  // a crashed sync's journal was rolled forward first
  // The check after the commit: roots it scanned again whole, and otherwise the entries it looked
  // at again (what the commit touched; the rest of the sync's own scan stood).
  uint32_t verify_rescanned_roots = 0;
  uint64_t verify_looked_again = 0;
  // This node's roots scanned through the change feed (only the folders changed since the last
  // scan walked: engine/files/tracked_scan.h); the others were walked whole.
  uint32_t roots_scanned_by_changes = 0;
  std::vector<std::string> actions;                    // --dry-run: what would change
  std::vector<std::pair<std::string, double>> phases;  // wall seconds per phase, in order
  bool database = false;                               // the database was synced (DbSummary below)
  DbSummary db;
  // The full copy was asked for (--full-db) or is the first: not news (invariant 4 is about
  // the others: a slot lost or missing).
  bool db_full_expected = false;
  Lineage source_lineage;          // the source's generations: this node adopts them on commit
  int64_t source_epoch = 0;        // and its fencing epoch
  std::string generation_warning;  // what --force discarded
};

Result<SyncSummary> RunSync(const Settings& settings, const SyncOptions& options);

// Starts the channel, exchanges hello and runs the version gate, then says bye: what
// `hasync trust test` checks. Returns the peer's hello.
Result<Hello> TestChannel(const Settings& settings, const std::string& transport_command);

}  // namespace hasync::engine
