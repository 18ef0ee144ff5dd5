// Pieces both sides of a sync share: the hello exchange and the version gate, the state-folder
// layout, error frames.
#pragma once

#include <mutex>
#include <string>

#include "common/env.h"
#include "engine/protocol.h"
#include "engine/settings.h"
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

// Sends a kError frame (best effort: the channel may already be gone).
void SendError(transport::Channel& ch, transport::FrameEncoder& enc, const Status& st);
// Turns a kError frame from the peer into a Status with the peer's code.
Status PeerError(const transport::Frame& f, const char* peer_role);

// Encodes m and writes it as one frame.
template <typename Msg>
Status SendMsg(transport::Channel& ch, transport::FrameEncoder& enc, MsgType type, const Msg& m) {
  Encoder e;
  Encode(m, e);
  return transport::WriteFrame(ch, enc, static_cast<uint8_t>(type), e.view());
}

std::string ManifestPath(const Settings& s, const std::string& role, const std::string& root_name);

}  // namespace hasync::engine
