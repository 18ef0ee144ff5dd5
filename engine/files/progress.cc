// Progress reporting thread.
#include "engine/files/progress.h"

#include <unistd.h>

#include <cstdio>
#include <string>

namespace hasync::engine {

std::string HumanBytes(double n) {
  const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  int u = 0;
  while (n >= 1024 && u < 4) {
    n /= 1024;
    ++u;
  }
  char buf[32];
  std::snprintf(buf, sizeof buf, u == 0 ? "%.0f %s" : "%.1f %s", n, units[u]);
  return buf;
}

Progress::Progress(bool enabled, uint64_t total_bytes, uint64_t total_files)
    : enabled_(enabled),
      tty_(::isatty(2) == 1),
      total_bytes_(total_bytes),
      total_files_(total_files),
      start_(std::chrono::steady_clock::now()) {
  if (enabled_) thread_ = std::thread([this] { Loop(); });
}

Progress::~Progress() {
  if (!enabled_) return;
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  thread_.join();
  Print(true);
}

void Progress::Loop() {
  auto period = tty_ ? std::chrono::milliseconds(250) : std::chrono::milliseconds(5000);
  std::unique_lock<std::mutex> lock(mu_);
  while (!cv_.wait_for(lock, period, [&] { return stop_; })) Print(false);
}

void Progress::Print(bool final) {
  double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
  double rate = secs > 0 ? static_cast<double>(bytes_) / secs : 0;
  std::string eta = "-";
  if (rate > 0 && total_bytes_ > bytes_) {
    eta = std::to_string(static_cast<long>((total_bytes_ - bytes_) / rate + 0.5)) + "s";
  }
  std::string line = "files " + std::to_string(files_) + "/" + std::to_string(total_files_) + "  " +
                     HumanBytes(static_cast<double>(bytes_)) + " of at most " +
                     HumanBytes(static_cast<double>(total_bytes_)) + "  " + HumanBytes(rate) +
                     "/s  ETA " + (final ? "0s" : eta);
  if (tty_) {
    std::fprintf(stderr, "\r\033[K%s%s", line.c_str(), final ? "\n" : "");
  } else {
    std::fprintf(stderr, "progress: %s\n", line.c_str());
  }
  std::fflush(stderr);
}

}  // namespace hasync::engine
