// The hasync binary's shared pieces: the parsed command line and how a command fails. The
// commands live in main.cc (sync, serve, trust, version) and cli_node.cc (the HA node's).
#pragma once

#include <cstdint>
#include <string>

#include "common/status.h"

namespace hasync::engine {

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
  bool force = false;              // sync from an older or diverged generation (invariant 8)
  std::string verify_level;        // sync --verify
  bool repair = false;             // verify --repair
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

// Logs the error once and prints it as JSON when asked; returns its exit code.
int Fail(const Status& st, bool json);
// "2026-11-28T14:00:00Z" (empty for 0).
std::string IsoTime(int64_t ms);

int CmdStatus(const Cli& c);
int CmdHistory(const Cli& c);
int CmdEvents(const Cli& c);
int CmdMode(const Cli& c);
int CmdClients(const Cli& c);
int CmdHa(const Cli& c);
int CmdConfigShow(const Cli& c);
int CmdConfigSet(const Cli& c);
int CmdDaemon(const Cli& c);
int CmdNotifyTest(const Cli& c);

}  // namespace hasync::engine
