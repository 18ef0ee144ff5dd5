// The helpers every command group shares (cli.h): how a command fails, and how times print.
// An error is logged here, once, where the command handles it (STYLE.md, rule 4).
#include "engine/cli/cli.h"

#include <ctime>
#include <iostream>

#include <nlohmann/json.hpp>

#include "common/log.h"

namespace hasync::engine {

int Fail(const Status& st, Output out) {
  if (out.json) {
    nlohmann::json j = {
        {"result", "error"}, {"error", CodeName(st.code())}, {"message", st.message()}};
    std::cout << j.dump(2) << std::endl;
  }
  Log("hasync")->error("{}", st.ToString());
  return ExitCode(st.code());
}

std::string IsoTime(int64_t ms) {
  if (ms <= 0) return "";
  time_t t = static_cast<time_t>(ms / 1000);
  struct tm tm;
  ::gmtime_r(&t, &tm);
  char buf[32];
  ::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

}  // namespace hasync::engine
