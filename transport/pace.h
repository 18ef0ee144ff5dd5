// ChannelPace: how fast the channel drains, measured by its writer, so compression can adapt.
// A write that finds room returns at memory speed; a write that blocks waits for the peer, so the
// rate seen over recent writes is what the path to the peer (link or receiver) takes.
#pragma once

#include <cstdint>
#include <mutex>

namespace hasync::transport {

// Thread safety: all methods may be called from any thread.
class ChannelPace {
 public:
  // One write of `bytes` that took `ns`.
  void Record(uint64_t bytes, uint64_t ns) {
    if (bytes < kMinSample) return;  // small writes say nothing about throughput
    double rate = static_cast<double>(bytes) / static_cast<double>(ns > 0 ? ns : 1);
    std::lock_guard<std::mutex> lock(mu_);
    bytes_per_ns_ = samples_ == 0 ? rate : bytes_per_ns_ * (1 - kWeight) + rate * kWeight;
    ++samples_;
  }
  // Bytes per nanosecond (GB/s), or 0 while fewer than a few large writes were seen.
  double BytesPerNs() const {
    std::lock_guard<std::mutex> lock(mu_);
    return samples_ >= kMinSamples ? bytes_per_ns_ : 0;
  }

 private:
  static constexpr uint64_t kMinSample = 64 << 10;
  static constexpr int kMinSamples = 4;
  static constexpr double kWeight = 0.125;
  mutable std::mutex mu_;
  double bytes_per_ns_ = 0;
  int samples_ = 0;
};

}  // namespace hasync::transport
