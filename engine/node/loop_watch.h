// Which of the daemon's loops are making progress: the rule behind systemd's WATCHDOG=1 and the
// daemon lock's beat (engine/state/daemon_lock.h). Each loop beats as it goes (its sleeps beat
// too); a loop busy in work that is bounded by its own timeouts (a scheduled sync, which can
// take hours and watches its own channel) is exempt until it is done. Thread-safe; the clock is
// the caller's, so a test drives it.
#pragma once

#include <cstdint>
#include <mutex>
#include <string>
#include <vector>

namespace hasync::engine {

class LoopWatch {
 public:
  explicit LoopWatch(int64_t stall_limit_ms) : stall_limit_ms_(stall_limit_ms) {}
  // A new loop, alive as of now_ms. Returns its handle.
  int Add(const std::string& name, int64_t now_ms);
  void Beat(int loop, int64_t now_ms);
  void SetBusy(int loop, bool busy, int64_t now_ms);
  // "" while every loop beat within the limit (or is busy); else which one stalled and for how
  // long, for the log: "the heartbeat loop made no progress for 61 s".
  std::string Stalled(int64_t now_ms) const;
  int64_t stall_limit_ms() const { return stall_limit_ms_; }

 private:
  struct Loop {
    std::string name;
    int64_t last_ms = 0;
    bool busy = false;
  };
  const int64_t stall_limit_ms_;
  mutable std::mutex mu_;
  std::vector<Loop> loops_;
};

}  // namespace hasync::engine
