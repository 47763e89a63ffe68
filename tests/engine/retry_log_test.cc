#include "handoff/engine/retry_log.h"

#include <gtest/gtest.h>

namespace handoff {
namespace {

class FrozenClock : public Clock {
 public:
  int64_t NowMicros() override { return now; }
  int64_t now = 1'000'000'000'000;
};

TEST(RetryLogTest, OneCauseRepeatedLogsOncePerDoubling) {
  FrozenClock clock;
  RetryLog log(&clock);
  EXPECT_EQ(log.Succeeded(), std::nullopt) << "nothing to recover from";
  int lines = 0;
  std::optional<std::string> last;
  for (int i = 0; i < 1000; ++i) {
    clock.now += 100000;  // 100 ms apart
    auto line = log.Failed("bad line at byte " + std::to_string(4096 + i) + ": expected '{'");
    if (i == 0) {
      ASSERT_TRUE(line.has_value());
      EXPECT_EQ(*line, "bad line at byte 4096: expected '{'") << "the first failure is logged in full";
    }
    if (line) ++lines, last = line;
  }
  // Tries 1, 2, 4, ..., 512: ten lines for a thousand tries.
  EXPECT_EQ(lines, 10);
  EXPECT_EQ(*last, "still failing after 512 tries (for 51s), last error: bad line at byte 4607: expected '{'");
  EXPECT_EQ(log.tries(), 1000u);
  clock.now += 30'100'000;
  EXPECT_EQ(log.Succeeded(), "recovered after 1000 tries (for 2m10s)");
  EXPECT_FALSE(log.failing());
  EXPECT_EQ(log.Succeeded(), std::nullopt) << "recovery is logged once";
}

TEST(RetryLogTest, AnotherCauseIsLoggedInFull) {
  FrozenClock clock;
  RetryLog log(&clock);
  EXPECT_TRUE(log.Failed("connection refused").has_value());
  EXPECT_TRUE(log.Failed("connection refused").has_value());   // try 2: a summary
  EXPECT_FALSE(log.Failed("connection refused").has_value());  // try 3
  EXPECT_EQ(log.Failed("password authentication failed"), "password authentication failed");
  EXPECT_EQ(log.tries(), 1u);
  EXPECT_EQ(log.Succeeded(), "recovered after 4 tries (for 0ms)");
}

TEST(RetryLogTest, ASlowRetryStillShowsEveryTenMinutes) {
  FrozenClock clock;
  RetryLog log(&clock);
  ASSERT_TRUE(log.Failed("x").has_value());
  int lines = 0;
  for (int i = 0; i < 200; ++i) {  // tries 2..201, 30 s apart: 100 minutes
    clock.now += 30'000'000;
    if (log.Failed("x")) ++lines;
  }
  // Powers of two (2..128: 7) plus one every ten minutes between them.
  EXPECT_GE(lines, 10);
  EXPECT_LE(lines, 17);
}

TEST(RetryLogTest, FormatsDurations) {
  EXPECT_EQ(RetryLog::FormatDuration(850000), "850ms");
  EXPECT_EQ(RetryLog::FormatDuration(42'000'000), "42s");
  EXPECT_EQ(RetryLog::FormatDuration(130'000'000), "2m10s");
  EXPECT_EQ(RetryLog::FormatDuration(11'100'000'000), "3h05m");
}

}  // namespace
}  // namespace handoff
