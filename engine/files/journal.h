// Journal: the Secondary's atomic commit (DESIGN.md, "Atomic commit on the Secondary"). A sync
// stages every new file inside its root, then writes the list of operations that put them in
// place into one fsynced file; renaming that file to `journal` is the commit point. Rolling
// forward executes the operations, each idempotent, so a crash at any moment leaves the tree at
// the old sync point (no journal) or heading to the new one (journal present: start-up rolls it
// forward). engine/FORMAT.md describes the layout.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "common/beneath.h"
#include "common/env.h"
#include "common/status.h"

namespace hasync::engine {

enum class OpKind : uint8_t {
  kRemove = 1,       // remove path if it still has `type`
  kMkdir = 2,        // create directory path
  kRename = 3,       // move staged `source` to path
  kLink = 4,         // make path a hard link of `source` (through `temp`)
  kWriteBlocks = 5,  // copy runs from the redo file `source` into path, in place
  kMeta = 6,         // set mode, owner, mtime of path
};

struct BlockRun {
  uint64_t offset = 0;  // in the target file
  uint64_t length = 0;
  uint64_t redo_offset = 0;  // in the redo file
};

struct JournalOp {
  OpKind kind = OpKind::kMeta;
  uint32_t root = 0;  // index into Journal::roots: the root path must stay inside
  std::string path;   // absolute
  std::string source;
  std::string temp;
  FileType type = FileType::kRegular;
  uint32_t mode = 0;
  bool set_owner = false;
  uint32_t uid = 0;
  uint32_t gid = 0;
  int64_t mtime_ns = 0;
  std::vector<BlockRun> runs;
  bool set_xattrs = false;  // kMeta: the entry's managed attributes become exactly `xattrs`
  XattrList xattrs;
};

// A root's own metadata once the sync is over: creating and removing its staging folder
// changes the root's mtime, so it is set last, through the root's handle. `after` (the
// Primary's) when the sync is rolled forward; `before` (the root's own before the sync, mode
// and mtime) when it is discarded.
struct RootMetaChange {
  uint32_t root = 0;  // index into Journal::roots
  MetaOptions after;
  MetaOptions before;
};

// Sets the root's mode, owner (when asked) and mtime through its handle, then fsyncs it; does
// nothing when they are already so (a no-change sync writes nothing).
Status ApplyRootMeta(const RootDir& root, const MetaOptions& meta);

struct Journal {
  uint64_t sync_id = 0;
  // The commit point is the database's commit recording sync_id, not this file's rename: on
  // recovery the journal is rolled forward only if the database recorded it.
  bool db_commit = false;
  std::vector<std::string> roots;         // absolute root paths
  std::vector<std::string> staging_dirs;  // removed once rolled forward
  std::vector<JournalOp> ops;
  std::vector<RootMetaChange> root_meta;  // applied after the staging folders are removed

  std::vector<std::byte> Serialize() const;
  // Refuses (kUnsafePath) a journal whose operations reach outside their roots: every path
  // inside its op's root; a rename's or in-place write's source inside that root's staging
  // folder (<root>/.hasync-staging); a hard link's source inside its root and its temporary
  // in the staging folder; no source where the operation takes none; staging folders that are
  // <root>/.hasync-staging of one of its roots. Damage is kIo.
  static Result<Journal> Parse(std::span<const std::byte> data);
};

// Paths of the journal inside a state folder.
std::string JournalPath(const std::string& state_dir);

// Writes the journal durably and renames it into place: after this returns ok, the sync is
// committed. REQUIRES: every staged file is already durable (SyncFs).
Status CommitJournal(Env& env, const std::string& state_dir, const Journal& journal);

// What a roll-forward left alone.
struct ApplyReport {
  // Operations whose entry a local user changed since the scan (a file replaced by a directory
  // or a symlink, a symlink in its path): skipped with a warning; the next sync re-plans them.
  uint64_t skipped_changed = 0;
};

// Executes every operation, syncs the roots, removes the staging folders and the journal.
// Safe to run again after a crash at any point inside it. Each root is opened once and every
// path resolved beneath its handle (common/beneath.h): a symlink in the middle of a path fails
// the operation with kUnsafePath; an entry of another type than planned is skipped and counted.
// `resolve` picks the resolver (tests run both; the default is DefaultResolver()).
Result<ApplyReport> ApplyJournal(Env& env, const std::string& state_dir, const Journal& journal,
                                 const RootOptions& resolve = {});
// ApplyJournal without the report.
Status RollForward(Env& env, const std::string& state_dir, const Journal& journal);

struct RecoverOptions {
  // The configured roots (absolute, as the settings give them). A journal naming any other
  // root, or a staging folder other than <root>/.hasync-staging of its roots, is forged (the
  // serve side's account, say, could write the state folder): it is refused and quarantined.
  std::vector<std::string> roots;
  // The sync id the database last committed (journals with db_commit need it).
  std::function<Result<uint64_t>()> db_committed_sync;
};

struct Recovery {
  bool rolled_forward = false;  // a committed journal left by a crash was finished
  std::string quarantined;      // where an unusable journal was moved aside, or ""
};

// At start-up: rolls forward a committed journal left by a crash and removes an uncommitted
// one. A journal that cannot be used (damaged, forged, or failing to roll forward) never blocks
// every later sync: it is moved aside to <state_dir>/journal.quarantined-<unix time>, with an
// error in the log naming it, and Recovery::quarantined says where; nothing it names is
// touched (its staging folders, under the configured roots, are cleared by the next sync's
// staging as any leftover is), and the sync goes on to plan from what is on disk. Errors
// returned are this node's own (a state folder it cannot read or write, a database it cannot
// ask), which the next run may not have.
Result<Recovery> RecoverJournal(Env& env, const std::string& state_dir,
                                const RecoverOptions& options);

// Checks a parsed journal against the configured roots (RecoverOptions::roots): kUnsafePath
// naming the first root or staging folder that is not one of them.
Status CheckJournalRoots(const Journal& journal, const std::vector<std::string>& roots);

}  // namespace hasync::engine
