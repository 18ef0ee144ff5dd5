// RateLimit: a token bucket that keeps a byte stream at or under a rate ([sync] max_rate). The
// Secondary pulls, so it throttles its reads from the channel: the pipe, ssh and TCP windows
// then fill and the Primary's writes block, which slows the link itself. Pure arithmetic over
// a clock the caller passes in (nanoseconds), so it is tested without sleeping.
#pragma once

#include <algorithm>
#include <cstdint>

namespace hasync::transport {

// Thread safety: not thread-safe; one reader thread uses it (the channel's reads).
class RateLimit {
 public:
  // bytes_per_s > 0. The bucket holds at most `burst` bytes of credit (what may pass at once
  // after an idle spell); by default 1/50 s of the rate, at least 16 KiB.
  explicit RateLimit(uint64_t bytes_per_s, uint64_t burst = 0)
      : rate_(bytes_per_s),
        burst_(burst > 0 ? burst : std::max<uint64_t>(16 << 10, bytes_per_s / 50)) {}

  // `bytes` passed at time `now_ns`: returns how long (ns) the caller waits before reading on,
  // so that what passed since the start is at most rate * elapsed + burst. Credit may go
  // negative (a frame larger than the burst): the wait then pays for all of it.
  uint64_t Consumed(uint64_t bytes, uint64_t now_ns) {
    if (!started_) {
      started_ = true;
      last_ns_ = now_ns;
      credit_ = static_cast<double>(burst_);
    }
    if (now_ns > last_ns_) {
      credit_ = std::min(static_cast<double>(burst_),
                         credit_ + static_cast<double>(now_ns - last_ns_) * rate_ / 1e9);
      last_ns_ = now_ns;
    }
    credit_ -= static_cast<double>(bytes);
    if (credit_ >= 0) return 0;
    return static_cast<uint64_t>(-credit_ * 1e9 / static_cast<double>(rate_) + 0.5);
  }
  uint64_t bytes_per_s() const { return rate_; }
  uint64_t burst() const { return burst_; }

 private:
  uint64_t rate_;
  uint64_t burst_;
  bool started_ = false;
  uint64_t last_ns_ = 0;
  double credit_ = 0;
};

}  // namespace hasync::transport
