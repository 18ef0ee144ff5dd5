// Kill points: parsed once from HASYNC_KILL_AT; each hit of the named point counts.
#include "common/kill_point.h"

#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <cstring>
#include <string>

namespace hasync {
namespace {

struct Target {
  std::string name;
  long at = 0;
  bool stop = false;  // ":stop": SIGSTOP instead of SIGKILL (the test resumes it with SIGCONT)
  std::atomic<long> hits{0};
};

Target* LoadTarget() {
  const char* spec = std::getenv("HASYNC_KILL_AT");
  if (spec == nullptr || *spec == '\0') return nullptr;
  auto* t = new Target();  // lives for the process
  std::string text = spec;
  if (text.ends_with(":stop")) {
    t->stop = true;
    text.resize(text.size() - 5);
  }
  spec = text.c_str();
  const char* colon = std::strrchr(spec, ':');
  t->name = colon ? std::string(spec, colon) : std::string(spec);
  t->at = colon ? std::atol(colon + 1) : 1;
  if (t->at < 1) t->at = 1;
  return t;
}

}  // namespace

void KillPoint(const char* name) {
  static Target* target = LoadTarget();
  if (target == nullptr || target->name != name) return;
  if (target->hits.fetch_add(1) + 1 == target->at) {
    if (target->stop) {
      ::kill(::getpid(), SIGSTOP);
      return;
    }
    ::kill(::getpid(), SIGKILL);
    ::pause();
  }
}

}  // namespace hasync
