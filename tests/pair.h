// A local Primary/Secondary pair for the tests that run whole syncs: two roots, two state
// folders, two settings files, and the ways to sync between them (in process or as the hasync
// binary).
#pragma once

#include <string>

#include "engine/config/settings.h"
#include "engine/session/pull.h"
#include "tests/test_util.h"

namespace hasync::testing {

// A Primary and a Secondary on this machine, each with its own root and state folder.
class Pair {
 public:
  Pair()
      : dir_(MakeTempDir()),
        primary_status_port_(FreeLoopbackPort()),
        secondary_status_port_(FreeLoopbackPort()) {
    for (const char* d : {"p", "s", "pstate", "sstate"}) fs::create_directories(dir_ + "/" + d);
    WriteConfigs("1.0", "1.0");
  }
  ~Pair() {
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }
  void WriteConfigs(const std::string& primary_version, const std::string& secondary_version) {
    WriteFile(dir_ + "/primary.toml",
              Config("mdm-a", "p", "pstate", primary_version, primary_status_port_, "[\"*.tmp\"]") +
                  primary_extra_);
    WriteFile(dir_ + "/secondary.toml", Config("mdm-b", "s", "sstate", secondary_version,
                                               secondary_status_port_, secondary_exclude_) +
                                            secondary_extra_);
  }
  // Settings appended to each side's file ([database] sections, say).
  void SetExtra(const std::string& primary_extra, const std::string& secondary_extra) {
    primary_extra_ = primary_extra;
    secondary_extra_ = secondary_extra;
    WriteConfigs("1.0", "1.0");
  }
  // The Secondary's own exclude globs (a TOML array; default the Primary's, ["*.tmp"]).
  void SetSecondaryExclude(const std::string& toml_array) {
    secondary_exclude_ = toml_array;
    WriteConfigs("1.0", "1.0");
  }
  std::string primary() const { return dir_ + "/p"; }
  std::string secondary() const { return dir_ + "/s"; }
  std::string dir() const { return dir_; }
  std::string secondary_config() const { return dir_ + "/secondary.toml"; }
  std::string primary_config() const { return dir_ + "/primary.toml"; }
  // Each side's daemon serves its status pages on its own loopback port.
  int primary_status_port() const { return primary_status_port_; }
  int secondary_status_port() const { return secondary_status_port_; }
  // The transport that starts the Primary's serve side; `prefix` wraps it (env vars, pipes).
  std::string Serve(const std::string& env_prefix = "", const std::string& pipe = "") const {
    return env_prefix + " " HASYNC_BIN " serve --stdio --log-level warn --config " + dir_ +
           "/primary.toml" + pipe;
  }
  Result<engine::SyncSummary> Sync(Env* env = nullptr, const std::string& transport = "",
                                   bool full_db = false) {
    auto s = engine::LoadSettings(secondary_config());
    if (!s.ok()) return s.status();
    engine::SyncOptions o{.transport_command = transport.empty() ? Serve() : transport,
                          .full_db = full_db,
                          .env = env};
    return engine::RunSync(*s, o);
  }
  // Runs the hasync binary as the Secondary; returns its exit code.
  int SyncProcess(const std::string& env_prefix, const std::string& transport = "") const {
    std::string cmd = env_prefix + " " HASYNC_BIN " sync --log-level error --config " +
                      secondary_config() + " --transport '" +
                      (transport.empty() ? Serve() : transport) + "' >/dev/null 2>&1";
    int st = std::system(cmd.c_str());
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
  }

 private:
  std::string Config(const std::string& name, const std::string& root, const std::string& state,
                     const std::string& version, int status_port,
                     const std::string& exclude) const {
    return "[node]\nname = \"" + name + "\"\nstate_dir = \"" + dir_ + "/" + state +
           "\"\nsoftware_version = \"" + version + "\"\n[[files]]\nname = \"data\"\nroot = \"" +
           dir_ + "/" + root + "\"\nexclude = " + exclude +
           "\n[status]\nlisten = \"127.0.0.1:" + std::to_string(status_port) + "\"\n";
  }
  std::string dir_;
  int primary_status_port_;
  int secondary_status_port_;
  std::string primary_extra_;
  std::string secondary_extra_;
  std::string secondary_exclude_ = "[\"*.tmp\"]";
};

}  // namespace hasync::testing
