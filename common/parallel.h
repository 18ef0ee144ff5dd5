// RunParallel: the one way hasync spreads CPU work across cores. Items are claimed from a shared
// counter, so the caller orders them (largest first) and the threads stay busy to the end.
#pragma once

#include <algorithm>
#include <atomic>
#include <cstddef>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

#include "common/status.h"

namespace hasync {

// Worker threads to use: the cores online, at least 1.
inline unsigned DefaultThreads() { return std::max(1u, std::thread::hardware_concurrency()); }

// Calls fn(i) for every i in [0, count) on up to `threads` threads. Stops claiming new items
// after the first error and returns it. fn must be safe to call concurrently.
inline Status RunParallel(size_t count, unsigned threads, const std::function<Status(size_t)>& fn) {
  std::atomic<size_t> next{0};
  std::atomic<bool> failed{false};
  std::mutex mu;
  Status first;
  auto worker = [&] {
    for (;;) {
      size_t i = next.fetch_add(1);
      if (i >= count || failed.load()) return;
      Status st = fn(i);
      if (!st.ok()) {
        std::lock_guard<std::mutex> lock(mu);
        if (first.ok()) first = st;
        failed = true;
      }
    }
  };
  unsigned n = static_cast<unsigned>(std::min<size_t>(threads, count));
  std::vector<std::thread> pool;
  for (unsigned t = 1; t < n; ++t) pool.emplace_back(worker);
  worker();
  for (auto& t : pool) t.join();
  return first;
}

}  // namespace hasync
