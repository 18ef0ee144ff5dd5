// FirstListDifference: a fresh scan of the root (no cache), or the sync's own scan of a root the
// commit did not change, compared entry by entry.
#include "engine/files/list_check.h"

#include <map>
#include <set>
#include <string_view>

#include "common/hash.h"
#include "snapshot/scanner.h"

namespace hasync::engine {

Result<std::string> FirstListDifference(Env& env, const FileRootSettings& r, uint32_t index,
                                        const std::vector<WireEntry>& remote,
                                        const std::vector<std::unique_ptr<FileJob>>& jobs,
                                        const ListCheckOptions& o) {
  std::map<std::string_view, const FileJob*> job_of;
  for (const auto& j : jobs) {
    if (j->action->root == index) job_of[j->action->path] = j.get();
  }
  snapshot::ScanOptions so{.filter = snapshot::Filter(r.include, r.exclude),
                           .cache = nullptr,
                           .rehash_all = o.full,
                           .hash_uncached = o.full,
                           // Compared below: paths, types, sizes and contents; attributes
                           // are not (reading them costs three calls per entry).
                           .read_xattrs = false,
                           .threads = o.threads};
  snapshot::ScanResult scan;
  if (o.unchanged_scan == nullptr || o.full) {
    HASYNC_ASSIGN_OR_RETURN(scan, snapshot::ScanRoot(env, r.root, so));
  }
  const snapshot::Manifest& mine =
      o.unchanged_scan != nullptr && !o.full ? *o.unchanged_scan : scan.manifest;
  std::set<std::string_view> listed;
  for (const WireEntry& e : remote) {
    listed.insert(e.path);
    uint64_t size = e.size;
    uint64_t digest = e.digest;
    bool known = e.hashed;
    if (auto jt = job_of.find(e.path); jt != job_of.end()) {
      if (jt->second->vanished) continue;
      size = jt->second->size;
      digest = FileDigest(jt->second->hashes, size);
      known = jt->second->hashes.size() == snapshot::BlockCount(size);
    }
    const snapshot::Entry* m = mine.Find(e.path);
    std::string what = m == nullptr                                          ? "missing"
                       : m->type != e.type                                   ? "type"
                       : m->type == FileType::kRegular && m->size != size    ? "size"
                       : o.full && known && m->hashed && m->digest != digest ? "content"
                                                                             : "";
    if (!what.empty()) return r.name + ":" + e.path + " (" + what + ")";
  }
  for (const auto& m : mine.entries()) {
    if (!listed.count(m.path)) return r.name + ":" + m.path + " (not on the Primary)";
  }
  return std::string();
}

}  // namespace hasync::engine
