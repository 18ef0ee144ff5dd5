// The HA node's commands: status, history, events, mode, client-connection, ha, config,
// daemon, notify test.
#include <chrono>
#include <cstdio>
#include <ctime>
#include <iostream>
#include <thread>

#include <nlohmann/json.hpp>

#include "common/env.h"
#include "common/log.h"
#include "engine/cli/cli.h"
#include "engine/config/config_edit.h"
#include "engine/config/settings.h"
#include "engine/files/progress.h"
#include "engine/node/node.h"
#include "engine/node/notify.h"
#include "engine/state/node_state.h"

namespace hasync::engine {

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
                              {"db_full_copy_reason", h.db_reason},
                              {"verified", h.verified}};
  j["phases_s"] =
      nlohmann::ordered_json::parse(h.phases_json.empty() ? "{}" : h.phases_json, nullptr, false);
  if (!h.error.empty()) {
    j["error"] = h.error_code;
    j["message"] = h.error;
  }
  return j;
}

int CmdStatus(const Cli& c) {
  auto s = LoadSettings(c.config);
  if (!s.ok()) return Fail(s.status(), c.json);
  auto state = NodeState::Open(*s);
  if (!state.ok()) return Fail(state.status(), c.json);
  auto n = (*state)->Get();
  if (!n.ok()) return Fail(n.status(), c.json);
  auto last = (*state)->History(1);
  if (!last.ok()) return Fail(last.status(), c.json);
  auto running = (*state)->Running();
  if (!running.ok()) return Fail(running.status(), c.json);
  bool schedules =
      n->ha_enabled && n->mode == Mode::kSecondary && n->status == NodeStatus::kStandby;
  int64_t now_s = NowMs() / 1000;
  int64_t next =
      schedules ? NextRun(n->schedule_anchor, s->start_minute, s->run_every_s, now_s) : 0;
  nlohmann::ordered_json j = {{"node", s->node_name},
                              {"mode", ModeName(n->mode)},
                              {"node_status", NodeStatusName(n->status)},
                              {"ha_enabled", n->ha_enabled},
                              {"generation", n->generation},
                              {"generation_detail", DescribeGeneration(n->lineage)},
                              {"serving", n->serving()},
                              {"superseded", n->superseded},
                              {"client_connections", n->client_connections},
                              {"peer", s->ha.peer},
                              {"next_scheduled_sync", next ? IsoTime(next * 1000) : ""}};
  j["running_sync"] = *running ? HistoryJson(**running) : nlohmann::ordered_json(nullptr);
  auto served = (*state)->ServedPeers();
  if (!served.ok()) return Fail(served.status(), c.json);
  j["served"] = nlohmann::ordered_json::array();
  for (const auto& p : *served) {
    j["served"].push_back(
        {{"peer", p.peer}, {"address", p.address}, {"last_sync", IsoTime(p.last_sync)}});
  }
  j["last_sync"] = last->empty() ? nlohmann::ordered_json(nullptr) : HistoryJson(last->front());
  if (c.json) {
    std::cout << j.dump(2) << std::endl;
    return 0;
  }
  std::printf("node %s: %s, %s; HA %s; generation %llu; client connections %s\n",
              s->node_name.c_str(), ModeName(n->mode), NodeStatusName(n->status),
              n->ha_enabled ? "enabled" : "disabled",
              static_cast<unsigned long long>(n->generation),
              n->client_connections ? "accepted" : "stopped");
  std::printf("generation: %s\n", DescribeGeneration(n->lineage).c_str());
  if (!n->superseded.empty()) std::printf("NOT SERVING: %s\n", n->superseded.c_str());
  if (!s->primary.empty()) std::printf("Primary: %s\n", s->primary.c_str());
  for (const auto& p : *served) {
    std::printf("paired system %s (%s) last synchronized from this node at %s\n", p.peer.c_str(),
                p.address.c_str(), IsoTime(p.last_sync).c_str());
  }
  if (*running) {
    std::printf("sync running since %s (%s)\n", IsoTime((*running)->started).c_str(),
                (*running)->trigger.c_str());
  }
  if (last->empty()) {
    std::printf("last sync: none yet\n");
  } else {
    const HistoryRow& h = last->front();
    std::printf("last sync: %s, started %s, %s, %.2f s, %s on the wire%s%s\n", h.result.c_str(),
                IsoTime(h.started).c_str(), h.trigger.c_str(), h.duration_s,
                HumanBytes(h.bytes_wire).c_str(), h.error.empty() ? "" : ": ", h.error.c_str());
  }
  std::printf("next scheduled sync: %s\n",
              next ? IsoTime(next * 1000).c_str()
                   : (n->mode == Mode::kPrimary ? "none (this node is the Primary)"
                                                : "none (HA disabled or node Active)"));
  return 0;
}

