// ShardPool: threads that each run their own queue of tasks in order. Work for one key (a file)
// always goes to the same shard, so it stays ordered without locks, while different keys run
// on different cores. The bytes a task holds count against a bound: Submit waits while the
// queued tasks hold more, so a fast producer cannot fill memory.
#pragma once

#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

#include "common/status.h"

namespace hasync {

// Thread safety: Submit, Drain and error() are called from one producer thread.
class ShardPool {
 public:
  ShardPool(unsigned shards, uint64_t max_bytes) : max_bytes_(max_bytes), queues_(shards) {
    for (unsigned i = 0; i < shards; ++i) threads_.emplace_back([this, i] { Run(i); });
  }
  ~ShardPool() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      stop_ = true;
    }
    cv_.notify_all();
    for (auto& t : threads_) t.join();
  }
  ShardPool(const ShardPool&) = delete;
  ShardPool& operator=(const ShardPool&) = delete;

  unsigned shards() const { return static_cast<unsigned>(queues_.size()); }

  // Queues fn on shard key % shards(). After a task failed, nothing more runs.
  void Submit(uint64_t key, uint64_t bytes, std::function<Status()> fn) {
    std::unique_lock<std::mutex> lock(mu_);
    space_cv_.wait(lock, [&] { return bytes_ == 0 || bytes_ + bytes <= max_bytes_ || failed_; });
    bytes_ += bytes;
    ++pending_;
    queues_[key % queues_.size()].push_back(Task{std::move(fn), bytes});
    cv_.notify_all();
  }

  // Waits until every queued task ran; returns the first error.
  Status Drain() {
    std::unique_lock<std::mutex> lock(mu_);
    idle_cv_.wait(lock, [&] { return pending_ == 0; });
    return error_;
  }

  // The first error so far (a cheap check between submissions).
  Status error() {
    std::lock_guard<std::mutex> lock(mu_);
    return error_;
  }

 private:
  struct Task {
    std::function<Status()> fn;
    uint64_t bytes;
  };

  void Run(unsigned shard) {
    std::unique_lock<std::mutex> lock(mu_);
    for (;;) {
      cv_.wait(lock, [&] { return stop_ || !queues_[shard].empty(); });
      if (queues_[shard].empty()) return;  // stopping
      Task t = std::move(queues_[shard].front());
      queues_[shard].pop_front();
      bool skip = failed_ || stop_;
      lock.unlock();
      Status st = skip ? Status::Ok() : t.fn();
      t.fn = nullptr;  // release what the task held before accounting it free
      lock.lock();
      if (!st.ok() && error_.ok()) {
        error_ = st;
        failed_ = true;
      }
      bytes_ -= t.bytes;
      --pending_;
      space_cv_.notify_all();
      if (pending_ == 0) idle_cv_.notify_all();
    }
  }

  const uint64_t max_bytes_;
  std::mutex mu_;
  std::condition_variable cv_;        // work arrived or stop
  std::condition_variable space_cv_;  // bytes were freed
  std::condition_variable idle_cv_;   // nothing pending
  std::vector<std::deque<Task>> queues_;
  std::vector<std::thread> threads_;
  uint64_t bytes_ = 0;
  uint64_t pending_ = 0;
  bool stop_ = false;
  bool failed_ = false;
  Status error_;
};

}  // namespace hasync
