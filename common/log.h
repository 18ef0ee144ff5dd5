// Logging: spdlog to stderr, one named logger per module so an operator can grep ("sync",
// "serve", "apply"). An error is logged once, where it is handled.
#pragma once

#include <memory>
#include <string>

#include <spdlog/spdlog.h>

#include "common/status.h"

namespace hasync {

// Sets the level ("trace".."off") and pattern for every logger. Bad level: kUsage.
Status InitLogging(const std::string& level);
// The logger for a module, created on first use.
std::shared_ptr<spdlog::logger> Log(const std::string& module);

}  // namespace hasync
