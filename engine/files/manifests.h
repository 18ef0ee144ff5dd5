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

// This node's manifest of a root as a Secondary: <state_dir>/manifests/local-<root name>.manifest.
// Root's, in the folder CheckStateFolder vouches for; the sync, verify and repair read it.
inline std::string LocalManifestPath(const Settings& s, const std::string& root_name) {
  return s.state_dir + "/manifests/local-" + root_name + ".manifest";
}

// The serve side's cache of what it last listed: <state_dir>/serve/<root name>.manifest, in a
// folder of the account that serves ([ssh] user), which may be another account than root's.
// Nothing the sync runs as root (pull, recovery, verify, repair) ever reads it.
inline std::string ServeCacheDir(const Settings& s) { return s.state_dir + "/serve"; }
inline std::string ServeManifestPath(const Settings& s, const std::string& root_name) {
  return ServeCacheDir(s) + "/" + root_name + ".manifest";
}

// Whether this process may use the serve cache: creates the folder (0700, this account's) when
// it is missing, then checks it as CheckOwnedPath does. An error says why it is not used: the
// caller scans without the cache (every file hashed afresh) and saves none, and logs the reason.
Status OpenServeCache(Env& env, const Settings& s);

// The Secondary's manifest of root index `root` (at root_path) after the sync: entries the
// sync did not touch keep their local entry; the others are stat'ed again (the cache key) and
// get their hashes from the transfer, or from the local entry when the Primary's digest says
// the content is the same. Hard links carry their target's hashes. Entries that vanished are
// left out (the next scan sees what is there).
snapshot::Manifest NewLocalManifest(Env& env, const std::string& root_path, uint32_t root,
                                    const RootPlan& plan, const std::vector<Action>& actions,
                                    const std::vector<std::unique_ptr<FileJob>>& jobs);

}  // namespace hasync::engine
