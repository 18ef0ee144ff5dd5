// `hasync config show` and `config set`, until they move to a group of their own.
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

}  // namespace hasync::engine
