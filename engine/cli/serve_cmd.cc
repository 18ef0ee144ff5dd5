// `hasync serve --stdio`: the Primary's read-only side of a sync or a verify, speaking the
// protocol on stdin/stdout. ssh starts it as the forced command of the peer's authorized_keys
// entry (engine/node/trust.h), with --peer binding the key to the peer's node name;
// --transport commands start it directly. Its stdout is the protocol, so an error is only
// logged, never printed as JSON.
#include <cstdlib>
#include <memory>
#include <string>

#include <CLI/CLI.hpp>

#include "engine/cli/cli.h"
#include "engine/config/settings.h"
#include "engine/session/serve.h"
#include "transport/channel.h"

namespace hasync::engine {
namespace {

struct ServeCommandOptions {
  bool stdio = false;  // required: the only way to serve
  std::string peer;    // the node name the forced command binds the key to
};

int CmdServe(const CommonOptions& common, const ServeCommandOptions& o) {
  auto s = LoadSettings(common.config);
  if (!s.ok()) return Fail(s.status());
  auto channel = transport::OpenStdioChannel();
  // sshd sets these for the forced command: a serve started by ssh without --peer comes from
  // an authorized_keys line written before keys were bound to node names.
  bool by_ssh = std::getenv("SSH_ORIGINAL_COMMAND") != nullptr || std::getenv("SSH_CLIENT");
  Status st = RunServe(
      *s, *channel,
      ServeOptions{.binding = {.peer = o.peer, .refuse_unbound = by_ssh && o.peer.empty()}});
  if (!st.ok()) return Fail(st);
  return 0;
}

}  // namespace

std::vector<Command> RegisterServe(CLI::App& root, const CommonOptions& common) {
  auto o = std::make_shared<ServeCommandOptions>();
  auto* serve = root.add_subcommand("serve", "the Primary's read-only side of a sync");
  serve->add_flag("--stdio", o->stdio, "speak the protocol on stdin/stdout (required)")->required();
  serve->add_option("--peer", o->peer,
                    "serve only the peer whose hello names this node (the forced command of "
                    "`hasync trust add` sets it)");
  return {{serve, [o, &common] { return CmdServe(common, *o); }}};
}

}  // namespace hasync::engine
