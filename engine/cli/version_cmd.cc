// `hasync version`: the software version, the protocol version the version gate compares, and
// the I/O backend, path resolver and hash kernel the run-time probes picked on this machine.
#include <cstdio>
#include <iostream>
#include <memory>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include "common/beneath.h"
#include "common/env.h"
#include "common/hash.h"
#include "engine/cli/cli.h"
#include "engine/wire/protocol.h"

namespace hasync::engine {
namespace {

struct VersionOptions {
  Output output;
};

int CmdVersion(const VersionOptions& o) {
  auto env = Env::Default();
  std::string io = env.ok() ? (*env)->Name() : "unavailable";
  auto resolver = DefaultResolver();
  std::string resolve = resolver.ok() ? std::string(ResolverName(*resolver)) : "unavailable";
  if (o.output.json) {
    nlohmann::json j = {{"version", HASYNC_VERSION},
                        {"protocol", kProtocolVersion},
                        {"io_backend", io},
                        {"path_resolver", resolve},
                        {"hash_kernel", HashKernelName()}};
    std::cout << j.dump(2) << std::endl;
  } else {
    std::printf("hasync %s (protocol %u, I/O backend %s, path resolver %s, xxh3 %s)\n",
                HASYNC_VERSION, kProtocolVersion, io.c_str(), resolve.c_str(), HashKernelName());
  }
  return 0;
}

}  // namespace

std::vector<Command> RegisterVersion(CLI::App& root, const CommonOptions& /*common*/) {
  auto o = std::make_shared<VersionOptions>();
  auto* version = root.add_subcommand("version", "print the version, protocol and I/O backend");
  version->add_flag("--json", o->output.json, "print as JSON");
  return {{version, [o] { return CmdVersion(*o); }}};
}

}  // namespace hasync::engine
