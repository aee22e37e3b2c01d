#include "vrec/serving/rate_limiter.h"

#include <gtest/gtest.h>

#include <string>

#include "vrec/common/strings.h"

namespace vrec::serving {
namespace {

using std::chrono::milliseconds;

struct FakeClock {
  std::chrono::steady_clock::time_point now{std::chrono::seconds(1000)};
  RateLimiter::Clock AsClock() {
    return [this] { return now; };
  }
};

TEST(RateLimiter, AllowsTheBurstThenTheRate) {
  FakeClock clock;
  RateLimiter limiter({.rate = 10, .burst = 5}, 1000, clock.AsClock());
  for (int i = 0; i < 5; ++i) EXPECT_TRUE(limiter.Allow("key-a")) << i;
  int retry = 0;
  EXPECT_FALSE(limiter.Allow("key-a", &retry));
  EXPECT_EQ(retry, 1);
  EXPECT_TRUE(limiter.Allow("key-b")) << "buckets are per client";
  clock.now += milliseconds(100);  // one token back at 10/s
  EXPECT_TRUE(limiter.Allow("key-a"));
  EXPECT_FALSE(limiter.Allow("key-a"));
  clock.now += milliseconds(10'000);  // refills to the burst, not beyond
  for (int i = 0; i < 5; ++i) EXPECT_TRUE(limiter.Allow("key-a")) << i;
  EXPECT_FALSE(limiter.Allow("key-a"));
}

TEST(RateLimiter, RetryAfterCoversASlowRate) {
  FakeClock clock;
  RateLimiter limiter({.rate = 0.1, .burst = 1}, 100, clock.AsClock());
  EXPECT_TRUE(limiter.Allow("ip"));
  int retry = 0;
  EXPECT_FALSE(limiter.Allow("ip", &retry));
  EXPECT_EQ(retry, 10);
}

TEST(RateLimiter, ZeroRateDisablesIt) {
  RateLimiter limiter({.rate = 0, .burst = 1}, 10);
  for (int i = 0; i < 1000; ++i) EXPECT_TRUE(limiter.Allow("x"));
  EXPECT_EQ(limiter.tracked(), 0u);
}

// Found by an attack: per-address state must not grow with the number of addresses.
TEST(RateLimiter, AFloodOfClientsStaysWithinTheBoundAndKeepsActiveLimits) {
  FakeClock clock;
  RateLimiter limiter({.rate = 1, .burst = 2}, 1600, clock.AsClock());
  EXPECT_TRUE(limiter.Allow("attacker"));
  EXPECT_TRUE(limiter.Allow("attacker"));
  EXPECT_FALSE(limiter.Allow("attacker"));
  for (int i = 0; i < 100'000; ++i) {
    limiter.Allow(StrCat("10.0.", i / 256, ".", i % 256));
    ASSERT_LE(limiter.tracked(), 1600u);
  }
}

}  // namespace
}  // namespace vrec::serving
