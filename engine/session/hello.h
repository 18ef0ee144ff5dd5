// The hello both sides of every session exchange first, and the version gate that judges the
// peer's: protocol and software versions, clock skew (DESIGN.md, "One sync", step 2).
#pragma once

#include <string>

#include "common/env.h"
#include "engine/config/settings.h"
#include "engine/wire/peer_link.h"
#include "engine/wire/protocol.h"
#include "transport/channel.h"
#include "transport/frame.h"
#include "transport/frame_io.h"

namespace hasync::engine {

// This node's hello: versions, clock, and its lineage and role from the node state.
Result<Hello> MakeHello(const Settings& s);
// The version gate: any difference in protocol or software version is refused with one
// message naming both sides' values, and so are clocks more than max_skew_s seconds apart
// (0: unchecked).
Status CheckPeerHello(const Hello& mine, const Hello& peer, int64_t max_skew_s);

}  // namespace hasync::engine
