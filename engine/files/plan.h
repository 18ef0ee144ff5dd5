// Plan: validates the Primary's list of a root (every path confined, sorted, parents present)
// and compares it with the Secondary's own scan into what must happen: files to request,
// things to remove, create, link or re-stamp.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "common/env.h"
#include "engine/files/journal.h"
#include "engine/wire/protocol.h"
#include "snapshot/filter.h"
#include "snapshot/manifest.h"

namespace hasync::engine {

// Files at least this large whose size did not change are patched in place through the redo
// log instead of being copied whole into staging.
constexpr uint64_t kInPlaceMinSize = 4ull << 20;

enum class ActionKind { kRemove, kMkdir, kFile, kSymlink, kLink, kMeta };

struct Action {
  ActionKind kind;
  uint32_t root = 0;
  std::string path;                    // relative
  FileType type = FileType::kRegular;  // kRemove: the type found locally
  const WireEntry* remote = nullptr;   // what to end up with (all but kRemove)
  const snapshot::Entry* local = nullptr;
  RequestKind request = RequestKind::kWhole;  // kFile
  bool in_place = false;                      // kFile
};

struct RootPlan {
  std::vector<WireEntry> remote;
  snapshot::Manifest local;
};

// The largest file this node can receive: its block hashes (8 bytes per 8 KiB block, held a
// few times over while a file is requested and received) must fit in a quarter of this
// machine's memory. A larger listed size is refused before anything is sized from it.
uint64_t MaxReceivableSize();

struct ListLimits {
  uint64_t max_file_size = MaxReceivableSize();
};

// Checks the Primary's entries for one root. kUnsafePath or kProtocol on the first bad one:
// a path that could escape, unsorted or repeated paths, a missing parent, a bad symlink or hard
// link, a name hasync reserves at the top of a root (its staging folder), a file larger than
// limits.max_file_size.
Status ValidateRemoteList(const std::vector<WireEntry>& entries, const ListLimits& limits = {});

// Applies this node's own include/exclude globs to the Primary's validated list, so that a
// Primary cannot overwrite, create or delete what this node excludes: drops every entry the
// filter excludes and everything below an excluded directory (as the local scan skips them);
// a hard link to a dropped file becomes a file of its own. Returns how many were dropped.
size_t FilterRemoteList(const snapshot::Filter& filter, std::vector<WireEntry>& entries);

struct PlanOptions {
  bool compare_owner = false;  // running as root: ownership is replicated
  // Running as root: security.* and trusted.* are compared too (common/xattr.h XattrManaged).
  bool as_root = false;
};

// Appends the actions that turn `local` into `remote` for root index `root`, in an order the
// journal can use: removals deepest first, then directories, content, links, metadata.
void PlanRoot(uint32_t root, const RootPlan& plan, const PlanOptions& options,
              std::vector<Action>& out);

// "+ path", "~ path", "- path", "m path" lines for --dry-run.
std::string DescribeAction(const Action& a, const std::string& root_name);

}  // namespace hasync::engine
