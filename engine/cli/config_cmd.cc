// `hasync config show` (the effective settings, defaults filled in, secrets masked) and
// `hasync config set section.key value` (validated as a whole before the file is written;
// saving the schedule restarts it, as the guide says).
#include <cstdio>
#include <iostream>
#include <memory>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include "common/env.h"
#include "engine/cli/cli.h"
#include "engine/config/config_edit.h"
#include "engine/config/settings.h"
#include "engine/node/node.h"
#include "engine/node/notify.h"
#include "engine/state/node_state.h"

namespace hasync::engine {
namespace {

struct ShowOptions {
  Output output;
};

struct SetOptions {
  std::string key;  // section.key
  std::string value;
};

// Times and durations as the settings file spells them: "01:00", "4h", "10s".
std::string ClockTime(int minute) {
  char b[16];
  std::snprintf(b, sizeof b, "%02d:%02d", (minute / 60) % 24, minute % 60);
  return b;
}

std::string Every(int64_t sec) {
  return sec % 86400 == 0  ? std::to_string(sec / 86400) + "d"
         : sec % 3600 == 0 ? std::to_string(sec / 3600) + "h"
                           : std::to_string(sec / 60) + "m";
}

std::string Millis(int64_t v) {
  return v % 60000 == 0  ? std::to_string(v / 60000) + "m"
         : v % 1000 == 0 ? std::to_string(v / 1000) + "s"
                         : std::to_string(v) + "ms";
}

// [failover] etcd as the file spells it: the endpoints, comma-separated.
std::string EtcdList(const std::vector<std::string>& endpoints) {
  std::string out;
  for (const auto& e : endpoints) out += (out.empty() ? "" : ",") + e;
  return out;
}

nlohmann::ordered_json SettingsJson(const Settings& s) {
  nlohmann::ordered_json j;
  j["node"] = {
      {"name", s.node_name}, {"state_dir", s.state_dir}, {"software_version", s.software_version}};
  j["ha"] = {{"enabled", s.ha.enabled},
             {"mode", s.ha.mode},
             {"node_status", s.ha.node_status},
             {"promote_hook", s.ha.promote_hook},
             {"peer", s.ha.peer}};
  j["failover"] = {{"heartbeat_interval", Millis(s.failover.heartbeat_interval_ms)},
                   {"failures_before_failover", s.failover.failures_before_failover},
                   {"recheck_interval", Millis(s.failover.recheck_interval_ms)},
                   {"if_failure_detected", s.failover.promote ? "promote" : "keep-standby"},
                   {"witness_url", MaskUrlPassword(s.failover.witness_url)},
                   {"etcd", EtcdList(s.failover.etcd)},
                   {"lease_ttl", s.failover.lease_ttl_s},
                   {"etcd_prefix", s.failover.etcd_prefix},
                   {"cluster", s.failover.cluster},
                   {"priority", s.failover.priority}};
  j["notify"] = {{"email", s.notify.email},
                 {"from", s.notify.from},
                 {"smtp_url", MaskUrlPassword(s.notify.smtp_url)},
                 {"on_sync_completion", s.notify.on_sync_completion},
                 {"on_failure", s.notify.on_failure},
                 {"command", s.notify.command},
                 {"retry_interval", Millis(s.notify.retry_ms)}};
  j["status"] = {{"listen", s.status.listen},
                 {"lb_listen", s.status.lb_listen},
                 {"tls_cert", s.status.tls_cert},
                 {"tls_key", s.status.tls_key},
                 {"token", s.status.token.empty() ? "" : "***"}};
  j["secondary"] = {{"primary", s.primary},
                    {"start_time", ClockTime(s.start_minute)},
                    {"run_every", Every(s.run_every_s)}};
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
                     {"max_slot_wal_mb", s.database.max_slot_wal_mb},
                     {"keyless", s.database.keyless}};
  }
  j["files"] = nlohmann::ordered_json::array();
  for (const auto& r : s.roots) {
    j["files"].push_back(
        {{"name", r.name}, {"root", r.root}, {"include", r.include}, {"exclude", r.exclude}});
  }
  return j;
}

int CmdConfigShow(const CommonOptions& common, const ShowOptions& o) {
  auto s = LoadSettings(common.config);
  if (!s.ok()) return Fail(s.status(), o.output);
  auto j = SettingsJson(*s);
  if (o.output.json) {
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

// The guide: saving a schedule restarts it from the next StartTime.
int RestartSchedule(const Settings& s) {
  auto state = NodeState::Open(s);
  if (!state.ok()) return Fail(state.status());
  int64_t now = NowMs() / 1000;
  Status st = (*state)->SetScheduleAnchor(now);
  if (!st.ok()) return Fail(st);
  std::printf("the schedule restarts: first sync at %s, then every %lld minutes\n",
              IsoTime(FirstRun(now, s.start_minute) * 1000).c_str(),
              static_cast<long long>(s.run_every_s / 60));
  if (s.run_every_s < 3600) {
    std::printf(
        "warning: the guide recommends syncing every 60 minutes or more; make sure a "
        "sync always finishes well inside %lld minutes\n",
        static_cast<long long>(s.run_every_s / 60));
  }
  return 0;
}

int CmdConfigSet(const CommonOptions& common, const SetOptions& o) {
  auto env = Env::Default();
  if (!env.ok()) return Fail(env.status());
  auto text = ReadFileToString(**env, common.config);
  if (!text.ok()) return Fail(text.status());
  auto edited = SetConfigValue(*text, o.key, o.value);
  if (!edited.ok()) return Fail(edited.status());
  // Validated as a whole before anything is written: a bad value changes nothing.
  auto s = ParseSettings(*edited, common.config);
  if (!s.ok()) return Fail(s.status());
  Status st = WriteFileAtomically(common.config, *edited);
  if (!st.ok()) return Fail(st);
  std::printf("%s set in %s\n", o.key.c_str(), common.config.c_str());
  if (o.key == "secondary.start_time" || o.key == "secondary.run_every") {
    return RestartSchedule(*s);
  }
  return 0;
}

}  // namespace

std::vector<Command> RegisterConfig(CLI::App& root, const CommonOptions& common) {
  auto* config = root.add_subcommand("config", "show or change the settings");
  config->require_subcommand(1);
  auto show_o = std::make_shared<ShowOptions>();
  auto* show = config->add_subcommand("show", "the effective settings (secrets masked)");
  show->add_flag("--json", show_o->output.json, "print as JSON");
  auto set_o = std::make_shared<SetOptions>();
  auto* set = config->add_subcommand(
      "set",
      "set section.key to a value; validated before it is written; saving start_time or "
      "run_every restarts the schedule from the next StartTime");
  set->add_option("key", set_o->key, "section.key, e.g. secondary.run_every")->required();
  set->add_option("value", set_o->value, "the new value, e.g. 4h")->required();
  return {{show, [show_o, &common] { return CmdConfigShow(common, *show_o); }},
          {set, [set_o, &common] { return CmdConfigSet(common, *set_o); }}};
}

}  // namespace hasync::engine
