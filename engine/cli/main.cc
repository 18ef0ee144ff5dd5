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
#include "engine/cli/cli.h"
#include "engine/config/settings.h"
#include "engine/files/progress.h"
#include "engine/node/node.h"
#include "engine/node/trust.h"
#include "engine/session/pull.h"
#include "engine/session/serve.h"
#include "engine/session/verify_session.h"
#include "engine/state/node_state.h"
#include "engine/wire/protocol.h"
#include "snapshot/pg.h"

namespace hasync::engine {
namespace {

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
                .force_generation = c.force,
                .verify_level = c.verify_level,
                .env = nullptr};
  auto r = RunNodeSync(*s, o, c.trigger, over_ssh ? (c.host.empty() ? s->primary : c.host) : "");
  if (!r.ok()) return Fail(over_ssh ? ClassifySshFailure(r.status()) : r.status(), c.json);
  const SyncSummary& m = *r;
  double mbps = m.duration_s > 0 ? m.bytes_changed / m.duration_s / 1e6 : 0;
  if (c.json) {
    nlohmann::json j = {
        {"result", "ok"},
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
        {"throughput_mb_s", mbps},
        {"generation", m.source_lineage.empty() ? 0 : m.source_lineage.back().number}};
    if (!m.generation_warning.empty()) j["forced"] = m.generation_warning;
    j["verified"] = m.verified.empty() ? "none" : m.verified;
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

nlohmann::ordered_json ReportJson(const VerifyReport& v) {
  nlohmann::ordered_json j;
  j["result"] = v.equal() ? "equal" : "differs";
  j["primary"] = v.primary;
  j["duration_s"] = v.duration_s;
  j["roots"] = nlohmann::ordered_json::array();
  for (const auto& root : v.roots) {
    nlohmann::ordered_json diffs = nlohmann::ordered_json::array();
    for (const auto& d : root.differences) {
      nlohmann::ordered_json blocks = nlohmann::ordered_json::array();
      for (const auto& [first, last] : d.blocks) blocks.push_back({first, last});
      diffs.push_back({{"path", d.path}, {"what", d.what}, {"blocks", blocks}});
    }
    j["roots"].push_back({{"name", root.name},
                          {"equal", root.equal},
                          {"primary_entries", root.primary_entries},
                          {"secondary_entries", root.secondary_entries},
                          {"levels_descended", root.rounds},
                          {"differences", diffs}});
  }
  if (v.database) {
    j["tables"] = nlohmann::ordered_json::array();
    for (const auto& t : v.tables) {
      nlohmann::ordered_json ranges = nlohmann::ordered_json::array();
      for (const auto& [from, to] : t.ranges) ranges.push_back({from, to});
      j["tables"].push_back({{"table", t.table},
                             {"primary_rows", t.primary_rows},
                             {"secondary_rows", t.secondary_rows},
                             {"rows_replicated", t.rows_replicated},
                             {"equal", t.equal},
                             {"what", t.what},
                             {"key", t.key},
                             {"key_ranges", ranges}});
    }
  }
  return j;
}

void PrintReport(const VerifyReport& v) {
  for (const auto& root : v.roots) {
    std::printf("files %s: %s (%llu entries on the Primary, %llu here)\n", root.name.c_str(),
                root.equal ? "equal" : "DIFFER",
                static_cast<unsigned long long>(root.primary_entries),
                static_cast<unsigned long long>(root.secondary_entries));
    for (const auto& d : root.differences) {
      std::string blocks;
      for (const auto& [first, last] : d.blocks) {
        blocks += (blocks.empty() ? " blocks " : ", ") + std::to_string(first) +
                  (last != first ? "-" + std::to_string(last) : "");
      }
      std::printf("  %s: %s%s\n", d.path.c_str(), d.what.c_str(), blocks.c_str());
    }
  }
  if (v.database) {
    // The guide's check (Step 7, task 3): row counts on both sides, the device count among them.
    std::printf("%-40s %14s %14s  %s\n", "table", "Primary rows", "Secondary rows", "");
    for (const auto& t : v.tables) {
      std::string what = t.equal ? (t.rows_replicated ? "equal" : "rows not replicated") : t.what;
      for (const auto& [from, to] : t.ranges) {
        what += "; " + t.key + " in [" + (from.empty() ? "start" : from) + ", " +
                (to.empty() ? "end" : to) + ")";
      }
      std::printf("%-40s %14lld %14lld  %s\n", t.table.c_str(),
                  static_cast<long long>(t.primary_rows), static_cast<long long>(t.secondary_rows),
                  what.c_str());
    }
  }
  std::printf("%s: the Secondary %s the Primary (%s), %.2f s\n",
              v.equal() ? "verified" : "DIFFERENCES", v.equal() ? "equals" : "differs from",
              v.primary.c_str(), v.duration_s);
}

int CmdVerify(const Cli& c) {
  auto s = LoadSettings(c.config);
  if (!s.ok()) return Fail(s.status(), c.json);
  std::string transport = c.transport;
  std::string host = c.host.empty() ? s->primary : c.host;
  if (transport.empty()) {
    if (host.empty()) {
      return Fail(Status(Code::kUsage,
                         "no Primary to verify against: give a host, set [secondary] primary, or "
                         "give --transport 'COMMAND'"),
                  c.json);
    }
    auto t = SshTransportTo(*s, host);
    if (!t.ok()) return Fail(t.status(), c.json);
    transport = *t;
  }
  auto classify = [&](const Status& st) {
    return c.transport.empty() ? ClassifySshFailure(st) : st;
  };
  VerifyOptions vo{.transport_command = transport, .rehash_all = c.checksum};
  auto r = RunVerify(*s, vo);
  if (!r.ok()) return Fail(classify(r.status()), c.json);
  nlohmann::ordered_json out = ReportJson(*r);
  if (!c.json) PrintReport(*r);
  if (c.repair && !r->equal()) {
    auto plan = PrepareRepair(*s, *r);
    if (!plan.ok()) return Fail(plan.status(), c.json);
    if (!c.json) {
      std::printf("repairing:\n");
      for (const auto& n : plan->notes) std::printf("  %s\n", n.c_str());
    }
    SyncOptions so{.transport_command = transport,
                   .full_db = plan->full_db,
                   .verify_level = "full",
                   .db_repair = plan->ranges};
    auto synced = RunNodeSync(*s, so, "repair", c.transport.empty() ? host : "");
    if (!synced.ok()) return Fail(classify(synced.status()), c.json);
    r = RunVerify(*s, vo);
    if (!r.ok()) return Fail(classify(r.status()), c.json);
    nlohmann::ordered_json after = ReportJson(*r);
    after["repaired"] = {{"before", out},
                         {"notes", plan->notes},
                         {"full_db", plan->full_db},
                         {"key_ranges", plan->ranges.size()},
                         {"paths", plan->files}};
    out = after;
    if (!c.json) PrintReport(*r);
  }
  if (c.json) std::cout << out.dump(2) << std::endl;
  return r->equal() ? 0 : ExitCode(Code::kDiffers);
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
  sync->add_option(
          "--verify", c.verify_level,
          "verification after this sync: none, counts, sample or full (default: [sync] verify)")
      ->check(CLI::IsMember({"none", "counts", "sample", "full"}));
  sync->add_flag("--force", c.force,
                 "sync even from a source of an older or diverged generation (split brain): "
                 "what only this node has is discarded, and the sync says what");

  auto* verify = app.add_subcommand(
      "verify",
      "prove this Secondary equals its Primary: files by Merkle tree and block hashes, every "
      "table by row count and an order-independent hash; exit 0 only when all match (22 when "
      "something differs)");
  verify->add_option("host,--host", c.host,
                     "the trusted Primary to compare with over ssh (default: [secondary] primary)");
  verify->add_option("--transport", c.transport,
                     "instead of ssh: a command reaching its serve side");
  verify->add_flag("--checksum", c.checksum,
                   "re-read every file on both sides instead of trusting the manifest caches");
  verify->add_flag("--json", c.json, "print the report as JSON");
  verify->add_flag("--repair", c.repair,
                   "re-sync only what differs (those blocks, those key ranges) in one verified "
                   "sync, then verify again");
  auto* status = app.add_subcommand(
      "status", "mode, node status, HA, generation, last sync, next scheduled sync");
  status->add_flag("--json", c.json, "print as JSON");
  auto* events = app.add_subcommand(
      "events", "the event log (syncs, heartbeat, promotion, split brain) and its delivery");
  events->add_option("-n", c.limit, "how many rows (default 20)")->check(CLI::Range(1, 100000));
  events->add_flag("--json", c.json, "print as JSON");
  auto* notify = app.add_subcommand("notify", "notifications ([notify])");
  notify->require_subcommand(1);
  auto* notify_test = notify->add_subcommand(
      "test", "send a test email to [notify] email now (the guide's Test Email Notification)");
  notify_test->add_flag("--json", c.json, "print the result as JSON");
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
      "client connections (persisted; /status/status.html fails while disabled, so the load "
      "balancer drains this node)");
  clients->add_option("action", c.word, "disable or enable")
      ->required()
      ->check(CLI::IsMember({"disable", "enable"}));
  auto* ha = app.add_subcommand("ha",
                                "`hasync ha enable|disable [--wait]`: start or stop "
                                "scheduled syncs and the heartbeat's fail-over (a running sync "
                                "finishes first)");
  ha->add_option("action", c.word, "enable or disable")
      ->required()
      ->check(CLI::IsMember({"disable", "enable"}));
  ha->add_flag("--wait", c.wait, "disable: wait for a running sync and report the last result");
  auto* daemon = app.add_subcommand(
      "daemon",
      "run the node: scheduled syncs and the heartbeat (fail-over) on a Secondary in Standby "
      "with HA enabled, the split-brain watch on a Primary, the status pages ([status]) and "
      "notifications ([notify])");
  daemon->add_option("--transport", c.transport,
                     "instead of ssh to the peer ([secondary] primary, or [ha] peer): a command "
                     "reaching its serve side");

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
  if (verify->parsed()) return CmdVerify(c);
  if (status->parsed()) return CmdStatus(c);
  if (history->parsed()) return CmdHistory(c);
  if (events->parsed()) return CmdEvents(c);
  if (notify_test->parsed()) return CmdNotifyTest(c);
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
