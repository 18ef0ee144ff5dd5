// Logging: spdlog to stderr, one named logger per module so an operator can grep ("sync",
// "serve", "apply"). An error is logged once, where it is handled.
#pragma once

#include <memory>
#include <string>
#include <string_view>

#include <spdlog/spdlog.h>

#include "common/status.h"

namespace hasync {

// Sets the level ("trace".."off") and pattern for every logger. Bad level: kUsage.
Status InitLogging(const std::string& level);
// The logger for a module, created on first use.
std::shared_ptr<spdlog::logger> Log(const std::string& module);

// Text a peer supplied (its node name, error messages, reasons), made safe for a log line or a
// terminal: control characters (C0, DEL, and C1 when they stand alone) become "\xNN", so a peer
// cannot forge log lines or send escape sequences to an operator's terminal. UTF-8 text stays.
std::string Printable(std::string_view peer_text);

}  // namespace hasync
