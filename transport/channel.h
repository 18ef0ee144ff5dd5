// Channel: the byte stream a sync runs over. The Secondary starts a command (ssh to the
// Primary, or any --transport command) and its stdin/stdout become the channel; the Primary's
// `hasync serve --stdio` uses its own stdin/stdout. Frames travel over it (frame_io.h).
#pragma once

#include <sys/types.h>

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <thread>

#include "common/env.h"
#include "common/status.h"
#include "transport/pace.h"
#include "transport/rate_limit.h"

namespace hasync::transport {

// Thread safety: one reader thread and one writer thread may use a channel at once.
class Channel {
 public:
  virtual ~Channel() = default;
  // Fills buf completely; end of stream or a read error is kPeer, naming the cause.
  virtual Status ReadExact(std::span<std::byte> buf) = 0;
  // Writes all of data; a peer that went away is kPeer.
  virtual Status WriteAll(std::span<const std::byte> data) = 0;
  // Signals end of stream to the peer (closes the write side).
  virtual void CloseWrite() = 0;
  // Waits for the peer process, if any, and says how it ended: ok for exit status 0.
  virtual Status Finish() = 0;
  uint64_t bytes_read() const { return bytes_read_.load(); }
  uint64_t bytes_written() const { return bytes_written_.load(); }
  // How fast writes drain (FdChannel measures it); compression adapts to it.
  const ChannelPace& pace() const { return pace_; }

 protected:
  ChannelPace pace_;
  std::atomic<uint64_t> bytes_read_{0};
  std::atomic<uint64_t> bytes_written_{0};
};

// A channel over two file descriptors (owned when `owns` is true).
class FdChannel : public Channel {
 public:
  FdChannel(int read_fd, int write_fd, bool owns);
  ~FdChannel() override;
  Status ReadExact(std::span<std::byte> buf) override;
  Status WriteAll(std::span<const std::byte> data) override;
  void CloseWrite() override;
  Status Finish() override { return Status::Ok(); }
  // Keeps reads at or under bytes_per_s ([sync] max_rate; 0: unlimited): each read waits until
  // the bytes read so far fit the rate (rate_limit.h). Set before the first read.
  void LimitReads(uint64_t bytes_per_s);

 protected:
  // Describes why the stream ended, for the error; the command channel adds the peer's fate.
  virtual std::string EndOfStreamCause() { return "the peer closed the channel"; }
  int read_fd_;
  int write_fd_;
  bool owns_;
  Env* env_;  // the stream I/O: io_uring or read/write, as Env::Default() chose
  std::unique_ptr<Env> fallback_env_;
  std::optional<RateLimit> read_limit_;
};

// Starts `/bin/sh -c command`; its stdin/stdout are the channel. The child's stderr is relayed
// to ours line by line, prefixed "[peer] ", and its last lines are quoted when the channel breaks.
class CommandChannel : public FdChannel {
 public:
  static Result<std::unique_ptr<CommandChannel>> Start(const std::string& command);
  ~CommandChannel() override;
  Status Finish() override;
  pid_t pid() const { return pid_; }

 protected:
  std::string EndOfStreamCause() override;

 private:
  CommandChannel(int read_fd, int write_fd, int err_fd, pid_t pid);
  void RelayStderr();
  // Waits up to `ms` for the child; returns a description of how it ended, or "" if running.
  std::string Reap(int ms);

  pid_t pid_;
  int err_fd_;
  std::thread relay_;
  std::mutex mu_;
  std::string last_lines_;
  bool reaped_ = false;
  int wait_status_ = 0;
};

// The serve side's channel: this process's stdin and stdout.
std::unique_ptr<Channel> OpenStdioChannel();

}  // namespace hasync::transport
