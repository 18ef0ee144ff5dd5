// Hello and the version gate.
#include "engine/session/hello.h"

#include <chrono>
#include <tuple>

#include "common/log.h"
#include "engine/state/daemon_lock.h"
#include "engine/state/node_state.h"

namespace hasync::engine {

std::pair<NodeHealth, std::string> JudgeHealth(const Settings& s, const NodeInfo& n) {
  if (n.mode != Mode::kPrimary && n.status != NodeStatus::kActive) {
    return {NodeHealth::kUnknown, ""};
  }
  if (s.status.listen.empty() && s.status.lb_listen.empty()) {
    return {NodeHealth::kUnknown, "no status pages are configured here"};
  }
  auto daemon = ReadDaemonLiveness(s.state_dir);
  if (!daemon.ok()) {
    return {NodeHealth::kNotServing,
            "its daemon's liveness cannot be read: " + daemon.status().message()};
  }
  if (!daemon->running) {
    return {NodeHealth::kNotServing,
            "its hasync daemon is not running, so nothing answers its /status/status.html"};
  }
  if (daemon->hung()) {
    return {NodeHealth::kNotServing, "its hasync daemon (pid " + std::to_string(daemon->pid) +
                                         ") is hung: no progress for " +
                                         std::to_string(daemon->beat_age_ms / 1000) + " s"};
  }
  if (!n.client_connections) {
    return {NodeHealth::kDraining,
            "client connections are disabled (`failover client-connection disable`)"};
  }
  return {NodeHealth::kServing, ""};
}

Result<Hello> MakeHello(const Settings& s, bool judge_health) {
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
  h.epoch = n.epoch;
  if (judge_health) std::tie(h.health, h.health_detail) = JudgeHealth(s, n);
  h.clock_ns = std::chrono::duration_cast<std::chrono::nanoseconds>(
                   std::chrono::system_clock::now().time_since_epoch())
                   .count();
  return h;
}

// The peer's names reach logs, terminals, the status pages and the node state: they are shown
// through Printable, and a node name that is not one (control characters, a slash) is refused.
Status CheckPeerHello(const Hello& mine, const Hello& peer, int64_t max_skew_s) {
  const std::string peer_name = Printable(peer.node_name);
  if (mine.protocol_version != peer.protocol_version) {
    return Status(Code::kVersion, "protocol version mismatch: this node (" + mine.node_name +
                                      ") speaks " + std::to_string(mine.protocol_version) +
                                      ", the peer (" + peer_name + ") speaks " +
                                      std::to_string(peer.protocol_version));
  }
  int64_t skew = mine.clock_ns - peer.clock_ns;
  if (skew < 0) skew = -skew;
  if (max_skew_s > 0 && skew > max_skew_s * 1000000000) {
    return Status(Code::kClockSkew, "clock skew of " + std::to_string(skew / 1000000000) +
                                        " s between this node (" + mine.node_name +
                                        ") and the peer (" + peer_name + ") exceeds " +
                                        std::to_string(max_skew_s) +
                                        " s; both servers must have the same clock time (use NTP)");
  }
  if (mine.software_version != peer.software_version) {
    return Status(Code::kVersion, "software version mismatch: this node (" + mine.node_name +
                                      ") runs " + mine.software_version + ", the peer (" +
                                      peer_name + ") runs " + Printable(peer.software_version) +
                                      "; both servers must run the same release");
  }
  if (!ValidNodeName(peer.node_name)) {
    return Status(Code::kProtocol, "the peer's hello names node '" + peer_name +
                                       "', which is not a node name (1-64 letters, digits, '-', "
                                       "'_' or '.')");
  }
  return Status::Ok();
}

Result<Hello> ExchangeHello(PeerLink& link, const Hello& mine) {
  Status sent = link.Send(MsgType::kHello, mine);
  auto f = link.Expect(MsgType::kHello);
  if (!sent.ok()) {
    // A peer that wrote something and left before reading ours (garbage, a banner, its own
    // error frame): what it wrote is the cause. Only a peer that said nothing is a broken pipe.
    const bool said_something = f.status().code() != Code::kPeer || link.channel().bytes_read() > 0;
    if (!f.ok() && said_something) return f.status();
    return sent;
  }
  if (!f.ok()) return f.status();
  return DecodeHello(f->payload);
}

Status CheckPeerBinding(const PeerBinding& binding, const std::string& claimed) {
  if (binding.peer.empty()) {
    if (!binding.refuse_unbound) return Status::Ok();
    return Status(Code::kAuth,
                  "this node's authorized_keys line for " + Printable(claimed) +
                      " was written before keys were bound to node names: on this node, run "
                      "`hasync trust add <its host> --key '<its key>' --name " +
                      Printable(claimed) + "` again");
  }
  if (claimed == binding.peer) return Status::Ok();
  return Status(Code::kAuth, "the peer says it is node " + Printable(claimed) +
                                 ", and its ssh key is trusted only for node " + binding.peer +
                                 ": refused (if the peer was renamed, run `hasync trust add "
                                 "<its host> --key '<its key>' --name <its name>` here again)");
}

}  // namespace hasync::engine
