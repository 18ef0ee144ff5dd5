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

std::string Printable(std::string_view peer_text) {
  static const char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(peer_text.size());
  for (size_t i = 0; i < peer_text.size(); ++i) {
    auto c = static_cast<unsigned char>(peer_text[i]);
    // C1 controls are U+0080..U+009F, encoded 0xC2 0x80..0x9F: as dangerous as C0 on a terminal.
    bool c1 = c == 0xc2 && i + 1 < peer_text.size() &&
              static_cast<unsigned char>(peer_text[i + 1]) >= 0x80 &&
              static_cast<unsigned char>(peer_text[i + 1]) <= 0x9f;
    if (c < 0x20 || c == 0x7f || c1) {
      if (c1) c = static_cast<unsigned char>(peer_text[++i]);
      out += {'\\', 'x', kHex[c >> 4], kHex[c & 15]};
    } else {
      out += static_cast<char>(c);
    }
  }
  return out;
}

}  // namespace hasync
