// The hasync binary (also installed as `failover`): parses the command line with CLI11, runs the
// command, and turns its Status into the exit code of the closed table in common/status.h.
#include <signal.h>
#include <unistd.h>

#include <cstdio>
#include <iostream>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include "common/env.h"
#include "common/hash.h"
#include "common/log.h"
#include "engine/progress.h"
#include "engine/protocol.h"
#include "engine/pull.h"
#include "engine/serve.h"
#include "engine/settings.h"

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
  // serve
  bool stdio = false;
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
  SyncOptions o{.transport_command = c.transport,
                .dry_run = c.dry_run,
                .rehash_all = c.checksum,
                .progress = c.progress,
                .env = nullptr};
  auto r = RunSync(*s, o);
  if (!r.ok()) return Fail(r.status(), c.json);
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

int CmdServe(const Cli& c) {
  auto s = LoadSettings(c.config);
  if (!s.ok()) return Fail(s.status(), false);
  auto channel = transport::OpenStdioChannel();
  Status st = RunServe(*s, *channel, ServeOptions{});
  if (!st.ok()) return Fail(st, false);
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

  auto* sync =
      app.add_subcommand("sync", "pull the file roots from the Primary now (run on the Secondary)");
  sync->add_option("--transport", c.transport,
                   "command whose stdin/stdout reach the Primary's `hasync serve --stdio`");
  sync->add_flag("--progress", c.progress, "show files, bytes, rate and ETA on stderr");
  sync->add_flag("--json", c.json, "print the summary as JSON on stdout");
  sync->add_flag("--dry-run", c.dry_run, "list what would change; change nothing");
  sync->add_flag("--checksum", c.checksum,
                 "re-hash every file on both sides instead of trusting the quick check");

  auto* serve = app.add_subcommand("serve", "the Primary's read-only side of a sync");
  serve->add_flag("--stdio", c.stdio, "speak the protocol on stdin/stdout (required)")->required();

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
  if (sync->parsed()) return CmdSync(c);
  if (serve->parsed()) return CmdServe(c);
  if (version->parsed()) return CmdVersion(c);
  return ExitCode(Code::kUsage);
}

}  // namespace hasync::engine

int main(int argc, char** argv) { return hasync::engine::Main(argc, argv); }
