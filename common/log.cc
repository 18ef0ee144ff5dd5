// spdlog set-up: every logger writes to the same stderr sink, so lines from threads never mix.
#include "common/log.h"

#include <spdlog/sinks/stdout_sinks.h>

#include <mutex>

namespace hasync {
namespace {
std::mutex g_mu;
spdlog::level::level_enum g_level = spdlog::level::info;
spdlog::sink_ptr Sink() {
  static spdlog::sink_ptr sink = std::make_shared<spdlog::sinks::stderr_sink_mt>();
  return sink;
}
}  // namespace

Status InitLogging(const std::string& level) {
  auto lvl = spdlog::level::from_str(level);
  if (lvl == spdlog::level::off && level != "off") {
    return Status(Code::kUsage,
                  "log level must be trace, debug, info, warn, error or off, not '" + level + "'");
  }
  std::lock_guard<std::mutex> lock(g_mu);
  g_level = lvl;
  spdlog::apply_all([&](std::shared_ptr<spdlog::logger> l) { l->set_level(lvl); });
  return Status::Ok();
}

std::shared_ptr<spdlog::logger> Log(const std::string& module) {
  std::lock_guard<std::mutex> lock(g_mu);
  if (auto l = spdlog::get(module)) return l;
  auto l = std::make_shared<spdlog::logger>(module, Sink());
  l->set_pattern("%Y-%m-%dT%H:%M:%S.%eZ %^%l%$ [%n] %v", spdlog::pattern_time_type::utc);
  l->set_level(g_level);
  spdlog::register_logger(l);
  return l;
}

}  // namespace hasync
