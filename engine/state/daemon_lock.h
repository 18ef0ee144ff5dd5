// The daemon's liveness, as other processes of the node (the serve side sshd starts for a
// Secondary's heartbeat) can see it: an open-file-description lock on <state_dir>/daemon.lock,
// held for the daemon's life and released by the kernel when it dies however it dies, and the
// file's modification time, touched while every loop of the daemon is making progress (the
// same rule that sends systemd's WATCHDOG=1). The lock also keeps a second daemon off one
// state folder.
#pragma once

#include <cstdint>
#include <string>

#include "common/status.h"

namespace hasync::engine {

class DaemonLock {
 public:
  // kBusy naming the holder's pid when another daemon holds the folder. `stall_limit_ms` is
  // written into the file: a reader takes a beat older than that for a hung daemon.
  static Result<DaemonLock> Acquire(const std::string& state_dir, int64_t stall_limit_ms);
  DaemonLock(DaemonLock&& other) noexcept : fd_(other.fd_) { other.fd_ = -1; }
  DaemonLock& operator=(DaemonLock&&) = delete;
  ~DaemonLock();
  // "Every loop made progress": moves the file's modification time to now.
  void Beat();

 private:
  explicit DaemonLock(int fd) : fd_(fd) {}
  int fd_;
};

struct DaemonLiveness {
  bool running = false;  // a process holds the lock
  int64_t pid = 0;
  int64_t beat_age_ms = 0;     // since the last Beat (or the start)
  int64_t stall_limit_ms = 0;  // as the daemon wrote it
  // A file without the limit (damaged) falls back to the daemon's default.
  bool hung() const {
    return running && beat_age_ms > (stall_limit_ms > 0 ? stall_limit_ms : kDefaultStallMs);
  }
  static constexpr int64_t kDefaultStallMs = 60000;
};
// Tests the lock without taking it (a probe must never make a starting daemon fail).
Result<DaemonLiveness> ReadDaemonLiveness(const std::string& state_dir);

}  // namespace hasync::engine
