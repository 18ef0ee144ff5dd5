// The sync lock file holds the holder's pid and start time, for the refusal message.
#include "engine/state/sync_lock.h"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>
#include <ctime>

namespace hasync::engine {

Result<SyncLock> SyncLock::Acquire(const std::string& state_dir) {
  std::string path = state_dir + "/sync.lock";
  int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (fd < 0) return ErrnoStatus("opening " + path, errno);
  if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
    char buf[128] = {0};
    ssize_t n = ::pread(fd, buf, sizeof buf - 1, 0);
    ::close(fd);
    std::string who = n > 0 ? std::string(buf, static_cast<size_t>(n)) : "another process";
    while (!who.empty() && who.back() == '\n') who.pop_back();
    return Status(Code::kBusy, "another sync is running (" + who + ")");
  }
  char stamp[64];
  time_t now = ::time(nullptr);
  struct tm tm;
  ::gmtime_r(&now, &tm);
  ::strftime(stamp, sizeof stamp, "%Y-%m-%dT%H:%M:%SZ", &tm);
  std::string text = "pid " + std::to_string(::getpid()) + ", started " + stamp + "\n";
  if (::ftruncate(fd, 0) != 0 || ::pwrite(fd, text.data(), text.size(), 0) < 0) {
    // The lock is held all the same; only the message for a second sync is poorer.
  }
  return SyncLock(fd);
}

SyncLock::~SyncLock() {
  if (fd_ >= 0) ::close(fd_);
}

}  // namespace hasync::engine