int CmdHistory(const Cli& c) {
  auto s = LoadSettings(c.config);
  if (!s.ok()) return Fail(s.status(), c.json);
  auto state = NodeState::Open(*s);
  if (!state.ok()) return Fail(state.status(), c.json);
  auto rows = (*state)->History(c.limit);
  if (!rows.ok()) return Fail(rows.status(), c.json);
  if (c.json) {
    nlohmann::ordered_json j = nlohmann::ordered_json::array();
    for (const auto& h : *rows) j.push_back(HistoryJson(h));
    std::cout << j.dump(2) << std::endl;
    return 0;
  }
  std::printf("%-6s %-20s %-9s %-11s %9s %12s %10s  %s\n", "id", "started", "trigger", "result",
              "seconds", "wire", "db", "details");
  for (const auto& h : *rows) {
    std::string details =
        h.error.empty() ? (h.db_full ? "full database copy: " + h.db_reason : "") : h.error;
    std::printf("%-6lld %-20s %-9s %-11s %9.2f %12s %10llu  %s\n", static_cast<long long>(h.id),
                IsoTime(h.started).c_str(), h.trigger.c_str(), h.result.c_str(), h.duration_s,
                HumanBytes(h.bytes_wire).c_str(), static_cast<unsigned long long>(h.db_changes),
                details.c_str());
  }
  return 0;
}

