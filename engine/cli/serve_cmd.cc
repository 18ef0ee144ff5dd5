// `hasync serve --stdio`: the Primary's read-only side of a sync or a verify, speaking the
// protocol on stdin/stdout. ssh starts it as the forced command of the peer's authorized_keys
// entry (engine/node/trust.h); --transport commands start it directly. Its stdout is the
// protocol, so an error is only logged, never printed as JSON.
#include <memory>

#include <CLI/CLI.hpp>

#include "engine/cli/cli.h"
#include "engine/config/settings.h"
#include "engine/session/serve.h"
#include "transport/channel.h"

namespace hasync::engine {
namespace {

struct ServeCommandOptions {
  bool stdio = false;  // required: the only way to serve
};

int CmdServe(const CommonOptions& common) {
  auto s = LoadSettings(common.config);
  if (!s.ok()) return Fail(s.status());
  auto channel = transport::OpenStdioChannel();
  Status st = RunServe(*s, *channel, ServeOptions{});
  if (!st.ok()) return Fail(st);
  return 0;
}

}  // namespace

std::vector<Command> RegisterServe(CLI::App& root, const CommonOptions& common) {
  auto o = std::make_shared<ServeCommandOptions>();
  auto* serve = root.add_subcommand("serve", "the Primary's read-only side of a sync");
  serve->add_flag("--stdio", o->stdio, "speak the protocol on stdin/stdout (required)")->required();
  // The runner holds `o` only to keep the flag's storage alive while CLI11 parses.
  return {{serve, [o, &common] { return CmdServe(common); }}};
}

}  // namespace hasync::engine
