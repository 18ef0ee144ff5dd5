// What the HA node reports, read from its node state (node.db): `hasync status`, `events`,
// `history`, and `notify test`, which sends the guide's test email. Each prints text for
// people or, with --json, JSON for the status pages' scripts and the tests.
#include <cstdio>
#include <iostream>
#include <memory>
#include <optional>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include "engine/cli/cli.h"
#include "engine/config/settings.h"
#include "engine/db/db_serve.h"
#include "engine/files/progress.h"
#include "engine/node/node.h"
#include "engine/node/notify.h"
#include "engine/state/generation.h"
#include "engine/state/node_state.h"

namespace hasync::engine {
namespace {

// status, notify test
struct ReportOptions {
  Output output;
};

// events, history
struct LogOptions {
  int limit = 20;
  Output output;
};

nlohmann::ordered_json HistoryJson(const HistoryRow& h) {
  nlohmann::ordered_json j = {{"id", h.id},
                              {"trigger", h.trigger},
                              {"peer", h.peer},
                              {"started", IsoTime(h.started)},
                              {"finished", IsoTime(h.finished)},
                              {"result", h.result},
                              {"duration_s", h.duration_s},
                              {"bytes_wire", h.bytes_wire},
                              {"bytes_changed", h.bytes_changed},
                              {"files_changed", h.files_changed},
                              {"files_deleted", h.files_deleted},
                              {"db_changes", h.db_changes},
                              {"db_full_copy", h.db_full},
                              {"db_full_copy_reason", h.db_full ? h.db_reason : ""},
                              {"db_detail", h.db_full ? "" : h.db_reason},
                              {"verified", h.verified}};
  j["phases_s"] =
      nlohmann::ordered_json::parse(h.phases_json.empty() ? "{}" : h.phases_json, nullptr, false);
  if (!h.error.empty()) {
    j["error"] = h.error_code;
    j["message"] = h.error;
  }
  return j;
}

// What `hasync status` reports, read from the node state.
struct StatusFacts {
  NodeInfo node;
  std::optional<HistoryRow> last;     // the newest sync
  std::optional<HistoryRow> running;  // the sync running now
  std::vector<NodeState::Served> served;
  // A Primary with a database: each Secondary's slot and the WAL it retains (SlotRetention).
  std::vector<std::pair<std::string, uint64_t>> slots;
  std::string slots_error;  // why the slots could not be read ("": they were, or no database)
  int64_t next_s = 0;       // the next scheduled sync, in seconds since the epoch; 0: none
};

Result<StatusFacts> ReadStatus(const Settings& s) {
  StatusFacts f;
  HASYNC_ASSIGN_OR_RETURN(auto state, NodeState::Open(s));
  HASYNC_ASSIGN_OR_RETURN(f.node, state->Get());
  HASYNC_ASSIGN_OR_RETURN(auto last, state->History(1));
  if (!last.empty()) f.last = last.front();
  HASYNC_ASSIGN_OR_RETURN(f.running, state->Running());
  const NodeInfo& n = f.node;
  // Only a Secondary in Standby with HA enabled runs scheduled syncs.
  if (n.ha_enabled && n.mode == Mode::kSecondary && n.status == NodeStatus::kStandby) {
    f.next_s = NextRun(n.schedule_anchor, s.start_minute, s.run_every_s, NowMs() / 1000);
  }
  HASYNC_ASSIGN_OR_RETURN(f.served, state->ServedPeers());
  if (s.database.enabled() && n.mode == Mode::kPrimary) {
    auto slots = SlotRetention(s.database.conninfo);
    if (slots.ok()) {
      f.slots = *slots;
    } else {
      f.slots_error = slots.status().message();
    }
  }
  return f;
}

nlohmann::ordered_json StatusJson(const Settings& s, const StatusFacts& f) {
  const NodeInfo& n = f.node;
  nlohmann::ordered_json j = {{"node", s.node_name},
                              {"mode", ModeName(n.mode)},
                              {"node_status", NodeStatusName(n.status)},
                              {"ha_enabled", n.ha_enabled},
                              {"generation", n.generation},
                              {"generation_detail", DescribeGeneration(n.lineage)},
                              {"serving", n.serving()},
                              {"superseded", n.superseded},
                              {"client_connections", n.client_connections},
                              {"peer", s.ha.peer},
                              {"next_scheduled_sync", f.next_s ? IsoTime(f.next_s * 1000) : ""}};
  j["running_sync"] = f.running ? HistoryJson(*f.running) : nlohmann::ordered_json(nullptr);
  j["served"] = nlohmann::ordered_json::array();
  for (const auto& p : f.served) {
    j["served"].push_back(
        {{"peer", p.peer}, {"address", p.address}, {"last_sync", IsoTime(p.last_sync)}});
  }
  j["slots"] = nlohmann::ordered_json::array();
  for (const auto& [slot, bytes] : f.slots) {
    j["slots"].push_back({{"node", DbSource::PeerOfSlot(slot).value_or("")},
                          {"slot", slot},
                          {"wal_retained_bytes", bytes}});
  }
  if (!f.slots_error.empty()) j["slots_error"] = f.slots_error;
  j["last_sync"] = f.last ? HistoryJson(*f.last) : nlohmann::ordered_json(nullptr);
  return j;
}

void PrintStatus(const Settings& s, const StatusFacts& f) {
  const NodeInfo& n = f.node;
  std::printf("node %s: %s, %s; HA %s; generation %llu; client connections %s\n",
              s.node_name.c_str(), ModeName(n.mode), NodeStatusName(n.status),
              n.ha_enabled ? "enabled" : "disabled", static_cast<unsigned long long>(n.generation),
              n.client_connections ? "accepted" : "stopped");
  std::printf("generation: %s\n", DescribeGeneration(n.lineage).c_str());
  if (!n.superseded.empty()) std::printf("NOT SERVING: %s\n", n.superseded.c_str());
  if (!s.primary.empty()) std::printf("Primary: %s\n", s.primary.c_str());
  for (const auto& p : f.served) {
    std::printf("paired system %s (%s) last synchronized from this node at %s\n", p.peer.c_str(),
                p.address.c_str(), IsoTime(p.last_sync).c_str());
  }
  for (const auto& [slot, bytes] : f.slots) {
    std::printf("Secondary %s: replication slot %s retains %s of WAL\n",
                DbSource::PeerOfSlot(slot).value_or("(unknown)").c_str(), slot.c_str(),
                HumanBytes(static_cast<double>(bytes)).c_str());
  }
  if (!f.slots_error.empty()) std::printf("replication slots: %s\n", f.slots_error.c_str());
  if (f.running) {
    std::printf("sync running since %s (%s)\n", IsoTime(f.running->started).c_str(),
                f.running->trigger.c_str());
  }
  if (!f.last) {
    std::printf("last sync: none yet\n");
  } else {
    const HistoryRow& h = *f.last;
    std::printf("last sync: %s, started %s, %s, %.2f s, %s on the wire%s%s\n", h.result.c_str(),
                IsoTime(h.started).c_str(), h.trigger.c_str(), h.duration_s,
                HumanBytes(h.bytes_wire).c_str(), h.error.empty() ? "" : ": ", h.error.c_str());
  }
  std::printf("next scheduled sync: %s\n",
              f.next_s ? IsoTime(f.next_s * 1000).c_str()
                       : (n.mode == Mode::kPrimary ? "none (this node is the Primary)"
                                                   : "none (HA disabled or node Active)"));
}

int CmdStatus(const CommonOptions& common, const ReportOptions& o) {
  auto s = LoadSettings(common.config);
  if (!s.ok()) return Fail(s.status(), o.output);
  auto f = ReadStatus(*s);
  if (!f.ok()) return Fail(f.status(), o.output);
  if (o.output.json) {
    std::cout << StatusJson(*s, *f).dump(2) << std::endl;
  } else {
    PrintStatus(*s, *f);
  }
  return 0;
}

int CmdHistory(const CommonOptions& common, const LogOptions& o) {
  auto s = LoadSettings(common.config);
  if (!s.ok()) return Fail(s.status(), o.output);
  auto state = NodeState::Open(*s);
  if (!state.ok()) return Fail(state.status(), o.output);
  auto rows = (*state)->History(o.limit);
  if (!rows.ok()) return Fail(rows.status(), o.output);
  if (o.output.json) {
    nlohmann::ordered_json j = nlohmann::ordered_json::array();
    for (const auto& h : *rows) j.push_back(HistoryJson(h));
    std::cout << j.dump(2) << std::endl;
    return 0;
  }
  std::printf("%-6s %-20s %-9s %-11s %9s %12s %10s  %s\n", "id", "started", "trigger", "result",
              "seconds", "wire", "db", "details");
  for (const auto& h : *rows) {
    std::string details = h.error.empty()
                              ? (h.db_full ? "full database copy: " + h.db_reason : h.db_reason)
                              : h.error;
    std::printf("%-6lld %-20s %-9s %-11s %9.2f %12s %10llu  %s\n", static_cast<long long>(h.id),
                IsoTime(h.started).c_str(), h.trigger.c_str(), h.result.c_str(), h.duration_s,
                HumanBytes(h.bytes_wire).c_str(), static_cast<unsigned long long>(h.db_changes),
                details.c_str());
  }
  return 0;
}

int CmdEvents(const CommonOptions& common, const LogOptions& o) {
  auto s = LoadSettings(common.config);
  if (!s.ok()) return Fail(s.status(), o.output);
  auto state = NodeState::Open(*s);
  if (!state.ok()) return Fail(state.status(), o.output);
  auto rows = (*state)->Events(o.limit);
  if (!rows.ok()) return Fail(rows.status(), o.output);
  if (o.output.json) {
    nlohmann::ordered_json j = nlohmann::ordered_json::array();
    for (const auto& e : *rows) {
      j.push_back({{"id", e.id},
                   {"at", IsoTime(e.at)},
                   {"kind", e.kind},
                   {"message", e.message},
                   {"email", e.email_state},
                   {"command", e.command_state},
                   {"attempts", e.attempts}});
    }
    std::cout << j.dump(2) << std::endl;
    return 0;
  }
  for (const auto& e : *rows) {
    std::printf("%-6lld %-20s %-20s %s [email %s, command %s]\n", static_cast<long long>(e.id),
                IsoTime(e.at).c_str(), e.kind.c_str(), e.message.c_str(), e.email_state.c_str(),
                e.command_state.c_str());
  }
  return 0;
}

int CmdNotifyTest(const CommonOptions& common, const ReportOptions& o) {
  auto s = LoadSettings(common.config);
  if (!s.ok()) return Fail(s.status(), o.output);
  Status st =
      SendEmail(*s, EmailSubject(s->node_name, "test"),
                "This is a test email from hasync on " + s->node_name +
                    ".\nNotifications for this node go to " + s->notify.email +
                    " (on sync completion: " + (s->notify.on_sync_completion ? "yes" : "no") +
                    "; on failure or when this server becomes Primary: " +
                    (s->notify.on_failure ? "yes" : "no") + ").\n");
  if (!st.ok()) {
    if (!o.output.json) std::printf("Test email failed: %s\n", st.message().c_str());
    return Fail(st, o.output);
  }
  if (o.output.json) {
    std::cout << nlohmann::json{{"result", "ok"}, {"to", s->notify.email}}.dump(2) << std::endl;
  } else {
    std::printf("Test email sent to %s\n", s->notify.email.c_str());
  }
  return 0;
}

// `-n` of events and history.
void AddLimit(CLI::App* app, LogOptions& o) {
  app->add_option("-n", o.limit, "how many rows (default 20)")->check(CLI::Range(1, 100000));
}

}  // namespace

std::vector<Command> RegisterNode(CLI::App& root, const CommonOptions& common) {
  auto status_o = std::make_shared<ReportOptions>();
  auto* status = root.add_subcommand(
      "status", "mode, node status, HA, generation, last sync, next scheduled sync");
  status->add_flag("--json", status_o->output.json, "print as JSON");

  auto events_o = std::make_shared<LogOptions>();
  auto* events = root.add_subcommand(
      "events", "the event log (syncs, heartbeat, promotion, split brain) and its delivery");
  AddLimit(events, *events_o);
  events->add_flag("--json", events_o->output.json, "print as JSON");

  auto notify_o = std::make_shared<ReportOptions>();
  auto* notify = root.add_subcommand("notify", "notifications ([notify])");
  notify->require_subcommand(1);
  auto* notify_test = notify->add_subcommand(
      "test", "send a test email to [notify] email now (the guide's Test Email Notification)");
  notify_test->add_flag("--json", notify_o->output.json, "print the result as JSON");

  auto history_o = std::make_shared<LogOptions>();
  auto* history = root.add_subcommand("history", "the Sync History, newest first");
  AddLimit(history, *history_o);
  history->add_flag("--json", history_o->output.json, "print as JSON");

  return {{status, [status_o, &common] { return CmdStatus(common, *status_o); }},
          {events, [events_o, &common] { return CmdEvents(common, *events_o); }},
          {notify_test, [notify_o, &common] { return CmdNotifyTest(common, *notify_o); }},
          {history, [history_o, &common] { return CmdHistory(common, *history_o); }}};
}

}  // namespace hasync::engine
