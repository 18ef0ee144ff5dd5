// The token bucket behind [sync] max_rate, on an injected clock: no sleeps, no timing.
#include "transport/rate_limit.h"

#include <gtest/gtest.h>

namespace hasync::transport {
namespace {

constexpr uint64_t kSecond = 1000000000;

TEST(RateLimitTest, BurstPassesThenEachByteWaitsItsShare) {
  RateLimit r(1000, 100);                      // 1000 bytes/s, 100 bytes of credit
  EXPECT_EQ(r.Consumed(100, 0), 0u);           // the burst passes at once
  EXPECT_EQ(r.Consumed(500, 0), kSecond / 2);  // 500 bytes more: half a second
  EXPECT_EQ(r.Consumed(0, kSecond / 2), 0u);   // after waiting it, even again
  EXPECT_EQ(r.Consumed(250, kSecond / 2), kSecond / 4);
}

TEST(RateLimitTest, LongRunRateIsTheLimitWhateverTheReadSizes) {
  // A reader that reads as soon as it may, in sizes from 1 byte to 3 x the burst: what passed
  // by each moment is at most rate * elapsed + burst, and the stream ends at the rate.
  const uint64_t rate = 6250000;  // 50Mbit
  RateLimit r(rate);
  uint64_t now = 0, passed = 0;
  for (uint64_t i = 0; i < 20000; ++i) {
    uint64_t n = 1 + (i * 7919) % (3 * r.burst());
    now += r.Consumed(n, now);
    passed += n;
    ASSERT_LE(static_cast<double>(passed),
              static_cast<double>(rate) * static_cast<double>(now) / 1e9 + r.burst() + n);
  }
  double achieved = static_cast<double>(passed) / (static_cast<double>(now) / 1e9);
  EXPECT_NEAR(achieved / rate, 1.0, 0.01);
}

TEST(RateLimitTest, IdleTimeBanksNoMoreThanTheBurst) {
  RateLimit r(1000, 100);
  EXPECT_EQ(r.Consumed(100, 0), 0u);
  // Ten idle seconds earn 100 bytes, not 10,000: the next 1,100 bytes wait a full second.
  EXPECT_EQ(r.Consumed(1100, 10 * kSecond), kSecond);
}

TEST(RateLimitTest, DefaultBurstIsAFiftiethOfASecondAndAtLeast16KiB) {
  EXPECT_EQ(RateLimit(6250000).burst(), 125000u);
  EXPECT_EQ(RateLimit(1000).burst(), 16384u);
}

}  // namespace
}  // namespace hasync::transport
