// Entry-by-entry comparison of two sorted manifests.
#include "verify/manifest_diff.h"

namespace hasync::verify {

std::vector<Difference> DiffManifests(const snapshot::Manifest& left,
                                      const snapshot::Manifest& right, const DiffOptions& o) {
  std::vector<Difference> out;
  for (const auto& l : left.entries()) {
    const snapshot::Entry* r = right.Find(l.path);
    if (r == nullptr) {
      out.push_back({l.path, "missing on the right"});
      continue;
    }
    if (l.type != r->type) {
      out.push_back({l.path, "type"});
      continue;
    }
    if (l.type == FileType::kRegular && (l.size != r->size || l.digest != r->digest)) {
      out.push_back({l.path, "content"});
    }
    if (l.type == FileType::kSymlink && l.link_target != r->link_target) {
      out.push_back({l.path, "symlink target"});
    }
    if (l.type != FileType::kSymlink && l.mode != r->mode) out.push_back({l.path, "mode"});
    if (o.compare_mtime && l.mtime_ns != r->mtime_ns) out.push_back({l.path, "mtime"});
    if (o.compare_owner && (l.uid != r->uid || l.gid != r->gid)) out.push_back({l.path, "owner"});
  }
  for (const auto& r : right.entries()) {
    if (left.Find(r.path) == nullptr) out.push_back({r.path, "missing on the left"});
  }
  return out;
}

}  // namespace hasync::verify
