// The hasync binary's shared pieces: the options every command takes, how a command group
// registers its subcommands, and the helpers the groups share. Each group is one
// `<group>_cmd.cc` owning its options (pgBackRest's one file per command); main.cc lists the
// groups in help order and dispatches to the one parsed.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "common/status.h"

namespace CLI {
class App;
}  // namespace CLI

namespace hasync::engine {

// The name the binary was started under: `failover` is the same program (DESIGN.md), and a
// sync it runs is recorded with the trigger "failover".
enum class Program { kHasync, kFailover };

// The options of the main command; by CLI11's fallthrough they may follow the subcommand too.
struct CommonOptions {
  std::string config;  // the settings file
  std::string log_level = "info";
  Program program = Program::kHasync;
};

// How a command reports its result and its error: as text, or as JSON on stdout (--json).
struct Output {
  bool json = false;
};

// One command a group registered: the (innermost) subcommand and what runs it once parsed.
struct Command {
  CLI::App* app = nullptr;   // not owned: the root App owns its subcommands
  std::function<int()> run;  // runs the command; returns the exit code (common/status.h)
};

// A command group adds its subcommands to `root`, in the order `hasync --help` lists them,
// and returns them with their runners. The group's options live in the runners; the runners
// read `common`, which must outlive them and holds the parsed values when they run.
using RegisterFn = std::vector<Command> (*)(CLI::App& root, const CommonOptions& common);

// The groups, in help order (main.cc's table).
std::vector<Command> RegisterSync(CLI::App& root, const CommonOptions& common);
std::vector<Command> RegisterVerify(CLI::App& root, const CommonOptions& common);
std::vector<Command> RegisterNode(CLI::App& root, const CommonOptions& common);
std::vector<Command> RegisterFailover(CLI::App& root, const CommonOptions& common);
std::vector<Command> RegisterConfig(CLI::App& root, const CommonOptions& common);
std::vector<Command> RegisterServe(CLI::App& root, const CommonOptions& common);
std::vector<Command> RegisterTrust(CLI::App& root, const CommonOptions& common);
std::vector<Command> RegisterVersion(CLI::App& root, const CommonOptions& common);

// Logs the error once and, for JSON output, prints it as JSON on stdout; returns its exit code.
int Fail(const Status& st, Output out = {});
// "2026-11-28T14:00:00Z" (empty for 0).
std::string IsoTime(int64_t ms);

}  // namespace hasync::engine
