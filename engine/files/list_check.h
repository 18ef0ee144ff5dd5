// The check after a verified sync's commit: this node's root against the Primary's list
// ("counts": paths, types and sizes; "full": every file re-read and compared with the Primary's
// digest). A file transferred in this sync is judged by what arrived (it may have changed on
// the Primary since its scan); one that vanished there meanwhile was left as it was.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "common/env.h"
#include "engine/config/settings.h"
#include "engine/files/plan.h"
#include "engine/files/receiver.h"
#include "engine/wire/protocol.h"
#include "snapshot/manifest.h"

namespace hasync::engine {

struct ListCheckOptions {
  bool full = false;     // re-read and compare contents too
  unsigned threads = 1;  // for the scan
  // "counts" (and "sample", whose file check is the same): this sync's own scan of the root,
  // taken before the commit, and the sync's actions (of every root; those of this one count).
  // Paths, types and sizes of what no action touched are what the plan already compared with the
  // list, so only the paths the commit touched, and whatever was beneath a directory it removed,
  // are looked at again. Null, or more touched paths than kMaxLookedAgain allows: a fresh scan.
  const snapshot::Manifest* scan_before = nullptr;
  const std::vector<Action>* actions = nullptr;
};

struct ListCheck {
  std::string difference;     // "<root name>:<path> (<what>)", or "" when the root matches
  bool rescanned = false;     // a fresh scan of the whole root
  uint64_t looked_again = 0;  // else: the entries stat-ed again
};

// Beyond this many entries to look at again (or a tenth of the list, if more) one scan of the
// root is cheaper than a look at each (a look opens the parent directory).
constexpr uint64_t kMaxLookedAgain = 2048;

Result<ListCheck> CheckAgainstList(Env& env, const FileRootSettings& root, uint32_t index,
                                   const std::vector<WireEntry>& remote,
                                   const std::vector<std::unique_ptr<FileJob>>& jobs,
                                   const ListCheckOptions& options);

}  // namespace hasync::engine
