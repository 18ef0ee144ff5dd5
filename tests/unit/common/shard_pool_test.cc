// ShardPool: per-shard order, the first error stops the rest, Drain reports it, and the byte
// bound holds a producer back.
#include "common/shard_pool.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <future>
#include <mutex>
#include <thread>
#include <vector>

namespace hasync {
namespace {

TEST(ShardPoolTest, TasksOfOneKeyRunInOrder) {
  ShardPool pool(3, 1 << 20);
  std::mutex mu;
  std::vector<std::vector<int>> seen(3);
  for (int i = 0; i < 300; ++i) {
    pool.Submit(i % 3, 10, [&, i] {
      std::lock_guard<std::mutex> lock(mu);
      seen[i % 3].push_back(i);
      return Status::Ok();
    });
  }
  ASSERT_TRUE(pool.Drain().ok());
  for (int k = 0; k < 3; ++k) {
    ASSERT_EQ(seen[k].size(), 100u);
    for (size_t j = 1; j < seen[k].size(); ++j) EXPECT_LT(seen[k][j - 1], seen[k][j]);
  }
}

TEST(ShardPoolTest, FirstErrorStopsLaterTasksAndDrainReportsIt) {
  ShardPool pool(1, 1 << 20);
  std::atomic<int> ran{0};
  pool.Submit(0, 0, [&] {
    ++ran;
    return Status(Code::kNoSpace, "disk full");
  });
  for (int i = 0; i < 10; ++i) {
    pool.Submit(0, 0, [&] {
      ++ran;
      return Status::Ok();
    });
  }
  Status st = pool.Drain();
  EXPECT_EQ(st.code(), Code::kNoSpace);
  EXPECT_EQ(ran.load(), 1);
  EXPECT_EQ(pool.error().code(), Code::kNoSpace);
}

TEST(ShardPoolTest, ByteBoundHoldsTheProducerBack) {
  ShardPool pool(1, 100);
  std::promise<void> release;
  std::shared_future<void> gate = release.get_future().share();
  pool.Submit(0, 60, [gate] {
    gate.wait();
    return Status::Ok();
  });
  std::atomic<bool> submitted{false};
  std::thread producer([&] {
    pool.Submit(0, 60, [] { return Status::Ok(); });  // 120 > 100: waits for the first
    submitted = true;
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  EXPECT_FALSE(submitted.load()) << "the bound let 120 bytes queue";
  release.set_value();
  producer.join();
  EXPECT_TRUE(submitted.load());
  EXPECT_TRUE(pool.Drain().ok());
}

}  // namespace
}  // namespace hasync
