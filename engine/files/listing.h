// The Primary's list of a root: what the Secondary must end up with, built from the Primary's
// scan. Hard links are found here (the second path of an inode names the first). Pure: the
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

RootListing ListRoot(const snapshot::Manifest& manifest);

}  // namespace hasync::engine
