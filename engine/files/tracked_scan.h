// A root's scan as both sides run it: only the folders the daemon's change feed reports as
// changed since the cache's scan (engine/files/change_feed.h), or the whole root when the feed
// cannot vouch for the gap, when the cache is untracked, of another generation or from before
// attributes were kept, and at least every [sync] full_scan_every (writes through a shared
// mmap raise no inotify event: this walk is what catches them).
#pragma once

#include <string>

#include "common/env.h"
#include "engine/config/settings.h"
#include "snapshot/scanner.h"

namespace hasync::engine {

struct TrackedScan {
  snapshot::ScanResult scan;  // its manifest carries the mark the next scan asks with
  // Why the whole root was walked (for the log), or empty when only changed folders were.
  std::string walked_all_because;
  // The mark differs from the cache's: save the manifest even if no entry changed.
  bool mark_moved = false;
};

// Scans root r with options o and `cache`, the previous manifest (or an empty one), whose
// unchanged entries it takes (o.cache is ignored).
Result<TrackedScan> ScanTracked(Env& env, const Settings& s, const FileRootSettings& r,
                                snapshot::ScanOptions o, snapshot::Manifest cache);

}  // namespace hasync::engine
