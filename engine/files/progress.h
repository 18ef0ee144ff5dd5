// Progress: files, bytes, rate and ETA of a running sync on stderr. On a terminal one line is
// redrawn four times a second; otherwise a plain line every five seconds, for logs.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <thread>

namespace hasync::engine {

class Progress {
 public:
  // Does nothing when !enabled.
  Progress(bool enabled, uint64_t total_bytes, uint64_t total_files);
  ~Progress();  // prints the final line
  void AddBytes(uint64_t n) { bytes_ += n; }
  void FileDone() { ++files_; }

 private:
  void Loop();
  void Print(bool final);

  bool enabled_;
  bool tty_;
  uint64_t total_bytes_;
  uint64_t total_files_;
  std::atomic<uint64_t> bytes_{0};
  std::atomic<uint64_t> files_{0};
  std::chrono::steady_clock::time_point start_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;
  std::thread thread_;
};

// "1.5 GiB", "12.0 MiB".
std::string HumanBytes(double n);

}  // namespace hasync::engine
