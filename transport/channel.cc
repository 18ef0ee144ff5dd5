// Channels over pipes and child processes. SIGPIPE is ignored by the binary, so writing to a
// peer that went away returns EPIPE and becomes a kPeer error instead of killing us.
#include "transport/channel.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <vector>

namespace hasync::transport {
namespace {

// A larger pipe buffer lets the sender run ahead of the receiver by whole frames.
constexpr int kPipeSize = 1 << 20;

void GrowPipe(int fd) { (void)::fcntl(fd, F_SETPIPE_SZ, kPipeSize); }

}  // namespace

FdChannel::FdChannel(int read_fd, int write_fd, bool owns)
    : read_fd_(read_fd), write_fd_(write_fd), owns_(owns) {
  auto env = Env::Default();
  env_ = env.ok() ? *env : nullptr;
  if (env_ == nullptr) {
    fallback_env_ = NewPosixEnv();
    env_ = fallback_env_.get();
  }
}

FdChannel::~FdChannel() {
  if (owns_) {
    if (read_fd_ >= 0) ::close(read_fd_);
    if (write_fd_ >= 0) ::close(write_fd_);
  }
}

Status FdChannel::ReadExact(std::span<std::byte> buf) {
  size_t done = 0;
  while (done < buf.size()) {
    ssize_t n = env_->ReadStream(read_fd_, buf.subspan(done));
    if (n < 0) {
      return Status(Code::kPeer, std::string("reading from the peer: ") + std::strerror(-n));
    }
    if (n == 0) {
      return Status(Code::kPeer,
                    EndOfStreamCause() + (done > 0 || bytes_read_ > 0 ? " in the middle of the sync"
                                                                      : " before saying anything"));
    }
    done += static_cast<size_t>(n);
  }
  bytes_read_ += done;
  return Status::Ok();
}

Status FdChannel::WriteAll(std::span<const std::byte> data) {
  auto start = std::chrono::steady_clock::now();
  size_t done = 0;
  while (done < data.size()) {
    ssize_t n = env_->WriteStream(write_fd_, data.subspan(done));
    if (n < 0) {
      // A peer that ended before it said anything did so whether our first write or our first
      // read notices: one message for both (which one notices is a race with its exit).
      if (n == -EPIPE) {
        return Status(Code::kPeer,
                      EndOfStreamCause() +
                          (bytes_read_ > 0 ? " while we were sending" : " before saying anything"));
      }
      return Status(Code::kPeer, std::string("writing to the peer: ") + std::strerror(-n));
    }
    done += static_cast<size_t>(n);
  }
  bytes_written_ += done;
  pace_.Record(done, static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(
                                               std::chrono::steady_clock::now() - start)
                                               .count()));
  return Status::Ok();
}

void FdChannel::CloseWrite() {
  if (owns_ && write_fd_ >= 0) {
    ::close(write_fd_);
    write_fd_ = -1;
  }
}

Result<std::unique_ptr<CommandChannel>> CommandChannel::Start(const std::string& command) {
  // A peer that goes away must surface as EPIPE, an error we report, never as a signal that
  // kills this process mid-sync.
  ::signal(SIGPIPE, SIG_IGN);
  int in[2], out[2], err[2];
  if (::pipe2(in, O_CLOEXEC) != 0) return ErrnoStatus("creating a pipe", errno);
  if (::pipe2(out, O_CLOEXEC) != 0) return ErrnoStatus("creating a pipe", errno);
  if (::pipe2(err, O_CLOEXEC) != 0) return ErrnoStatus("creating a pipe", errno);
  GrowPipe(in[1]);
  GrowPipe(out[1]);
  pid_t pid = ::fork();
  if (pid < 0) return ErrnoStatus("starting the transport command", errno);
  if (pid == 0) {
    // Its own process group, so a pipeline transport ("a | b") is ended as a whole.
    ::setpgid(0, 0);
    ::dup2(in[0], 0);
    ::dup2(out[1], 1);
    ::dup2(err[1], 2);
    ::signal(SIGPIPE, SIG_DFL);
    ::execl("/bin/sh", "sh", "-c", command.c_str(), static_cast<char*>(nullptr));
    ::_exit(127);
  }
  ::close(in[0]);
  ::close(out[1]);
  ::close(err[1]);
  return std::unique_ptr<CommandChannel>(new CommandChannel(out[0], in[1], err[0], pid));
}

CommandChannel::CommandChannel(int read_fd, int write_fd, int err_fd, pid_t pid)
    : FdChannel(read_fd, write_fd, true), pid_(pid), err_fd_(err_fd) {
  relay_ = std::thread([this] { RelayStderr(); });
}

