// The Primary's side of a sync (`hasync serve --stdio`): answers the Secondary's hello, lists
// its roots, and streams what the Secondary asks for. Read-only towards the roots: it reads only
// files its own scan listed, and writes nothing but its manifests in its state folder.
#pragma once

#include "common/env.h"
#include "engine/config/settings.h"
#include "transport/channel.h"

namespace hasync::engine {

struct ServeOptions {
  Env* env = nullptr;
};

// Runs one sync session on channel; returns when the Secondary has committed or gone away.
Status RunServe(const Settings& settings, transport::Channel& channel, const ServeOptions& options);

}  // namespace hasync::engine
