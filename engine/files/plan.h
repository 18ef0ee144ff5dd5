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

// Checks the Primary's entries for one root. kUnsafePath or kProtocol on the first bad one.
Status ValidateRemoteList(const std::vector<WireEntry>& entries);

struct PlanOptions {
  bool compare_owner = false;  // running as root: ownership is replicated
};

// Appends the actions that turn `local` into `remote` for root index `root`, in an order the
// journal can use: removals deepest first, then directories, content, links, metadata.
void PlanRoot(uint32_t root, const RootPlan& plan, const PlanOptions& options,
              std::vector<Action>& out);

// "+ path", "~ path", "- path", "m path" lines for --dry-run.
std::string DescribeAction(const Action& a, const std::string& root_name);

}  // namespace hasync::engine
