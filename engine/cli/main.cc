// The hasync binary (also installed as `failover`, the same program told apart by argv[0]):
// the common options, the table of command groups (one `<group>_cmd.cc` each, registering its
// own subcommands and options), and the dispatch to the command parsed. A command's Status
// becomes the exit code of the closed table in common/status.h; a bad command line exits 2.
// The commands not yet in a group of their own are registered by RegisterLegacy, after the
// groups (help order), into one Cli struct.
#include <signal.h>
#include <unistd.h>

#include <iostream>
#include <string>
#include <utility>
#include <vector>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include "common/env.h"
#include "common/hash.h"
#include "common/log.h"
#include "engine/cli/cli.h"
#include "engine/config/settings.h"
#include "engine/node/trust.h"
#include "engine/session/pull.h"
#include "engine/session/serve.h"
#include "engine/wire/protocol.h"

namespace hasync::engine {
namespace {

struct Group {
  const char* name;  // the group's file: <name>_cmd.cc
  RegisterFn register_commands;
};

// In the order `hasync --help` lists the subcommands (CLI11 keeps the registration order).
constexpr Group kGroups[] = {
    {"sync", RegisterSync},          // sync (and `failover sync`)
    {"verify", RegisterVerify},      // verify
    {"node", RegisterNode},          // status, events, notify test, history
    {"failover", RegisterFailover},  // mode, client-connection, ha, daemon
};

Program ProgramOf(const std::string& argv0) {
  bool failover = argv0.size() >= 8 && argv0.substr(argv0.size() - 8) == "failover";
  return failover ? Program::kFailover : Program::kHasync;
}

void AddCommonOptions(CLI::App& app, CommonOptions& common) {
  app.require_subcommand(1);
  app.fallthrough();  // --config and --log-level may follow the subcommand too
  app.add_option("--config", common.config,
                 "settings file (default: $HASYNC_CONFIG, else /etc/hasync/hasync.toml)");
  app.add_option("--log-level", common.log_level, "trace, debug, info, warn, error or off")
      ->check(CLI::IsMember({"trace", "debug", "info", "warn", "error", "off"}));
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

// The commands still parsed into one Cli; their runners copy the common options in.
std::vector<Command> RegisterLegacy(CLI::App& app, const CommonOptions& common, Cli& c) {
  auto run = [&c, &common](int (*cmd)(const Cli&)) {
    return [&c, &common, cmd] {
      c.config = common.config;
      return cmd(c);
    };
  };
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
  return {{config_show, run(CmdConfigShow)},
          {config_set, run(CmdConfigSet)},
          {serve, run(CmdServe)},
          {version, run(CmdVersion)},
          {trust_key, run(CmdTrustKey)},
          {trust_add, run(CmdTrustAdd)},
          {trust_list, run(CmdTrustList)},
          {trust_remove, run(CmdTrustRemove)},
          {trust_test, run(CmdTrustTest)}};
}

}  // namespace

int Main(int argc, char** argv) {
  // A peer that goes away must be an error we report, not a signal that kills us mid-commit.
  ::signal(SIGPIPE, SIG_IGN);
  CommonOptions common{.config = DefaultConfigPath(),
                       .program = ProgramOf(argc > 0 ? argv[0] : "hasync")};
  CLI::App app{
      "hasync: keeps a Secondary an exact, verified, crash-consistent copy of its Primary"};
  AddCommonOptions(app, common);
  std::vector<Command> commands;
  for (const Group& group : kGroups) {
    for (Command& command : group.register_commands(app, common)) {
      commands.push_back(std::move(command));
    }
  }
  Cli c;
  for (Command& command : RegisterLegacy(app, common, c)) commands.push_back(std::move(command));
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
  Status st = InitLogging(common.log_level);
  if (!st.ok()) return Fail(st);
  for (const Command& command : commands) {
    if (command.app->parsed()) return command.run();
  }
  return ExitCode(Code::kUsage);
}

}  // namespace hasync::engine

int main(int argc, char** argv) { return hasync::engine::Main(argc, argv); }
