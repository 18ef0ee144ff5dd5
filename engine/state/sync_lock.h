// One sync at a time per node (invariant 3): an flock(2) on <state_dir>/sync.lock, released by
// the kernel even when the holder is killed.
#pragma once

#include <string>

#include "common/status.h"

namespace hasync::engine {

class SyncLock {
 public:
  // kBusy, with the running sync's start time, when another process holds it.
  static Result<SyncLock> Acquire(const std::string& state_dir);
  SyncLock(SyncLock&& other) noexcept : fd_(other.fd_) { other.fd_ = -1; }
  SyncLock& operator=(SyncLock&&) = delete;
  ~SyncLock();

 private:
  explicit SyncLock(int fd) : fd_(fd) {}
  int fd_;
};

}  // namespace hasync::engine
