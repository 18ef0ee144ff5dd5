// Where each side keeps its manifest of a root between syncs (snapshot/FORMAT.md): the cache
// that lets neither side re-read unchanged files.
#pragma once

#include <string>

#include "engine/config/settings.h"

namespace hasync::engine {

// <state_dir>/manifests/<role>-<root name>.manifest; role is "primary" or "secondary".
inline std::string ManifestPath(const Settings& s, const std::string& role,
                                const std::string& root_name) {
  return s.state_dir + "/manifests/" + role + "-" + root_name + ".manifest";
}

}  // namespace hasync::engine
