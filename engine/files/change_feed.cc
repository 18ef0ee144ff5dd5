// The change feed's socket: the daemon's side (one thread, poll on the trackers and the socket)
// and the question a scan asks.
#include "engine/files/change_feed.h"

#include <fcntl.h>
#include <poll.h>
#include <pwd.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>

#include "common/log.h"

namespace hasync::engine {
namespace {

constexpr std::string_view kHello = "HASYNC-CHANGES 1\n";
constexpr size_t kMaxQuestion = 512;
// An answer names at most kMaxAnswerDirs folders of at most 4096 bytes.
constexpr size_t kMaxAnswer = ChangeTracker::kMaxAnswerDirs * 4097 + 128;
// A question or answer that takes longer than this is dropped (the client walks everything).
constexpr int kTimeoutMs = 2000;

void SetTimeouts(int fd, int ms) {
  timeval tv{.tv_sec = ms / 1000, .tv_usec = (ms % 1000) * 1000};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
}

Result<uint32_t> PeerUid(int fd) {
  ucred cred{};
  socklen_t len = sizeof cred;
  if (::getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0) {
    return ErrnoStatus("SO_PEERCRED", errno);
  }
  return static_cast<uint32_t>(cred.uid);
}

Status WriteAll(int fd, std::string_view data) {
  while (!data.empty()) {
    ssize_t n = ::send(fd, data.data(), data.size(), MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return ErrnoStatus("writing to the change feed", errno);
    data.remove_prefix(static_cast<size_t>(n));
  }
  return Status::Ok();
}

// Reads until the peer closes its side, at most `cap` bytes.
Result<std::string> ReadAll(int fd, size_t cap) {
  std::string out;
  char buf[16384];
  for (;;) {
    ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return ErrnoStatus("reading the change feed", errno);
    if (n == 0) return out;
    if (out.size() + static_cast<size_t>(n) > cap) {
      return Status(Code::kProtocol, "the change feed sent too much");
    }
    out.append(buf, static_cast<size_t>(n));
  }
}

bool ParseU64(std::string_view s, uint64_t& v) {
  if (s.empty() || s.size() > 20) return false;
  v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return false;
    uint64_t d = static_cast<uint64_t>(c - '0');
    if (v > (UINT64_MAX - d) / 10) return false;
    v = v * 10 + d;
  }
  return true;
}

// "a b c" -> {"a", "b", "c"}
std::vector<std::string_view> Words(std::string_view line) {
  std::vector<std::string_view> w;
  while (!line.empty()) {
    size_t sp = line.find(' ');
    w.push_back(line.substr(0, sp));
    if (sp == std::string_view::npos) break;
    line.remove_prefix(sp + 1);
  }
  return w;
}

// "" (the root) or a relative path of plain names: no "", "." or ".." component.
bool InsideRoot(std::string_view d) {
  if (d.empty()) return true;
  for (std::string_view rest = d;;) {
    size_t slash = rest.find('/');
    std::string_view part = rest.substr(0, slash);
    if (part.empty() || part == "." || part == "..") return false;
    if (slash == std::string_view::npos) return true;
    rest.remove_prefix(slash + 1);
  }
}

sockaddr_un Address(const std::string& path) {
  sockaddr_un a{};
  a.sun_family = AF_UNIX;
  std::memcpy(a.sun_path, path.data(), std::min(path.size(), sizeof a.sun_path - 1));
  return a;
}

}  // namespace

std::string ChangeSocketPath(const std::string& state_dir) { return state_dir + "/changes.sock"; }

Result<std::unique_ptr<ChangeFeed>> ChangeFeed::Start(const Settings& s) {
  std::unique_ptr<ChangeFeed> f(new ChangeFeed());
  f->path_ = ChangeSocketPath(s.state_dir);
  if (f->path_.size() >= sizeof(sockaddr_un::sun_path)) {
    return Status(Code::kIo, "the state folder " + s.state_dir +
                                 " is too long a path for the change feed's socket");
  }
  f->allowed_uids_ = {0, static_cast<uint32_t>(::geteuid())};
  if (passwd* pw = ::getpwnam(s.ssh.user.c_str())) f->allowed_uids_.push_back(pw->pw_uid);
  for (const FileRootSettings& r : s.roots) {
    f->names_.push_back(r.name);
    f->paths_.push_back(r.root);
  }
  f->listen_fd_ = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (f->listen_fd_ < 0) return ErrnoStatus("socket", errno);
  // A socket left by a daemon that died: unlink removes the name only (never a target).
  ::unlink(f->path_.c_str());
  sockaddr_un a = Address(f->path_);
  if (::bind(f->listen_fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
    return ErrnoStatus("bind " + f->path_, errno);
  }
  // Any account may connect (the serve side runs as [ssh] user); Answer decides who is
  // answered. The folder is root's: no one else can have swapped the name since the bind.
  if (::chmod(f->path_.c_str(), 0666) != 0) return ErrnoStatus("chmod " + f->path_, errno);
  if (::listen(f->listen_fd_, 64) != 0) return ErrnoStatus("listen " + f->path_, errno);
  f->stop_fd_ = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (f->stop_fd_ < 0) return ErrnoStatus("eventfd", errno);
  f->thread_ = std::thread([p = f.get()] { p->Run(); });
  return f;
}

ChangeFeed::~ChangeFeed() {
  if (thread_.joinable()) {
    uint64_t one = 1;
    (void)!::write(stop_fd_, &one, sizeof one);
    thread_.join();
  }
  if (listen_fd_ >= 0) {
    ::close(listen_fd_);
    ::unlink(path_.c_str());
  }
  if (stop_fd_ >= 0) ::close(stop_fd_);
}

void ChangeFeed::Run() {
  // The watches are set here, not before the daemon starts its loops: a large tree takes a
  // while, and the heartbeat must not wait for it. Questions meanwhile wait in the socket's
  // backlog; a client that gives up walks everything.
  for (const std::string& root : paths_) {
    auto t = ChangeTracker::Start(root);
    if (!t.ok()) {
      Log("changes")->warn("{}: not tracking changes: {}", root, t.status().ToString());
      trackers_.push_back(nullptr);
    } else {
      Log("changes")->info("{}: tracking changes in {} folders", root, (*t)->watches());
      trackers_.push_back(std::move(*t));
    }
  }
  // A file system mounted or unmounted anywhere in the root raises no inotify event; the
  // kernel flags /proc/self/mountinfo instead, and every tracker starts over.
  UniqueFd mounts(::open("/proc/self/mountinfo", O_RDONLY | O_CLOEXEC));
  auto reread_mounts = [&] {
    char buf[4096];
    ::lseek(mounts.get(), 0, SEEK_SET);
    while (::read(mounts.get(), buf, sizeof buf) > 0) {
    }
  };
  if (mounts.get() >= 0) reread_mounts();
  for (;;) {
    std::vector<pollfd> fds = {
        {stop_fd_, POLLIN, 0}, {listen_fd_, POLLIN, 0}, {mounts.get(), POLLPRI, 0}};
    for (const auto& t : trackers_) {
      if (t) fds.push_back({t->fd(), POLLIN, 0});
    }
    int n = ::poll(fds.data(), fds.size(), 10000);
    if (n < 0 && errno != EINTR) {
      Log("changes")->error("the change feed stopped: {}", ErrnoStatus("poll", errno).ToString());
      return;
    }
    if (fds[0].revents) return;
    if (fds[2].revents & (POLLPRI | POLLERR)) {
      reread_mounts();
      for (auto& t : trackers_) {
        if (t) t->Restart("the mounts changed");
      }
    }
    for (auto& t : trackers_) {
      if (!t) continue;
      t->Drain();
      t->Tick();
    }
    if (fds[1].revents & POLLIN) {
      // A few questions per turn: the trackers' queues are drained between turns, whoever keeps
      // connecting.
      for (int i = 0; i < 16; ++i) {
        int conn = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
        if (conn < 0) break;
        Answer(conn);
        ::close(conn);
      }
    }
  }
}

void ChangeFeed::Answer(int conn) {
  SetTimeouts(conn, 200);
  auto uid = PeerUid(conn);
  if (!uid.ok()) return;
  if (std::find(allowed_uids_.begin(), allowed_uids_.end(), *uid) == allowed_uids_.end()) {
    if (refused_uids_.insert(*uid).second) {  // once per account: no log flood
      Log("changes")->warn(
          "refused a question from uid {} (answered: root, this account and "
          "[ssh] user)",
          *uid);
    }
    return;
  }
  // The question: three lines, read until the third newline, within 200 ms in all.
  std::string q;
  char buf[kMaxQuestion];
  auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(200);
  while (std::count(q.begin(), q.end(), '\n') < 3) {
    if (std::chrono::steady_clock::now() >= deadline) return;
    ssize_t n = ::recv(conn, buf, sizeof buf, 0);
    if (n <= 0 || q.size() + static_cast<size_t>(n) > kMaxQuestion) return;
    q.append(buf, static_cast<size_t>(n));
  }
  if (q.compare(0, kHello.size(), kHello) != 0) return;
  std::string_view rest = std::string_view(q).substr(kHello.size());
  size_t nl = rest.find('\n');
  std::string name(rest.substr(0, nl));
  rest.remove_prefix(nl + 1);
  auto w = Words(rest.substr(0, rest.find('\n')));
  uint64_t gen = 0;
  uint64_t seq = 0;
  if (w.size() != 2 || !ParseU64(w[0], gen) || !ParseU64(w[1], seq)) return;
  auto it = std::find(names_.begin(), names_.end(), name);
  ChangeTracker* t = it == names_.end() ? nullptr : trackers_[it - names_.begin()].get();
  std::string out;
  if (t == nullptr) {
    out = "UNTRACKED\n";
  } else {
    // Every event queued before the question was asked is applied before it is answered.
    t->Drain();
    ChangeAnswer a = t->Since(gen, seq);
    if (a.gen == 0) {
      out = "UNTRACKED\n";
    } else if (a.full) {
      out = "FULL " + std::to_string(a.gen) + " " + std::to_string(a.seq) + " " +
            std::to_string(a.root_dev) + " " + std::to_string(a.root_ino) + "\n";
    } else {
      out = "SINCE " + std::to_string(a.gen) + " " + std::to_string(a.seq) + " " +
            std::to_string(a.root_dev) + " " + std::to_string(a.root_ino) + " " +
            std::to_string(a.dirs.size()) + "\n";
      for (const std::string& d : a.dirs) {
        out += d;
        out.push_back('\0');
      }
    }
  }
  (void)WriteAll(conn, out);
}

Result<ChangeAnswer> AskChanges(const std::string& state_dir, const std::string& root_name,
                                uint64_t gen, uint64_t seq) {
  std::string path = ChangeSocketPath(state_dir);
  if (path.size() >= sizeof(sockaddr_un::sun_path)) {
    return Status(Code::kUnreachable, "the state folder is too long a path for the socket");
  }
  UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (fd.get() < 0) return ErrnoStatus("socket", errno);
  SetTimeouts(fd.get(), kTimeoutMs);
  sockaddr_un a = Address(path);
  if (::connect(fd.get(), reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
    return Status(Code::kUnreachable, "no change feed at " + path + ": " + std::strerror(errno));
  }
  HASYNC_ASSIGN_OR_RETURN(uint32_t uid, PeerUid(fd.get()));
  if (uid != 0 && uid != ::geteuid()) {
    return Status(Code::kUnreachable, "the change feed at " + path + " is served by uid " +
                                          std::to_string(uid) + ", neither root nor this account");
  }
  std::string q = std::string(kHello) + root_name + "\n" + std::to_string(gen) + " " +
                  std::to_string(seq) + "\n";
  HASYNC_RETURN_IF_ERROR(WriteAll(fd.get(), q));
  ::shutdown(fd.get(), SHUT_WR);
  HASYNC_ASSIGN_OR_RETURN(std::string r, ReadAll(fd.get(), kMaxAnswer));
  auto bad = [&](const char* why) {
    return Status(Code::kUnreachable, std::string("the change feed's answer is ") + why);
  };
  size_t nl = r.find('\n');
  if (nl == std::string::npos) return bad("cut short");
  auto w = Words(std::string_view(r).substr(0, nl));
  std::string_view body = std::string_view(r).substr(nl + 1);
  ChangeAnswer ans;
  if (w.size() == 1 && w[0] == "UNTRACKED" && body.empty()) return ans;
  if (w.size() < 5 || !ParseU64(w[1], ans.gen) || !ParseU64(w[2], ans.seq) ||
      !ParseU64(w[3], ans.root_dev) || !ParseU64(w[4], ans.root_ino) || ans.gen == 0) {
    return bad("malformed");
  }
  if (w[0] == "FULL" && w.size() == 5 && body.empty()) return ans;
  uint64_t count = 0;
  if (w[0] != "SINCE" || w.size() != 6 || !ParseU64(w[5], count) ||
      count > ChangeTracker::kMaxAnswerDirs) {
    return bad("malformed");
  }
  ans.full = false;
  while (!body.empty()) {
    size_t z = body.find('\0');
    if (z == std::string_view::npos) return bad("cut short");
    std::string_view d = body.substr(0, z);
    if (d.size() > 4096 || !InsideRoot(d)) return bad("naming a folder outside the root");
    ans.dirs.emplace_back(d);
    body.remove_prefix(z + 1);
  }
  if (ans.dirs.size() != count) return bad("of the wrong length");
  return ans;
}

}  // namespace hasync::engine
