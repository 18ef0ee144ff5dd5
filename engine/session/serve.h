// The Primary's side of a sync (`hasync serve --stdio`): answers the Secondary's hello, lists
// its roots, and streams what the Secondary asks for. Read-only towards the roots: it reads only
// files its own scan listed, and writes nothing but its manifests in its state folder.
#pragma once

#include "common/env.h"
#include "engine/config/settings.h"
#include "engine/session/hello.h"
#include "transport/channel.h"

namespace hasync::engine {

struct ServeOptions {
  Env* env = nullptr;
  // The node name the ssh key is bound to (`serve --peer`): a hello naming another node is
  // refused (kAuth). No name: any (a channel the operator started, not sshd), unless sshd
  // started it from a line written before the binding (refuse_unbound: every hello refused,
  // saying to run `hasync trust add` again). engine/session/hello.h.
  PeerBinding binding;
};

// Runs one sync session on channel; returns when the Secondary has committed or gone away.
Status RunServe(const Settings& settings, transport::Channel& channel, const ServeOptions& options);

}  // namespace hasync::engine
