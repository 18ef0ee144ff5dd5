// Hello and version gate, error frames.
#include "engine/session_common.h"

#include <chrono>

#include "engine/node_state.h"

namespace hasync::engine {

Result<Hello> MakeHello(const Settings& s) {
  Hello h;
  h.software_version = s.software_version;
  h.node_name = s.node_name;
  HASYNC_ASSIGN_OR_RETURN(auto state, NodeState::Open(s));
  HASYNC_ASSIGN_OR_RETURN(NodeInfo n, state->Get());
  h.lineage = n.lineage;
  h.primary = n.mode == Mode::kPrimary;
  h.active = n.status == NodeStatus::kActive;
  h.ha_enabled = n.ha_enabled;
  h.superseded = !n.superseded.empty();
  h.clock_ns = std::chrono::duration_cast<std::chrono::nanoseconds>(
                   std::chrono::system_clock::now().time_since_epoch())
                   .count();
  return h;
}

Status CheckPeerHello(const Hello& mine, const Hello& peer, int64_t max_skew_s) {
  if (mine.protocol_version != peer.protocol_version) {
    return Status(Code::kVersion, "protocol version mismatch: this node (" + mine.node_name +
                                      ") speaks " + std::to_string(mine.protocol_version) +
                                      ", the peer (" + peer.node_name + ") speaks " +
                                      std::to_string(peer.protocol_version));
  }
  int64_t skew = mine.clock_ns - peer.clock_ns;
  if (skew < 0) skew = -skew;
  if (max_skew_s > 0 && skew > max_skew_s * 1000000000) {
    return Status(Code::kClockSkew, "clock skew of " + std::to_string(skew / 1000000000) +
                                        " s between this node (" + mine.node_name +
                                        ") and the peer (" + peer.node_name + ") exceeds " +
                                        std::to_string(max_skew_s) +
                                        " s; both servers must have the same clock time (use NTP)");
  }
  if (mine.software_version != peer.software_version) {
    return Status(Code::kVersion, "software version mismatch: this node (" + mine.node_name +
                                      ") runs " + mine.software_version + ", the peer (" +
                                      peer.node_name + ") runs " + peer.software_version +
                                      "; both servers must run the same release");
  }
  return Status::Ok();
}

void SendError(transport::Channel& ch, transport::FrameEncoder& enc, const Status& st) {
  ErrorMsg m{static_cast<uint32_t>(st.code()), st.message()};
  (void)SendMsg(ch, enc, MsgType::kError, m);
}

Status PeerError(const transport::Frame& f, const char* peer_role) {
  auto m = DecodeError(f.payload);
  if (!m.ok()) return m.status();
  Code code = Code::kPeer;
  switch (static_cast<Code>(m->code)) {
#define HASYNC_X(name, value, text) \
  case Code::name:                  \
    code = Code::name;              \
    break;
    HASYNC_ERROR_CODES(HASYNC_X)
#undef HASYNC_X
  }
  if (code == Code::kOk) code = Code::kPeer;
  return Status(code, std::string("the ") + peer_role + " reported: " + m->message);
}

std::string ManifestPath(const Settings& s, const std::string& role, const std::string& root_name) {
  return s.state_dir + "/manifests/" + role + "-" + root_name + ".manifest";
}

}  // namespace hasync::engine
