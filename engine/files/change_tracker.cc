// ChangeTracker: inotify watches on every folder of a root, and the marks they leave.
#include "engine/files/change_tracker.h"

#include <fcntl.h>
#include <sys/inotify.h>
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
// An untracked tracker tries its watches again after this long.
constexpr int64_t kRetryMs = 60000;

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
  for (const auto& [wd, path] : path_of_) ::inotify_rm_watch(fd_, wd);
  path_of_.clear();
  marked_.clear();
  gen_ = NewGeneration();
  seq_ = 0;
  untracked_.clear();
  auto root = RootDir::Open(root_);
  if (!root.ok()) {
    untracked_ = root.status().ToString();
  } else {
    (void)WatchTree(*root, "");  // sets untracked_ when a watch fails
  }
  if (!untracked_.empty()) {
    untracked_since_ms_ = NowMs();
    Log("changes")->warn("{}: not tracking changes (every sync walks the whole root): {}", root_,
                         untracked_);
  }
  // Events of the watches just removed may still be queued: drop them, they name old folders.
  // This drops the new watches' first events too, safely: a client learns this generation only
  // from an answer given after this returns, which tells it to walk everything.
  alignas(struct inotify_event) char buf[64 * 1024];
  std::unordered_map<int, std::string> keep = path_of_;
  while (::read(fd_, buf, sizeof buf) > 0) {
  }
  path_of_ = std::move(keep);
}

bool ChangeTracker::WatchTree(const RootDir& root, const std::string& rel) {
  const size_t limit = WatchLimit();
  if (rel == snapshot::kStagingDirName) return true;
  // The watch first, then the listing: a folder made in between is either listed here or
  // reported by the watch.
  auto dir = rel.empty() ? Result<UniqueFd>(UniqueFd(::fcntl(root.fd(), F_DUPFD_CLOEXEC, 0)))
                         : root.OpenFd(rel, O_RDONLY | O_DIRECTORY);
  if (!dir.ok() || dir->get() < 0) return true;  // gone or swapped since: its parent says so
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
  path_of_[wd] = rel;
  Mark(rel);
  auto names = ListDirInfoBeneath(root, rel);
  if (!names.ok()) return true;
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
    if (!WatchTree(*root, sub)) {
      untracked_since_ms_ = NowMs();
      Log("changes")->warn("{}: not tracking changes (every sync walks the whole root): {}", root_,
                           untracked_);
    }
  }
}

void ChangeTracker::Tick() {
  if (!untracked_.empty() && NowMs() - untracked_since_ms_ >= kRetryMs) Reset("retrying");
}

ChangeAnswer ChangeTracker::Since(uint64_t gen, uint64_t seq) const {
  ChangeAnswer a;
  if (!untracked_.empty()) return a;
  a.gen = gen_;
  a.seq = seq_;
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
