// The manifests each side keeps of a root between syncs (snapshot/FORMAT.md): where they live,
// and the Secondary's new one after a sync, built from the Primary's list, the transfer's
// hashes and this node's own stat data, so the next sync re-reads nothing unchanged.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "common/env.h"
#include "engine/config/settings.h"
#include "engine/files/plan.h"
#include "engine/files/receiver.h"
#include "snapshot/manifest.h"

namespace hasync::engine {

// <state_dir>/manifests/<role>-<root name>.manifest
inline std::string ManifestPath(const Settings& s, const std::string& role,
                                const std::string& root_name) {
  return s.state_dir + "/manifests/" + role + "-" + root_name + ".manifest";
}

// The Secondary's manifest of root index `root` (at root_path) after the sync: entries the
// sync did not touch keep their local entry; the others are stat'ed again (the cache key) and
// get their hashes from the transfer, or from the local entry when the Primary's digest says
// the content is the same. Hard links carry their target's hashes. Entries that vanished are
// left out (the next scan sees what is there).
snapshot::Manifest NewLocalManifest(Env& env, const std::string& root_path, uint32_t root,
                                    const RootPlan& plan, const std::vector<Action>& actions,
                                    const std::vector<std::unique_ptr<FileJob>>& jobs);

}  // namespace hasync::engine
