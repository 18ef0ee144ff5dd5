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
#include "engine/files/receiver.h"
#include "engine/wire/protocol.h"
#include "snapshot/manifest.h"

namespace hasync::engine {

struct ListCheckOptions {
  bool full = false;     // re-read and compare contents too
  unsigned threads = 1;  // for the scan
  // "counts" (and "sample", whose file check is the same): this sync's own scan of the root, taken
  // before a commit that changed nothing in it (no action for the root). Its paths, types and sizes
  // are what the plan already compared with the list, so the check reuses them instead of scanning
  // again.
  const snapshot::Manifest* unchanged_scan = nullptr;
};

// The first difference as "<root name>:<path> (<what>)", or "" when the root matches.
Result<std::string> FirstListDifference(Env& env, const FileRootSettings& root, uint32_t index,
                                        const std::vector<WireEntry>& remote,
                                        const std::vector<std::unique_ptr<FileJob>>& jobs,
                                        const ListCheckOptions& options);

}  // namespace hasync::engine
