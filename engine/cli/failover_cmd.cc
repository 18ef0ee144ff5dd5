// The HA controls: the `failover` program's `mode primary|secondary` and
// `client-connection disable|enable`, `hasync ha enable|disable` (scheduled syncs and the
// heartbeat's fail-over) and `hasync daemon`, which runs them. `failover sync` is sync_cmd.cc.
#include <chrono>
#include <cstdio>
#include <iostream>
#include <memory>
#include <thread>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include "engine/cli/cli.h"
#include "engine/config/settings.h"
#include "engine/node/node.h"
#include "engine/state/node_state.h"

namespace hasync::engine {
namespace {

struct ModeOptions {
  std::string mode;        // primary | secondary
  bool take_over = false;  // primary with HA disabled: a real promotion, not maintenance
  Output output;
};

// client-connection
struct ClientConnectionOptions {
  std::string action;  // disable | enable
};

struct HaOptions {
  std::string action;  // disable | enable
  bool wait = false;   // disable: wait for a running sync and report its result
};

struct DaemonOptions {
  std::string transport;  // empty: ssh to the peer
};

int CmdMode(const CommonOptions& common, const ModeOptions& o) {
  auto s = LoadSettings(common.config);
  if (!s.ok()) return Fail(s.status(), o.output);
  Result<bool> changed = false;
  if (o.mode == "primary") {
    auto state = NodeState::Open(*s);
    if (!state.ok()) return Fail(state.status(), o.output);
    auto now = (*state)->Get();
    if (!now.ok()) return Fail(now.status(), o.output);
    // HA disabled: the upgrade procedure's temporary Primary, in the same generation.
    changed = !now->ha_enabled && !o.take_over && !now->maintenance
                  ? (*state)->EnterMaintenance("failover mode primary (HA disabled)")
                  : PromoteNode(*s, "failover mode primary");
  } else {
    auto state = NodeState::Open(*s);
    if (!state.ok()) return Fail(state.status(), o.output);
    changed = (*state)->Demote("failover mode secondary");
  }
  if (!changed.ok()) return Fail(changed.status(), o.output);
  auto state = NodeState::Open(*s);
  if (!state.ok()) return Fail(state.status(), o.output);
  auto n = (*state)->Get();
  if (!n.ok()) return Fail(n.status(), o.output);
  if (o.output.json) {
    nlohmann::ordered_json j = {{"result", "ok"},
                                {"changed", *changed},
                                {"mode", ModeName(n->mode)},
                                {"node_status", NodeStatusName(n->status)},
                                {"generation", n->generation},
                                {"maintenance", n->maintenance}};
    std::cout << j.dump(2) << std::endl;
    return 0;
  }
  std::printf("%s: %s, %s, generation %llu\n",
              *changed ? "mode changed" : "mode unchanged (already so)", ModeName(n->mode),
              NodeStatusName(n->status), static_cast<unsigned long long>(n->generation));
  if (n->maintenance) {
    std::printf(
        "a maintenance Primary (HA is disabled here): no new generation, so it does not "
        "supersede the Primary and the next sync from it is no split brain; `failover mode "
        "secondary` returns it, `failover mode primary --take-over` makes it the Primary for "
        "real\n");
  }
  return 0;
}

int CmdClientConnection(const CommonOptions& common, const ClientConnectionOptions& o) {
  auto s = LoadSettings(common.config);
  if (!s.ok()) return Fail(s.status());
  auto state = NodeState::Open(*s);
  if (!state.ok()) return Fail(state.status());
  Status st = (*state)->SetClientConnections(o.action == "enable");
  if (!st.ok()) return Fail(st);
  std::printf("new client connections %s\n", o.action == "enable" ? "resumed" : "stopped");
  return 0;
}

// `ha disable --wait`: waits for the running sync, if any, and reports the last one; exits 1
// when it did not succeed (the upgrade in docs/operating.md goes on only after a good sync).
int WaitForRunningSync(NodeState& state) {
  for (;;) {
    auto r = state.Running();
    if (!r.ok()) return Fail(r.status());
    if (!*r) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  auto last = state.History(1);
  if (!last.ok()) return Fail(last.status());
  if (last->empty()) {
    std::printf("no sync has run on this node\n");
    return 0;
  }
  const HistoryRow& h = last->front();
  std::printf("last sync: %s (started %s)%s%s\n", h.result.c_str(), IsoTime(h.started).c_str(),
              h.error.empty() ? "" : ": ", h.error.c_str());
  return h.result != "ok" ? 1 : 0;
}

int CmdHa(const CommonOptions& common, const HaOptions& o) {
  auto s = LoadSettings(common.config);
  if (!s.ok()) return Fail(s.status());
  auto state = NodeState::Open(*s);
  if (!state.ok()) return Fail(state.status());
  Status st = (*state)->SetHaEnabled(o.action == "enable");
  if (!st.ok()) return Fail(st);
  std::printf("HA %s\n", o.action == "enable" ? "enabled: scheduled syncs run"
                                              : "disabled: no new scheduled sync starts");
  if (o.action == "disable" && o.wait) return WaitForRunningSync(**state);
  return 0;
}

int CmdDaemon(const CommonOptions& common, const DaemonOptions& o) {
  auto s = LoadSettings(common.config);
  if (!s.ok()) return Fail(s.status());
  Status st = RunDaemon(*s, o.transport);
  if (!st.ok()) return Fail(st);
  return 0;
}

}  // namespace

std::vector<Command> RegisterFailover(CLI::App& root, const CommonOptions& common) {
  auto mode_o = std::make_shared<ModeOptions>();
  auto* mode = root.add_subcommand(
      "mode",
      "`failover mode primary`: become the Primary now (as a fail-over: Active, a new "
      "generation, the promote hook; with HA disabled a maintenance Primary in the same "
      "generation, as the upgrade procedure needs, unless --take-over); `failover mode "
      "secondary`: become a Secondary (Standby) without restarting the scheduler");
  mode->add_option("mode", mode_o->mode, "primary or secondary")
      ->required()
      ->check(CLI::IsMember({"primary", "secondary"}));
  mode->add_flag("--take-over", mode_o->take_over,
                 "primary with HA disabled: take the Primary's role for real (a new generation) "
                 "rather than become a maintenance Primary");
  mode->add_flag("--json", mode_o->output.json, "print the new state as JSON");

  auto clients_o = std::make_shared<ClientConnectionOptions>();
  auto* clients = root.add_subcommand(
      "client-connection",
      "`failover client-connection disable|enable`: stop or resume new "
      "client connections (persisted; /status/status.html fails while disabled, so the load "
      "balancer drains this node)");
  clients->add_option("action", clients_o->action, "disable or enable")
      ->required()
      ->check(CLI::IsMember({"disable", "enable"}));

  auto ha_o = std::make_shared<HaOptions>();
  auto* ha = root.add_subcommand("ha",
                                 "`hasync ha enable|disable [--wait]`: start or stop "
                                 "scheduled syncs and the heartbeat's fail-over (a running sync "
                                 "finishes first)");
  ha->add_option("action", ha_o->action, "enable or disable")
      ->required()
      ->check(CLI::IsMember({"disable", "enable"}));
  ha->add_flag("--wait", ha_o->wait, "disable: wait for a running sync and report the last result");

  auto daemon_o = std::make_shared<DaemonOptions>();
  auto* daemon = root.add_subcommand(
      "daemon",
      "run the node: scheduled syncs and the heartbeat (fail-over) on a Secondary in Standby "
      "with HA enabled, the split-brain watch on a Primary, the status pages ([status]) and "
      "notifications ([notify])");
  daemon->add_option("--transport", daemon_o->transport,
                     "instead of ssh to the peer ([secondary] primary, or [ha] peer): a command "
                     "reaching its serve side");

  return {{mode, [mode_o, &common] { return CmdMode(common, *mode_o); }},
          {clients, [clients_o, &common] { return CmdClientConnection(common, *clients_o); }},
          {ha, [ha_o, &common] { return CmdHa(common, *ha_o); }},
          {daemon, [daemon_o, &common] { return CmdDaemon(common, *daemon_o); }}};
}

}  // namespace hasync::engine
