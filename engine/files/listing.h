// The Primary's list of a root: what the Secondary must end up with, built from the Primary's
// scan, with each entry's extended attributes and ACLs. Hard links are found here (the second
// path of an inode names the first). Pure but for the name lookups: the
// serve session scans and sends; this decides what the list says.
#pragma once

#include <functional>
#include <map>
#include <string>
#include <vector>

#include "engine/wire/protocol.h"
#include "snapshot/manifest.h"

namespace hasync::engine {

struct RootListing {
  std::vector<WireEntry> entries;  // in the manifest's (sorted) order
  // path -> the earlier path of the same root it is a hard link to
  std::map<std::string, std::string, std::less<>> hardlink_to;
};

class NameLookup;
// names: set when the Secondary asked for owner names (ListRequest::owner_names): each entry
// then names the ids it mentions (engine/files/owner_names.h).
RootListing ListRoot(const snapshot::Manifest& manifest, NameLookup* names = nullptr);

}  // namespace hasync::engine
