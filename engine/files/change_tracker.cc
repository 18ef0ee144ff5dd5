// ChangeTracker: inotify watches on every folder of a root, and the marks they leave.
#include "engine/files/change_tracker.h"

#include <fcntl.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <random>

#include "common/log.h"
#include "snapshot/scanner.h"

namespace hasync::engine {
namespace {

constexpr uint32_t kMask = IN_CREATE | IN_DELETE | IN_MODIFY | IN_ATTRIB | IN_CLOSE_WRITE |
                           IN_MOVED_FROM | IN_MOVED_TO | IN_DELETE_SELF | IN_MOVE_SELF | IN_ONLYDIR;
// An untracked tracker tries its watches again after this long, then twice as long each time.
constexpr int64_t kRetryMs = 60000;
constexpr int64_t kMaxRetryMs = 3600 * 1000;

int64_t NowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

uint64_t NewGeneration() {
  std::random_device rd;
  uint64_t g = 0;
  while (g == 0) g = (uint64_t{rd()} << 32) ^ rd();
  return g;
}

// Fault injection for the tests: HASYNC_TEST_WATCH_LIMIT=N makes every watch past the Nth fail
// as a full fs.inotify.max_user_watches does (ENOSPC).
size_t WatchLimit() {
  const char* v = std::getenv("HASYNC_TEST_WATCH_LIMIT");
  return v ? static_cast<size_t>(std::strtoull(v, nullptr, 10)) : SIZE_MAX;
}

// The name of the network or FUSE file system fd is on, or nullptr.
const char* NetworkFileSystem(int fd) {
  struct statfs f {};
  if (::fstatfs(fd, &f) != 0) return nullptr;
  switch (static_cast<uint64_t>(f.f_type)) {
    case 0x6969:
      return "NFS";
    case 0x517b:
      return "SMB";
    case 0xff534d42:
      return "CIFS";
    case 0xfe534d42:
      return "SMB2";
    case 0x65735546:
      return "FUSE";
    case 0x01021997:
      return "9P";
    case 0x00c36400:
      return "Ceph";
    case 0x5346414f:
      return "AFS";
    case 0x47504653:
      return "GPFS";
    case 0x0bd00bd0:
      return "Lustre";
    case 0x01161970:
      return "GFS2";
    case 0x7461636f:
      return "OCFS2";
    case 0x6b414653:
      return "kAFS";
    case 0x19830326:
      return "BeeGFS";
    case 0x20030528:
      return "OrangeFS";
    default:
      return nullptr;
  }
}

std::string Join(const std::string& rel, std::string_view name) {
  return rel.empty() ? std::string(name) : rel + "/" + std::string(name);
}

}  // namespace

Result<std::unique_ptr<ChangeTracker>> ChangeTracker::Start(const std::string& root) {
  int fd = ::inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
  if (fd < 0) return ErrnoStatus("inotify_init1", errno);
  std::unique_ptr<ChangeTracker> t(new ChangeTracker(root, fd));
  t->Reset("");
  return t;
}

ChangeTracker::ChangeTracker(std::string root, int fd) : root_(std::move(root)), fd_(fd) {}

ChangeTracker::~ChangeTracker() { ::close(fd_); }

void ChangeTracker::Reset(const std::string& why) {
  if (!why.empty()) Log("changes")->info("{}: watching again from the top: {}", root_, why);
  // A new inotify instance: closing the old one drops its watches and its queued events at once,
  // and every event the new watches raise is applied (a folder made while the tree is being
  // watched again is then watched too).
  int fd = ::inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
  int init_errno = errno;
  if (fd >= 0) {
    ::close(fd_);
    fd_ = fd;
  } else {
    for (const auto& [wd, path] : path_of_) ::inotify_rm_watch(fd_, wd);
  }
  path_of_.clear();
  marked_.clear();
  gen_ = NewGeneration();
  seq_ = 0;
  untracked_.clear();
  root_dev_ = 0;
  root_ino_ = 0;
  auto root = RootDir::Open(root_);
  if (fd < 0) {
    untracked_ = ErrnoStatus("inotify_init1", init_errno).ToString();
  } else if (!root.ok()) {
    untracked_ = root.status().ToString();
  } else {
    struct stat st {};
    if (::fstat(root->fd(), &st) == 0) {
      root_dev_ = st.st_dev;
      root_ino_ = st.st_ino;
    }
    (void)WatchTree(*root, "");  // sets untracked_ when a watch fails
  }
  if (!untracked_.empty()) {
    GoUntracked();
  } else {
    retry_ms_ = 0;
  }
}

void ChangeTracker::GoUntracked() {
  // No watch is kept while untracked: they would hold the account's share of
  // fs.inotify.max_user_watches (root's, shared with systemd and udev) for nothing.
  for (const auto& [wd, path] : path_of_) ::inotify_rm_watch(fd_, wd);
  path_of_.clear();
  marked_.clear();
  untracked_since_ms_ = NowMs();
  retry_ms_ = std::min<int64_t>(retry_ms_ == 0 ? kRetryMs : retry_ms_ * 2, kMaxRetryMs);
  Log("changes")->warn(
      "{}: not tracking changes (every sync walks the whole root; tried again in {} s): {}", root_,
      retry_ms_ / 1000, untracked_);
}

bool ChangeTracker::RootMoved() const {
  struct stat st {};
  return ::stat(root_.c_str(), &st) != 0 || st.st_dev != root_dev_ || st.st_ino != root_ino_;
}

bool ChangeTracker::WatchTree(const RootDir& root, const std::string& rel) {
  const size_t limit = WatchLimit();
  if (rel == snapshot::kStagingDirName) return true;
  // The watch first, then the listing: a folder made in between is either listed here or
  // reported by the watch.
  auto dir = rel.empty() ? Result<UniqueFd>(UniqueFd(::fcntl(root.fd(), F_DUPFD_CLOEXEC, 0)))
                         : root.OpenFd(rel, O_RDONLY | O_DIRECTORY);
  if (!dir.ok()) {
    // Gone or swapped since: its parent's change says so. Anything else (EMFILE, EIO) leaves a
    // folder unwatched, so the root is not tracked.
    Code c = dir.status().code();
    if (c == Code::kNotFound || c == Code::kUnsafePath) return true;
    untracked_ = dir.status().ToString();
    return false;
  }
  if (dir->get() < 0) {
    untracked_ = ErrnoStatus("dup of " + root.path(), errno).ToString();
    return false;
  }
  // Another machine's writes to a network file system raise no event here.
  if (const char* fs = NetworkFileSystem(dir->get())) {
    untracked_ =
        root.Describe(rel) + " is on " + fs + ": inotify does not see other clients' changes there";
    return false;
  }
  int wd = -1;
  if (path_of_.size() >= limit) {
    errno = ENOSPC;
  } else {
    std::string proc = "/proc/self/fd/" + std::to_string(dir->get());
    wd = ::inotify_add_watch(fd_, proc.c_str(), kMask);
  }
  if (wd < 0) {
    untracked_ = errno == ENOSPC
                     ? "a watch could not be set on " + root.Describe(rel) +
                           " (raise fs.inotify.max_user_watches)"
                     : ErrnoStatus("inotify_add_watch on " + root.Describe(rel), errno).ToString();
    return false;
  }
  *dir = UniqueFd();  // the watch holds the inode; deep trees must not pile up descriptors
  // The same folder reached by two paths (a bind mount inside the root): its events would name
  // only one of them.
  if (auto it = path_of_.find(wd); it != path_of_.end() && it->second != rel) {
    untracked_ = root.Describe(rel) + " is the same folder as " + root.Describe(it->second) +
                 " (a bind mount?): its changes could be reported under one name only";
    return false;
  }
  path_of_[wd] = rel;
  Mark(rel);
  auto names = ListDirInfoBeneath(root, rel);
  if (!names.ok()) {
    Code c = names.status().code();
    if (c == Code::kNotFound || c == Code::kUnsafePath) return true;
    untracked_ = names.status().ToString();
    return false;
  }
  for (const DirEntryInfo& d : *names) {
    if (d.info.type != FileType::kDirectory) continue;
    std::string sub = Join(rel, d.name);
    if (!WatchTree(root, sub)) return false;
  }
  return true;
}

void ChangeTracker::Mark(const std::string& rel) { marked_[rel] = ++seq_; }

void ChangeTracker::Drain() {
  alignas(struct inotify_event) char buf[64 * 1024];
  for (;;) {
    ssize_t n = ::read(fd_, buf, sizeof buf);
    if (n <= 0) break;
    for (char* p = buf; p < buf + n;) {
      auto* ev = reinterpret_cast<struct inotify_event*>(p);
      p += sizeof(struct inotify_event) + ev->len;
      uint64_t before = gen_;
      Apply(*ev);
      // A reset read the queue dry: what is left of this buffer is of the old generation.
      if (gen_ != before) return Drain();
    }
  }
  if (marked_.size() > path_of_.size() + kMaxAnswerDirs) {
    Reset("more folders were marked than watched (folders made and deleted)");
  }
}

void ChangeTracker::Apply(const ::inotify_event& ev) {
  if (ev.mask & IN_Q_OVERFLOW) return Reset("the event queue overflowed");
  auto it = path_of_.find(ev.wd);
  if (it == path_of_.end()) return;  // a watch removed since
  const std::string rel = it->second;
  // The root itself removed (and perhaps made again): nothing watches what is there now.
  if (rel.empty() && (ev.mask & (IN_DELETE_SELF | IN_IGNORED))) {
    return Reset("the root was removed");
  }
  if (ev.mask & IN_IGNORED) {
    path_of_.erase(it);
    return;
  }
  if (ev.mask & IN_UNMOUNT) return Reset("the file system of " + Join(root_, rel) + " went away");
  if (ev.mask & IN_MOVE_SELF) {
    return Reset(rel.empty() ? "the root was moved" : "the folder " + rel + " was moved");
  }
  std::string_view name = ev.len > 0 ? std::string_view(ev.name) : std::string_view();
  if (rel.empty() && name == snapshot::kStagingDirName) return;
  if ((ev.mask & IN_ISDIR) && (ev.mask & IN_MOVED_FROM)) {
    return Reset("the folder " + Join(rel, name) + " was renamed");
  }
  Mark(rel);
  if ((ev.mask & IN_ISDIR) && (ev.mask & (IN_CREATE | IN_MOVED_TO))) {
    std::string sub = Join(rel, name);
    auto root = RootDir::Open(root_);
    if (!root.ok()) return Reset(root.status().ToString());
    if (!WatchTree(*root, sub)) GoUntracked();
  }
}

void ChangeTracker::Tick() {
  if (!untracked_.empty() && NowMs() - untracked_since_ms_ >= retry_ms_) Reset("retrying");
}

ChangeAnswer ChangeTracker::Since(uint64_t gen, uint64_t seq) {
  // The root's path now names another folder (a parent renamed or a symlink above it retargeted,
  // a file system mounted on it): no event says so, the question does.
  if (untracked_.empty() && RootMoved()) Reset(root_ + " names another folder now");
  ChangeAnswer a;
  if (!untracked_.empty()) return a;
  a.gen = gen_;
  a.seq = seq_;
  a.root_dev = root_dev_;
  a.root_ino = root_ino_;
  if (gen != gen_ || seq > seq_) return a;
  for (const auto& [dir, at] : marked_) {
    if (at <= seq) continue;
    if (a.dirs.size() == kMaxAnswerDirs) {
      a.dirs.clear();
      return a;
    }
    a.dirs.push_back(dir);
  }
  a.full = false;
  std::sort(a.dirs.begin(), a.dirs.end());
  return a;
}

}  // namespace hasync::engine
