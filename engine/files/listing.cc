// ListRoot: one wire entry per manifest entry; a regular file with more than one link whose
// inode was already listed becomes a link to its first path.
#include "engine/files/listing.h"

#include <utility>

#include "engine/files/owner_names.h"

namespace hasync::engine {

RootListing ListRoot(const snapshot::Manifest& manifest, NameLookup* names) {
  RootListing out;
  std::map<std::pair<uint64_t, uint64_t>, std::string> first_path;
  out.entries.reserve(manifest.entries().size());
  for (const snapshot::Entry& e : manifest.entries()) {
    WireEntry w{.path = e.path,
                .type = e.type,
                .mode = e.mode,
                .uid = e.uid,
                .gid = e.gid,
                .size = e.size,
                .mtime_ns = e.mtime_ns,
                .link_target = e.link_target,
                .hardlink_to = "",
                .hashed = e.hashed,
                .digest = e.digest,
                .xattrs = e.xattrs,
                .names = {}};
    if (names != nullptr) AttachNames(w, *names);
    if (e.type == FileType::kRegular && e.nlink > 1) {
      auto [it, fresh] = first_path.emplace(std::make_pair(e.device, e.inode), e.path);
      if (!fresh) {
        w.hardlink_to = it->second;
        out.hardlink_to[e.path] = it->second;
      }
    }
    out.entries.push_back(std::move(w));
  }
  return out;
}

}  // namespace hasync::engine
