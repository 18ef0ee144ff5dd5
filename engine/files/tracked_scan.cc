// ScanTracked: the question to the change feed, and the choice between a walk of the changed
// folders and one of the whole root.
#include "engine/files/tracked_scan.h"

#include <sys/stat.h>

#include <ctime>

#include "common/log.h"
#include "engine/files/change_feed.h"

namespace hasync::engine {

Result<TrackedScan> ScanTracked(Env& env, const Settings& s, const FileRootSettings& r,
                                snapshot::ScanOptions o, snapshot::Manifest cache) {
  TrackedScan t;
  const snapshot::ScanMark was = cache.mark();
  snapshot::ScanMark mark;  // untracked unless the feed answers
  int64_t now = std::time(nullptr);
  const uint64_t filter_id = o.filter.Fingerprint();
  std::vector<std::string> dirs;
  if (!s.track_changes) {
    t.walked_all_because = "[sync] track_changes is off";
  } else {
    auto a = AskChanges(s.state_dir, r.name, was.gen, was.seq);
    if (!a.ok()) {
      t.walked_all_because = a.status().message();
    } else if (a->gen == 0) {
      t.walked_all_because = "the daemon does not track this root";
    } else {
      mark = {.gen = a->gen, .seq = a->seq, .full_scan_s = now, .filter_id = filter_id};
      struct stat st {};
      bool same_root =
          ::stat(r.root.c_str(), &st) == 0 && st.st_dev == a->root_dev && st.st_ino == a->root_ino;
      if (!same_root) {
        // Another folder than the daemon watches (the path changed under it, another mount
        // namespace, a root moved in the settings since the daemon started).
        mark = {};
        t.walked_all_because = "the daemon watches another folder than " + r.root;
      } else if (o.rehash_all) {
        t.walked_all_because = "every file is read again (--checksum)";
      } else if (was.gen != a->gen) {
        t.walked_all_because = was.gen == 0 ? "the cache is of an untracked scan"
                                            : "the change tracker started again since";
      } else if (a->full) {
        t.walked_all_because = "too many folders changed";
      } else if (was.filter_id != filter_id) {
        t.walked_all_because = "the root's include or exclude settings changed";
      } else if (!cache.xattrs_known()) {
        t.walked_all_because = "the cache holds no attributes";
      } else if (was.full_scan_s > now || now - was.full_scan_s >= s.full_scan_every_ms / 1000) {
        t.walked_all_because = "the last whole walk is [sync] full_scan_every old";
      } else {
        mark.full_scan_s = was.full_scan_s;
        dirs = std::move(a->dirs);
        o.changed_dirs = &dirs;
      }
    }
  }
  HASYNC_ASSIGN_OR_RETURN(t.scan, snapshot::ScanRootTaking(env, r.root, o, std::move(cache)));
  t.scan.manifest.set_mark(mark);
  // Also when many folders were listed again for nothing (events that changed no entry): the
  // next scan then starts from this mark instead of listing them again.
  t.mark_moved = mark.gen != was.gen || mark.full_scan_s != was.full_scan_s ||
                 mark.filter_id != was.filter_id || t.scan.stats.relisted_dirs > 64;
  auto log = Log("scan");
  if (t.scan.stats.incremental) {
    log->debug("{}: walked {} changed folders of {} entries ({} differ)", r.root,
               t.scan.stats.relisted_dirs, t.scan.manifest.entries().size(),
               t.scan.stats.differing);
  } else {
    log->debug("{}: walked the whole root: {}", r.root, t.walked_all_because);
  }
  return t;
}

}  // namespace hasync::engine
