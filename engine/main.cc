// The hasync binary (also installed as `failover`): parses the command line with CLI11, runs the
// command, and turns its Status into the exit code of the closed table in common/status.h.
#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <ctime>
#include <iostream>
#include <thread>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include "common/env.h"
#include "common/hash.h"
#include "common/log.h"
#include "engine/config_edit.h"
#include "engine/node.h"
#include "engine/node_state.h"
#include "engine/progress.h"
#include "engine/protocol.h"
#include "engine/pull.h"
#include "engine/serve.h"
#include "engine/settings.h"
#include "engine/trust.h"
#include "snapshot/pg.h"

namespace hasync::engine {
namespace {

struct Cli {
  std::string config;
  std::string log_level = "info";
  bool json = false;
  // sync
  std::string transport;
  bool progress = false;
  bool dry_run = false;
  bool checksum = false;
  bool full_db = false;
  std::string trigger = "manual";  // "failover" when run as `failover sync <host>`
  // status, history, mode, client-connection, ha
  int limit = 20;
  std::string word;  // primary | secondary, enable | disable
  bool wait = false;
  std::string config_key;  // config set
  std::string value;
  // serve
  bool stdio = false;
  // sync over ssh, trust
  std::string host;
  std::string key;
  std::string host_key;
  int port = 0;  // 0: [ssh] port
  bool accept_host_key = false;
};

int Fail(const Status& st, bool json) {
  if (json) {
    nlohmann::json j = {
        {"result", "error"}, {"error", CodeName(st.code())}, {"message", st.message()}};
    std::cout << j.dump(2) << std::endl;
  }
  Log("hasync")->error("{}", st.ToString());
  return ExitCode(st.code());
}

int CmdSync(const Cli& c) {
  auto s = LoadSettings(c.config);
  if (!s.ok()) return Fail(s.status(), c.json);
  std::string transport = c.transport;
  bool over_ssh = transport.empty();
  if (over_ssh) {
    std::string host = c.host.empty() ? s->primary : c.host;
    if (host.empty()) {
      return Fail(Status(Code::kUsage,
                         "no Primary to sync from: give --host, set [secondary] primary, or "
                         "give --transport 'COMMAND'"),
                  c.json);
    }
    auto t = SshTransportTo(*s, host);
    if (!t.ok()) {
      if (!c.dry_run) {
        auto state = NodeState::Open(*s);
        if (state.ok()) (void)(*state)->RecordSkipped(c.trigger, host, t.status(), "failed");
      }
      return Fail(t.status(), c.json);
    }
    transport = *t;
  }
  SyncOptions o{.transport_command = transport,
                .dry_run = c.dry_run,
                .rehash_all = c.checksum,
                .full_db = c.full_db,
                .progress = c.progress,
                .env = nullptr};
  auto r = RunNodeSync(*s, o, c.trigger, over_ssh ? (c.host.empty() ? s->primary : c.host) : "");
  if (!r.ok()) return Fail(over_ssh ? ClassifySshFailure(r.status()) : r.status(), c.json);
  const SyncSummary& m = *r;
  double mbps = m.duration_s > 0 ? m.bytes_changed / m.duration_s / 1e6 : 0;
  if (c.json) {
    nlohmann::json j = {{"result", "ok"},
                        {"dry_run", c.dry_run},
                        {"files_scanned", m.files_scanned},
                        {"bytes_scanned", m.bytes_scanned},
                        {"files_changed", m.files_changed},
                        {"files_deleted", m.files_deleted},
                        {"dirs_created", m.dirs_created},
                        {"metadata_changed", m.meta_changed},
                        {"bytes_changed", m.bytes_changed},
                        {"bytes_wire", m.bytes_wire},
                        {"files_vanished", m.vanished},
                        {"recovered_interrupted_sync", m.recovered},
                        {"duration_s", m.duration_s},
                        {"throughput_mb_s", mbps}};
    if (c.dry_run) j["would_change"] = m.actions;
    if (m.database) {
      j["database"] = {{"full_copy", m.db.full},
                       {"full_copy_reason", m.db.reason},
                       {"transactions", m.db.transactions},
                       {"changes", m.db.changes},
                       {"position", snapshot::FormatLsn(m.db.end_lsn)},
                       {"slot_retained_bytes", m.db.slot_retained_bytes}};
    }
    nlohmann::ordered_json phases = nlohmann::ordered_json::object();
    for (const auto& [name, secs] : m.phases) phases[name] = secs;
    j["phases_s"] = phases;
    std::cout << j.dump(2) << std::endl;
    return 0;
  }
  if (c.dry_run) {
    for (const auto& a : m.actions) std::cout << a << "\n";
    std::cout << m.actions.size() << " changes would be made (dry run: nothing changed)\n";
    return 0;
  }
  if (m.database) {
    if (m.db.full) {
      std::printf("database: full copy (%s), %llu rows, at %s\n", m.db.reason.c_str(),
                  static_cast<unsigned long long>(m.db.changes),
                  snapshot::FormatLsn(m.db.end_lsn).c_str());
    } else {
      std::printf("database: %llu transactions, %llu changes applied, at %s\n",
                  static_cast<unsigned long long>(m.db.transactions),
                  static_cast<unsigned long long>(m.db.changes),
                  snapshot::FormatLsn(m.db.end_lsn).c_str());
    }
  }
  std::printf(
      "sync complete: %llu files (%s) on the Primary; %llu created or updated, %llu deleted, "
      "%llu directories created, %llu re-stamped; %s of file data, %s on the wire; %.2f s\n",
      static_cast<unsigned long long>(m.files_scanned), HumanBytes(m.bytes_scanned).c_str(),
      static_cast<unsigned long long>(m.files_changed),
      static_cast<unsigned long long>(m.files_deleted),
      static_cast<unsigned long long>(m.dirs_created),
      static_cast<unsigned long long>(m.meta_changed), HumanBytes(m.bytes_changed).c_str(),
      HumanBytes(m.bytes_wire).c_str(), m.duration_s);
  return 0;
}

std::string IsoTime(int64_t ms) {
  if (ms <= 0) return "";
  time_t t = static_cast<time_t>(ms / 1000);
  struct tm tm;
  ::gmtime_r(&t, &tm);
  char buf[32];
  ::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

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
                              {"db_full_copy_reason", h.db_reason}};
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
                              {"client_connections", n->client_connections},
                              {"peer", s->primary},
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
             {"promote_hook", s.ha.promote_hook}};
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

int CmdServe(const Cli& c) {
  auto s = LoadSettings(c.config);
  if (!s.ok()) return Fail(s.status(), false);
  auto channel = transport::OpenStdioChannel();
  Status st = RunServe(*s, *channel, ServeOptions{});
  if (!st.ok()) return Fail(st, false);
  return 0;
}

int CmdTrustKey(const Cli& c) {
  auto s = LoadSettings(c.config);
  if (!s.ok()) return Fail(s.status(), c.json);
  auto key = Trust(*s).LocalKey();
  if (!key.ok()) return Fail(key.status(), c.json);
  auto fp = KeyFingerprint(*key);
  if (c.json) {
    std::cout << nlohmann::json{{"key", *key}, {"fingerprint", fp.ok() ? *fp : ""}}.dump(2)
              << std::endl;
  } else {
    std::cout << *key << " hasync@" << s->node_name << "\n";
  }
  return 0;
}

int CmdTrustAdd(const Cli& c) {
  auto s = LoadSettings(c.config);
  if (!s.ok()) return Fail(s.status(), c.json);
  TrustedHost h{c.host, c.port ? c.port : s->ssh.port, c.key, c.host_key};
  Status st = Trust(*s).Add(h);
  if (!st.ok()) return Fail(st, c.json);
  auto fp = KeyFingerprint(c.key);
  std::printf("%s is trusted (key %s)%s\n", c.host.c_str(), fp.ok() ? fp->c_str() : "?",
              c.host_key.empty() ? "; its host key is pinned on the first `hasync trust test`"
                                 : "; host key pinned");
  return 0;
}

int CmdTrustList(const Cli& c) {
  auto s = LoadSettings(c.config);
  if (!s.ok()) return Fail(s.status(), c.json);
  auto hosts = Trust(*s).List();
  if (!hosts.ok()) return Fail(hosts.status(), c.json);
  if (c.json) {
    nlohmann::json j = nlohmann::json::array();
    for (const auto& h : *hosts) {
      auto fp = KeyFingerprint(h.key);
      auto hfp =
          h.host_key.empty() ? Result<std::string>(std::string()) : KeyFingerprint(h.host_key);
      j.push_back({{"host", h.host},
                   {"port", h.port},
                   {"key_fingerprint", fp.ok() ? *fp : ""},
                   {"host_key_fingerprint", hfp.ok() ? *hfp : ""}});
    }
    std::cout << j.dump(2) << std::endl;
    return 0;
  }
  if (hosts->empty()) std::printf("no trusted hosts\n");
  for (const auto& h : *hosts) {
    auto fp = KeyFingerprint(h.key);
    auto hfp = h.host_key.empty() ? Result<std::string>(std::string("not pinned"))
                                  : KeyFingerprint(h.host_key);
    std::printf("%s port %d  key %s  host key %s\n", h.host.c_str(), h.port,
                fp.ok() ? fp->c_str() : "?", hfp.ok() ? hfp->c_str() : "?");
  }
  return 0;
}

int CmdTrustRemove(const Cli& c) {
  auto s = LoadSettings(c.config);
  if (!s.ok()) return Fail(s.status(), c.json);
  Status st = Trust(*s).Remove(c.host);
  if (!st.ok()) return Fail(st, c.json);
  std::printf("%s is no longer trusted\n", c.host.c_str());
  return 0;
}

// The guide's Test Connection: ssh with this node's key and the pinned host key, hello, the
// version gate. Prints "Test was successful" or the reason, with its own exit code.
int CmdTrustTest(const Cli& c) {
  auto s = LoadSettings(c.config);
  if (!s.ok()) return Fail(s.status(), c.json);
  Trust trust(*s);
  auto h = trust.Find(c.host);
  if (!h.ok()) return Fail(h.status(), c.json);
  if (h->host_key.empty()) {
    auto hk = trust.FetchHostKey(h->host, h->port);
    if (!hk.ok()) return Fail(hk.status(), c.json);
    auto fp = KeyFingerprint(*hk);
    std::fprintf(stderr, "%s's sshd host key is %s %s\n", h->host.c_str(),
                 hk->substr(0, hk->find(' ')).c_str(), fp.ok() ? fp->c_str() : "?");
    bool yes = c.accept_host_key;
    if (!yes && ::isatty(0)) {
      std::fprintf(stderr,
                   "Does it match the key shown on %s (ssh-keygen -lf on its host key)? "
                   "[y/N] ",
                   h->host.c_str());
      std::string answer;
      std::getline(std::cin, answer);
      yes = answer == "y" || answer == "Y" || answer == "yes";
    }
    if (!yes) {
      return Fail(Status(Code::kHostKey, "the host key of " + h->host +
                                             " was not confirmed (confirm it, or pass "
                                             "--accept-host-key, or give --host-key to trust add)"),
                  c.json);
    }
    Status st = trust.PinHostKey(h->host, *hk);
    if (!st.ok()) return Fail(st, c.json);
    h->host_key = *hk;
  }
  auto key = trust.LocalKey();
  if (!key.ok()) return Fail(key.status(), c.json);
  auto peer = TestChannel(*s, trust.SshCommand(*h, "hasync serve --stdio"));
  if (!peer.ok()) {
    Status why = ClassifySshFailure(peer.status());
    if (!c.json) std::printf("Test failed: %s\n", why.ToString().c_str());
    return Fail(why, c.json);
  }
  if (c.json) {
    std::cout << nlohmann::json{{"result", "ok"},
                                {"peer", peer->node_name},
                                {"software_version", peer->software_version}}
                     .dump(2)
              << std::endl;
  } else {
    std::printf("Test was successful: %s runs %s\n", peer->node_name.c_str(),
                peer->software_version.c_str());
  }
  return 0;
}

int CmdVersion(const Cli& c) {
  auto env = Env::Default();
  std::string io = env.ok() ? (*env)->Name() : "unavailable";
  if (c.json) {
    nlohmann::json j = {{"version", HASYNC_VERSION},
                        {"protocol", kProtocolVersion},
                        {"io_backend", io},
                        {"hash_kernel", HashKernelName()}};
    std::cout << j.dump(2) << std::endl;
  } else {
    std::printf("hasync %s (protocol %u, I/O backend %s, xxh3 %s)\n", HASYNC_VERSION,
                kProtocolVersion, io.c_str(), HashKernelName());
  }
  return 0;
}

}  // namespace

