// OFD locks (F_OFD_SETLK), not flock: F_OFD_GETLK tells a reader whether the lock is held
// without taking it, so a heartbeat's probe racing a starting daemon cannot make it fail.
#include "engine/state/daemon_lock.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdlib>

namespace hasync::engine {
namespace {

std::string LockPath(const std::string& state_dir) { return state_dir + "/daemon.lock"; }

struct flock WholeFile(short type) {
  struct flock fl {};
  fl.l_type = type;
  fl.l_whence = SEEK_SET;
  fl.l_start = 0;
  fl.l_len = 0;
  return fl;
}

// "pid 123\nstall_limit_ms 60000\n"; a missing or damaged field reads as 0.
int64_t Field(const std::string& text, const std::string& name) {
  size_t at = text.find(name + " ");
  if (at == std::string::npos) return 0;
  return std::atoll(text.c_str() + at + name.size() + 1);
}

int64_t WallMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace

Result<DaemonLock> DaemonLock::Acquire(const std::string& state_dir, int64_t stall_limit_ms) {
  std::string path = LockPath(state_dir);
  int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (fd < 0) return ErrnoStatus("opening " + path, errno);
  struct flock fl = WholeFile(F_WRLCK);
  if (::fcntl(fd, F_OFD_SETLK, &fl) != 0) {
    int err = errno;
    char buf[128] = {0};
    ssize_t n = ::pread(fd, buf, sizeof buf - 1, 0);
    ::close(fd);
    if (err != EAGAIN && err != EACCES) return ErrnoStatus("locking " + path, err);
    int64_t pid = n > 0 ? Field(std::string(buf, static_cast<size_t>(n)), "pid") : 0;
    return Status(Code::kBusy,
                  "another hasync daemon" + (pid > 0 ? " (pid " + std::to_string(pid) + ")" : "") +
                      " runs on the state folder " + state_dir + ": one daemon per node");
  }
  std::string text = "pid " + std::to_string(::getpid()) + "\nstall_limit_ms " +
                     std::to_string(stall_limit_ms) + "\n";
  if (::ftruncate(fd, 0) != 0 || ::pwrite(fd, text.data(), text.size(), 0) < 0) {
    int err = errno;
    ::close(fd);
    return ErrnoStatus("writing " + path, err);
  }
  DaemonLock lock(fd);
  lock.Beat();
  return lock;
}

DaemonLock::~DaemonLock() {
  if (fd_ >= 0) ::close(fd_);
}

void DaemonLock::Beat() {
  if (fd_ >= 0) (void)::futimens(fd_, nullptr);
}

Result<DaemonLiveness> ReadDaemonLiveness(const std::string& state_dir) {
  std::string path = LockPath(state_dir);
  DaemonLiveness l;
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  if (fd < 0) {
    if (errno == ENOENT) return l;  // no daemon ever ran here
    return ErrnoStatus("opening " + path, errno);
  }
  struct flock fl = WholeFile(F_WRLCK);
  int rc = ::fcntl(fd, F_OFD_GETLK, &fl);
  int err = errno;
  struct stat st {};
  char buf[128] = {0};
  ssize_t n = ::pread(fd, buf, sizeof buf - 1, 0);
  bool stat_ok = ::fstat(fd, &st) == 0;
  ::close(fd);
  if (rc != 0) return ErrnoStatus("testing the lock on " + path, err);
  l.running = fl.l_type != F_UNLCK;
  std::string text = n > 0 ? std::string(buf, static_cast<size_t>(n)) : "";
  l.pid = Field(text, "pid");
  l.stall_limit_ms = Field(text, "stall_limit_ms");
  if (stat_ok) {
    int64_t mtime_ms =
        static_cast<int64_t>(st.st_mtim.tv_sec) * 1000 + st.st_mtim.tv_nsec / 1000000;
    l.beat_age_ms = std::max<int64_t>(0, WallMs() - mtime_ms);
  }
  return l;
}

}  // namespace hasync::engine
