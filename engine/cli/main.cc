// The hasync binary (also installed as `failover`, the same program told apart by argv[0]):
// the common options, the table of command groups (one `<group>_cmd.cc` each, registering its
// own subcommands and options), and the dispatch to the command parsed. A command's Status
// becomes the exit code of the closed table in common/status.h; a bad command line exits 2.
#include <signal.h>

#include <string>
#include <utility>
#include <vector>

#include <CLI/CLI.hpp>

#include "common/log.h"
#include "engine/cli/cli.h"
#include "engine/config/settings.h"

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
    {"config", RegisterConfig},      // config show, config set
    {"serve", RegisterServe},        // serve
    {"trust", RegisterTrust},        // trust key, add, list, remove, test
    {"version", RegisterVersion},    // version
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