CommandChannel::~CommandChannel() {
  CloseWrite();
  // Stop reading first: a peer blocked writing to us then fails with EPIPE instead of hanging.
  if (read_fd_ >= 0) {
    ::close(read_fd_);
    read_fd_ = -1;
  }
  if (!reaped_ && Reap(0).empty()) {
    // The peer must not outlive a failed sync: ask its whole group to stop, then collect it.
    ::kill(-pid_, SIGTERM);
    if (Reap(2000).empty()) {
      ::kill(-pid_, SIGKILL);
      Reap(-1);
    }
  }
  // Whatever else of the pipeline is left goes too, or the relay would wait for its stderr.
  ::kill(-pid_, SIGKILL);
  if (relay_.joinable()) relay_.join();
  ::close(err_fd_);
}

void CommandChannel::RelayStderr() {
  std::string partial;
  char buf[4096];
  for (;;) {
    ssize_t n = ::read(err_fd_, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    partial.append(buf, static_cast<size_t>(n));
    size_t nl;
    while ((nl = partial.find('\n')) != std::string::npos) {
      std::string line = partial.substr(0, nl);
      partial.erase(0, nl + 1);
      std::string out = "[peer] " + line + "\n";
      // Best effort: our own stderr failing must not stop the relay.
      [[maybe_unused]] ssize_t w = ::write(2, out.data(), out.size());
      std::lock_guard<std::mutex> lock(mu_);
      last_lines_ = line;  // the last line is usually the error
    }
  }
}

namespace {

// Sleeps until pid exits or ms pass: a pidfd polled (Linux 5.3), so the reaper wakes as the
// peer ends instead of on the next of fixed 5 ms naps; those naps where pidfd_open fails.
void WaitForExit(pid_t pid, int64_t ms) {
  int fd = static_cast<int>(::syscall(SYS_pidfd_open, pid, 0));
  if (fd < 0) {
    ::usleep(5000);
    return;
  }
  struct pollfd p = {.fd = fd, .events = POLLIN, .revents = 0};
  (void)::poll(&p, 1, static_cast<int>(std::clamp<int64_t>(ms, 1, 1000)));
  ::close(fd);
}

}  // namespace

std::string CommandChannel::Reap(int ms) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(ms < 0 ? 0 : ms);
  while (!reaped_) {
    int st = 0;
    pid_t r = ::waitpid(pid_, &st, ms < 0 ? 0 : WNOHANG);
    if (r == pid_) {
      reaped_ = true;
      wait_status_ = st;
      break;
    }
    if (r < 0 && errno != EINTR) {
      reaped_ = true;
      wait_status_ = 0;
      break;
    }
    auto now = std::chrono::steady_clock::now();
    if (ms >= 0 && now >= deadline) return "";
    if (r == 0)
      WaitForExit(pid_,
                  std::chrono::duration_cast<std::chrono::milliseconds>(deadline - now).count());
  }
  if (WIFEXITED(wait_status_)) {
    int code = WEXITSTATUS(wait_status_);
    if (code == 127) return "the transport command was not found (exit status 127)";
    // A shell running the peer reports its death by signal N as status 128 + N.
    if (code > 128 && code < 128 + NSIG) {
      return std::string("the peer was killed by signal ") + ::strsignal(code - 128) +
             " (exit status " + std::to_string(code) + ")";
    }
    return "the peer exited with status " + std::to_string(code);
  }
  if (WIFSIGNALED(wait_status_)) {
    return std::string("the peer was killed by signal ") + ::strsignal(WTERMSIG(wait_status_));
  }
  return "the peer ended";
}

std::string CommandChannel::EndOfStreamCause() {
  std::string how = Reap(2000);
  if (how.empty()) how = "the peer closed the channel";
  if (relay_.joinable() && reaped_) relay_.join();
  std::lock_guard<std::mutex> lock(mu_);
  if (!last_lines_.empty()) how += " (its last message: " + last_lines_ + ")";
  return how;
}

Status CommandChannel::Finish() {
  CloseWrite();
  std::string how = Reap(10000);
  if (how.empty()) {
    ::kill(pid_, SIGKILL);
    how = Reap(-1);
  }
  if (relay_.joinable()) relay_.join();
  if (WIFEXITED(wait_status_) && WEXITSTATUS(wait_status_) == 0) return Status::Ok();
  std::lock_guard<std::mutex> lock(mu_);
  return Status(Code::kPeer, how + (last_lines_.empty() ? "" : ": " + last_lines_));
}

std::unique_ptr<Channel> OpenStdioChannel() {
  GrowPipe(1);
  return std::make_unique<FdChannel>(0, 1, false);
}

}  // namespace hasync::transport