int Main(int argc, char** argv) {
  // A peer that goes away must be an error we report, not a signal that kills us mid-commit.
  ::signal(SIGPIPE, SIG_IGN);
  std::string self = argc > 0 ? argv[0] : "hasync";
  bool invoked_as_failover = self.size() >= 8 && self.substr(self.size() - 8) == "failover";
  Cli c;
  c.config = DefaultConfigPath();
  CLI::App app{
      "hasync: keeps a Secondary an exact, verified, crash-consistent copy of its Primary"};
  app.require_subcommand(1);
  app.fallthrough();  // --config and --log-level may follow the subcommand too
  app.add_option("--config", c.config,
                 "settings file (default: $HASYNC_CONFIG, else /etc/hasync/hasync.toml)");
  app.add_option("--log-level", c.log_level, "trace, debug, info, warn, error or off")
      ->check(CLI::IsMember({"trace", "debug", "info", "warn", "error", "off"}));

  auto* sync = app.add_subcommand(
      "sync", "pull the database and file roots from the Primary now (run on the Secondary)");
  sync->add_option("host,--host", c.host,
                   "the trusted Primary to pull from over ssh (default: [secondary] primary)");
  sync->add_option("--transport", c.transport,
                   "instead of ssh: a command whose stdin/stdout reach the Primary's `hasync "
                   "serve --stdio` (tests, custom tunnels)");
  sync->add_flag("--progress", c.progress, "show files, bytes, rate and ETA on stderr");
  sync->add_flag("--json", c.json, "print the summary as JSON on stdout");
  sync->add_flag("--dry-run", c.dry_run, "list what would change; change nothing");
  sync->add_flag("--checksum", c.checksum,
                 "re-hash every file on both sides instead of trusting the quick check");
  sync->add_flag("--full-db", c.full_db,
                 "copy the Primary's database whole instead of its changes (after a schema "
                 "change, or to repair)");

  auto* status = app.add_subcommand(
      "status", "mode, node status, HA, generation, last sync, next scheduled sync");
  status->add_flag("--json", c.json, "print as JSON");
  auto* history = app.add_subcommand("history", "the Sync History, newest first");
  history->add_option("-n", c.limit, "how many rows (default 20)")->check(CLI::Range(1, 100000));
  history->add_flag("--json", c.json, "print as JSON");
  auto* mode = app.add_subcommand(
      "mode",
      "`failover mode primary`: become the Primary now (as a fail-over: Active, a new "
      "generation, the promote hook); `failover mode secondary`: become a Secondary "
      "(Standby) without restarting the scheduler");
  mode->add_option("mode", c.word, "primary or secondary")
      ->required()
      ->check(CLI::IsMember({"primary", "secondary"}));
  mode->add_flag("--json", c.json, "print the new state as JSON");
  auto* clients = app.add_subcommand(
      "client-connection",
      "`failover client-connection disable|enable`: stop or resume new "
      "client connections (persisted in the node state; `hasync status` shows it)");
  clients->add_option("action", c.word, "disable or enable")
      ->required()
      ->check(CLI::IsMember({"disable", "enable"}));
  auto* ha = app.add_subcommand("ha",
                                "`hasync ha enable|disable [--wait]`: start or stop "
                                "scheduled syncs (a running sync finishes first)");
  ha->add_option("action", c.word, "enable or disable")
      ->required()
      ->check(CLI::IsMember({"disable", "enable"}));
  ha->add_flag("--wait", c.wait, "disable: wait for a running sync and report the last result");
  auto* daemon = app.add_subcommand(
      "daemon", "run the node: scheduled syncs on a Secondary in Standby with HA enabled");
  daemon->add_option("--transport", c.transport,
                     "instead of ssh to [secondary] primary: a command reaching its serve side");

  auto* config = app.add_subcommand("config", "show or change the settings");
  config->require_subcommand(1);
  auto* config_show = config->add_subcommand("show", "the effective settings (secrets masked)");
  config_show->add_flag("--json", c.json, "print as JSON");
  auto* config_set = config->add_subcommand(
      "set",
      "set section.key to a value; validated before it is written; saving start_time or "
      "run_every restarts the schedule from the next StartTime");
  config_set->add_option("key", c.config_key, "section.key, e.g. secondary.run_every")->required();
  config_set->add_option("value", c.value, "the new value, e.g. 4h")->required();

  auto* serve = app.add_subcommand("serve", "the Primary's read-only side of a sync");
  serve->add_flag("--stdio", c.stdio, "speak the protocol on stdin/stdout (required)")->required();

  auto* trust = app.add_subcommand("trust", "trusted hosts: this node's key and its peers'");
  trust->require_subcommand(1);
  auto* trust_key =
      trust->add_subcommand("key", "print this node's public key (created on first use)");
  trust_key->add_flag("--json", c.json, "print as JSON");
  auto* trust_add =
      trust->add_subcommand("add", "trust a peer: its key may start this node's serve side");
  trust_add->add_option("host", c.host, "the peer's host name or address")->required();
  trust_add->add_option("--key", c.key, "the peer's key, as `hasync trust key` prints it there")
      ->required();
  trust_add->add_option("--port", c.port, "the peer's sshd port (default: [ssh] port)")
      ->check(CLI::Range(1, 65535));
  trust_add->add_option("--host-key", c.host_key,
                        "the peer's sshd host key to pin (else fetched on `trust test`)");
  auto* trust_list = trust->add_subcommand("list", "list the trusted hosts");
  trust_list->add_flag("--json", c.json, "print as JSON");
  auto* trust_remove = trust->add_subcommand("remove", "stop trusting a peer");
  trust_remove->add_option("host", c.host, "the peer")->required();
  auto* trust_test =
      trust->add_subcommand("test", "Test Connection: ssh, hello and the version gate");
  trust_test->add_option("host", c.host, "the trusted peer")->required();
  trust_test->add_flag("--accept-host-key", c.accept_host_key,
                       "pin the peer's sshd host key if none is pinned yet, without asking");
  trust_test->add_flag("--json", c.json, "print the result as JSON");

  auto* version = app.add_subcommand("version", "print the version, protocol and I/O backend");
  version->add_flag("--json", c.json, "print as JSON");

  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    app.exit(e);
    return ExitCode(Code::kUsage);
  }
  Status st = InitLogging(c.log_level);
  if (!st.ok()) return Fail(st, false);
  if (sync->parsed()) {
    if (invoked_as_failover) c.trigger = "failover";
    return CmdSync(c);
  }
  if (status->parsed()) return CmdStatus(c);
  if (history->parsed()) return CmdHistory(c);
  if (mode->parsed()) return CmdMode(c);
  if (clients->parsed()) return CmdClients(c);
  if (ha->parsed()) return CmdHa(c);
  if (daemon->parsed()) return CmdDaemon(c);
  if (config_show->parsed()) return CmdConfigShow(c);
  if (config_set->parsed()) return CmdConfigSet(c);
  if (serve->parsed()) return CmdServe(c);
  if (version->parsed()) return CmdVersion(c);
  if (trust_key->parsed()) return CmdTrustKey(c);
  if (trust_add->parsed()) return CmdTrustAdd(c);
  if (trust_list->parsed()) return CmdTrustList(c);
  if (trust_remove->parsed()) return CmdTrustRemove(c);
  if (trust_test->parsed()) return CmdTrustTest(c);
  return ExitCode(Code::kUsage);
}

}  // namespace hasync::engine

int main(int argc, char** argv) { return hasync::engine::Main(argc, argv); }
