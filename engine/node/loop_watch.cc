#include "engine/node/loop_watch.h"

namespace hasync::engine {

int LoopWatch::Add(const std::string& name, int64_t now_ms) {
  std::lock_guard<std::mutex> lock(mu_);
  loops_.push_back({name, now_ms, false});
  return static_cast<int>(loops_.size()) - 1;
}

void LoopWatch::Beat(int loop, int64_t now_ms) {
  std::lock_guard<std::mutex> lock(mu_);
  loops_.at(static_cast<size_t>(loop)).last_ms = now_ms;
}

void LoopWatch::SetBusy(int loop, bool busy, int64_t now_ms) {
  std::lock_guard<std::mutex> lock(mu_);
  Loop& l = loops_.at(static_cast<size_t>(loop));
  l.busy = busy;
  l.last_ms = now_ms;
}

std::string LoopWatch::Stalled(int64_t now_ms) const {
  std::lock_guard<std::mutex> lock(mu_);
  for (const Loop& l : loops_) {
    if (l.busy || now_ms - l.last_ms <= stall_limit_ms_) continue;
    return "the " + l.name + " loop made no progress for " +
           std::to_string((now_ms - l.last_ms) / 1000) + " s";
  }
  return "";
}

}  // namespace hasync::engine