int CmdEvents(const Cli& c) {
  auto s = LoadSettings(c.config);
  if (!s.ok()) return Fail(s.status(), c.json);
  auto state = NodeState::Open(*s);
  if (!state.ok()) return Fail(state.status(), c.json);
  auto rows = (*state)->Events(c.limit);
  if (!rows.ok()) return Fail(rows.status(), c.json);
  if (c.json) {
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

int CmdNotifyTest(const Cli& c) {
  auto s = LoadSettings(c.config);
  if (!s.ok()) return Fail(s.status(), c.json);
  Status st =
      SendEmail(*s, EmailSubject(s->node_name, "test"),
                "This is a test email from hasync on " + s->node_name +
                    ".\nNotifications for this node go to " + s->notify.email +
                    " (on sync completion: " + (s->notify.on_sync_completion ? "yes" : "no") +
                    "; on failure or when this server becomes Primary: " +
                    (s->notify.on_failure ? "yes" : "no") + ").\n");
  if (!st.ok()) {
    if (!c.json) std::printf("Test email failed: %s\n", st.message().c_str());
    return Fail(st, c.json);
  }
  if (c.json) {
    std::cout << nlohmann::json{{"result", "ok"}, {"to", s->notify.email}}.dump(2) << std::endl;
  } else {
    std::printf("Test email sent to %s\n", s->notify.email.c_str());
  }
  return 0;
}

int CmdMode(const Cli& c) {
  auto s = LoadSettings(c.config);
  if (!s.ok()) return Fail(s.status(), c.json);
  Result<bool> changed = false;
  if (c.word == "primary") {
    changed = PromoteNode(*s, "failover mode primary");
  } else {
    auto state = NodeState::Open(*s);
    if (!state.ok()) return Fail(state.status(), c.json);
    changed = (*state)->Demote("failover mode secondary");
  }
  if (!changed.ok()) return Fail(changed.status(), c.json);
  auto state = NodeState::Open(*s);
  if (!state.ok()) return Fail(state.status(), c.json);
  auto n = (*state)->Get();
  if (!n.ok()) return Fail(n.status(), c.json);
  if (c.json) {
    nlohmann::ordered_json j = {{"result", "ok"},
                                {"changed", *changed},
                                {"mode", ModeName(n->mode)},
                                {"node_status", NodeStatusName(n->status)},
                                {"generation", n->generation}};
    std::cout << j.dump(2) << std::endl;
    return 0;
  }
  std::printf("%s: %s, %s, generation %llu\n",
              *changed ? "mode changed" : "mode unchanged (already so)", ModeName(n->mode),
              NodeStatusName(n->status), static_cast<unsigned long long>(n->generation));
  return 0;
}

int CmdClients(const Cli& c) {
  auto s = LoadSettings(c.config);
  if (!s.ok()) return Fail(s.status(), false);
  auto state = NodeState::Open(*s);
  if (!state.ok()) return Fail(state.status(), false);
  Status st = (*state)->SetClientConnections(c.word == "enable");
  if (!st.ok()) return Fail(st, false);
  std::printf("new client connections %s\n", c.word == "enable" ? "resumed" : "stopped");
  return 0;
}

int CmdHa(const Cli& c) {
  auto s = LoadSettings(c.config);
  if (!s.ok()) return Fail(s.status(), false);
  auto state = NodeState::Open(*s);
  if (!state.ok()) return Fail(state.status(), false);
  Status st = (*state)->SetHaEnabled(c.word == "enable");
  if (!st.ok()) return Fail(st, false);
  std::printf("HA %s\n", c.word == "enable" ? "enabled: scheduled syncs run"
                                            : "disabled: no new scheduled sync starts");
  if (c.word == "disable" && c.wait) {
    for (;;) {
      auto r = (*state)->Running();
      if (!r.ok()) return Fail(r.status(), false);
      if (!*r) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
    }
    auto last = (*state)->History(1);
    if (!last.ok()) return Fail(last.status(), false);
    if (last->empty()) {
      std::printf("no sync has run on this node\n");
    } else {
      const HistoryRow& h = last->front();
      std::printf("last sync: %s (started %s)%s%s\n", h.result.c_str(), IsoTime(h.started).c_str(),
                  h.error.empty() ? "" : ": ", h.error.c_str());
      if (h.result != "ok") return 1;
    }
  }
  return 0;
}

nlohmann::ordered_json SettingsJson(const Settings& s) {
  auto hm = [](int m) {
    char b[16];
    std::snprintf(b, sizeof b, "%02d:%02d", (m / 60) % 24, m % 60);
    return std::string(b);
  };
  auto every = [](int64_t sec) {
    return sec % 86400 == 0  ? std::to_string(sec / 86400) + "d"
           : sec % 3600 == 0 ? std::to_string(sec / 3600) + "h"
                             : std::to_string(sec / 60) + "m";
  };
  nlohmann::ordered_json j;
  j["node"] = {
      {"name", s.node_name}, {"state_dir", s.state_dir}, {"software_version", s.software_version}};
  j["ha"] = {{"enabled", s.ha.enabled},
             {"mode", s.ha.mode},
             {"node_status", s.ha.node_status},
             {"promote_hook", s.ha.promote_hook},
             {"peer", s.ha.peer}};
  auto ms = [](int64_t v) {
    return v % 60000 == 0  ? std::to_string(v / 60000) + "m"
           : v % 1000 == 0 ? std::to_string(v / 1000) + "s"
                           : std::to_string(v) + "ms";
  };
  j["failover"] = {{"heartbeat_interval", ms(s.failover.heartbeat_interval_ms)},
                   {"failures_before_failover", s.failover.failures_before_failover},
                   {"recheck_interval", ms(s.failover.recheck_interval_ms)},
                   {"if_failure_detected", s.failover.promote ? "promote" : "keep-standby"},
                   {"witness_url", MaskUrlPassword(s.failover.witness_url)}};
  j["notify"] = {{"email", s.notify.email},
                 {"from", s.notify.from},
                 {"smtp_url", MaskUrlPassword(s.notify.smtp_url)},
                 {"on_sync_completion", s.notify.on_sync_completion},
                 {"on_failure", s.notify.on_failure},
                 {"command", s.notify.command},
                 {"retry_interval", ms(s.notify.retry_ms)}};
  j["status"] = {
      {"listen", s.status.listen}, {"tls_cert", s.status.tls_cert}, {"tls_key", s.status.tls_key}};
  j["secondary"] = {{"primary", s.primary},
                    {"start_time", hm(s.start_minute)},
                    {"run_every", every(s.run_every_s)}};
  j["sync"] = {{"threads", s.threads}, {"max_clock_skew_s", s.max_clock_skew_s}};
  j["ssh"] = {{"port", s.ssh.port},
              {"user", s.ssh.user},
              {"authorized_keys", s.ssh.authorized_keys},
              {"known_hosts", s.ssh.known_hosts},
              {"connect_timeout_s", s.ssh.connect_timeout_s},
              {"ciphers", s.ssh.ciphers}};
  if (s.database.enabled()) {
    j["database"] = {{"conninfo", MaskConninfo(s.database.conninfo)},
                     {"include_schemas", s.database.include_schemas},
                     {"exclude_schemas", s.database.exclude_schemas},
                     {"exclude_tables", s.database.exclude_tables},
                     {"max_slot_wal_mb", s.database.max_slot_wal_mb}};
  }
  j["files"] = nlohmann::ordered_json::array();
  for (const auto& r : s.roots) {
    j["files"].push_back(
        {{"name", r.name}, {"root", r.root}, {"include", r.include}, {"exclude", r.exclude}});
  }
  return j;
}

int CmdConfigShow(const Cli& c) {
  auto s = LoadSettings(c.config);
  if (!s.ok()) return Fail(s.status(), c.json);
  auto j = SettingsJson(*s);
  if (c.json) {
    std::cout << j.dump(2) << std::endl;
    return 0;
  }
  std::printf("# %s (effective values, defaults filled in)\n", s->path.c_str());
  for (const auto& [section, body] : j.items()) {
    if (section == "files") {
      for (const auto& r : body) {
        std::printf("\n[[files]]\n");
        for (const auto& [k, v] : r.items()) std::printf("%s = %s\n", k.c_str(), v.dump().c_str());
      }
      continue;
    }
    std::printf("\n[%s]\n", section.c_str());
    for (const auto& [k, v] : body.items()) std::printf("%s = %s\n", k.c_str(), v.dump().c_str());
  }
  return 0;
}

int CmdConfigSet(const Cli& c) {
  auto env = Env::Default();
  if (!env.ok()) return Fail(env.status(), false);
  auto text = ReadFileToString(**env, c.config);
  if (!text.ok()) return Fail(text.status(), false);
  auto edited = SetConfigValue(*text, c.config_key, c.value);
  if (!edited.ok()) return Fail(edited.status(), false);
  // Validated as a whole before anything is written: a bad value changes nothing.
  auto s = ParseSettings(*edited, c.config);
  if (!s.ok()) return Fail(s.status(), false);
  Status st = WriteFileAtomically(c.config, *edited);
  if (!st.ok()) return Fail(st, false);
  std::printf("%s set in %s\n", c.config_key.c_str(), c.config.c_str());
  if (c.config_key == "secondary.start_time" || c.config_key == "secondary.run_every") {
    // The guide: saving a schedule restarts it from the next StartTime.
    auto state = NodeState::Open(*s);
    if (!state.ok()) return Fail(state.status(), false);
    int64_t now = NowMs() / 1000;
    st = (*state)->SetScheduleAnchor(now);
    if (!st.ok()) return Fail(st, false);
    std::printf("the schedule restarts: first sync at %s, then every %lld minutes\n",
                IsoTime(FirstRun(now, s->start_minute) * 1000).c_str(),
                static_cast<long long>(s->run_every_s / 60));
    if (s->run_every_s < 3600) {
      std::printf(
          "warning: the guide recommends syncing every 60 minutes or more; make sure a "
          "sync always finishes well inside %lld minutes\n",
          static_cast<long long>(s->run_every_s / 60));
    }
  }
  return 0;
}

int CmdDaemon(const Cli& c) {
  auto s = LoadSettings(c.config);
  if (!s.ok()) return Fail(s.status(), false);
  Status st = RunDaemon(*s, c.transport);
  if (!st.ok()) return Fail(st, false);
  return 0;
}

}  // namespace hasync::engine
