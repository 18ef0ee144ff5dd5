// The hello both sides of every session exchange first, and the version gate that judges the
// peer's: protocol and software versions, clock skew (DESIGN.md, "One sync", step 2), and the
// name the peer's key is bound to.
#pragma once

#include <string>
#include <utility>

#include "common/env.h"
#include "engine/config/settings.h"
#include "engine/state/node_state.h"
#include "engine/wire/peer_link.h"
#include "engine/wire/protocol.h"
#include "transport/channel.h"
#include "transport/frame.h"
#include "transport/frame_io.h"

namespace hasync::engine {

// This node's hello: versions, clock, and its lineage and role from the node state. The serve
// side also judges its own health (`judge_health`), so a Secondary's heartbeat sees what the
// load balancer sees: a Primary or Active node with status pages serves only while its daemon
// holds engine/state/daemon_lock.h's lock and beats; with client connections disabled it
// is draining on purpose, which is not a failure.
Result<Hello> MakeHello(const Settings& s, bool judge_health = false);
// The judgement alone (Hello's health and health_detail).
std::pair<NodeHealth, std::string> JudgeHealth(const Settings& s, const NodeInfo& n);
// The version gate: any difference in protocol or software version is refused with one
// message naming both sides' values, and so are clocks more than max_skew_s seconds apart
// (0: unchecked).
Status CheckPeerHello(const Hello& mine, const Hello& peer, int64_t max_skew_s);

// The Secondary's opening: its hello sent, the peer's read and decoded. A peer that wrote
// something (not a hasync frame, its own error) and exited before reading ours fails with what
// it wrote, not with the broken pipe our send noticed first (which one notices is a race).
Result<Hello> ExchangeHello(PeerLink& link, const Hello& mine);

// The serve side's binding of the peer's ssh key to a node name (`serve --peer`, written by
// `hasync trust add` into the forced command): the name a hello claims picks the replication
// slot and the "last synchronized" record, so a key trusted for one node must not speak as
// another.
struct PeerBinding {
  std::string peer;             // the bound node name; empty: not bound
  bool refuse_unbound = false;  // started by sshd without --peer: an old authorized_keys line
};
// kAuth, naming both names, when the claimed name is not the bound one; kAuth, saying to run
// `hasync trust add` again, for an unbound line sshd started; else Ok.
Status CheckPeerBinding(const PeerBinding& binding, const std::string& claimed);

}  // namespace hasync::engine
