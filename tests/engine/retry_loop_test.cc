#include "handoff/engine/retry_loop.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <set>
#include <thread>

namespace handoff {
namespace {

using std::chrono::milliseconds;
using SteadyClock = std::chrono::steady_clock;

// Waits (bounded) until `cond` holds.
template <typename Cond>
bool WaitUntil(Cond cond, milliseconds limit = milliseconds(10000)) {
  const auto deadline = SteadyClock::now() + limit;
  while (!cond()) {
    if (SteadyClock::now() > deadline) return false;
    std::this_thread::yield();
  }
  return true;
}

TEST(BackoffTest, DoublesUpToTheCapWithEqualJitter) {
  Backoff b(milliseconds(100), milliseconds(1000), /*seed=*/7);
  const int64_t nominal[] = {200, 400, 800, 1000, 1000, 1000};
  for (int64_t n : nominal) {
    ASSERT_EQ(b.nominal().count(), n);
    const int64_t d = b.Next().count();
    EXPECT_GE(d, n / 2) << "half of the delay is fixed";
    EXPECT_GE(d, 100) << "never shorter than min";
    EXPECT_LE(d, n) << "the random half never passes the nominal delay";
  }
  EXPECT_EQ(b.nominal().count(), 1000) << "capped at max";
}

TEST(BackoffTest, JitterSpreadsTheDelays) {
  std::set<int64_t> seen;
  Backoff b(milliseconds(500), milliseconds(1000), /*seed=*/11);
  for (int i = 0; i < 50; ++i) {
    const int64_t d = b.Next().count();
    ASSERT_GE(d, 500);
    ASSERT_LE(d, 1000);
    seen.insert(d);
  }
  EXPECT_GT(seen.size(), 10u) << "fifty delays of one nominal value should not agree";
}

TEST(BackoffTest, ResetStartsOverAtMin) {
  Backoff b(milliseconds(10), milliseconds(10000), 3);
  for (int i = 0; i < 5; ++i) b.Next();
  EXPECT_EQ(b.nominal().count(), 640);
  b.Reset();
  EXPECT_EQ(b.nominal().count(), 20);
  const int64_t d = b.Next().count();
  EXPECT_GE(d, 10);
  EXPECT_LE(d, 20);
}

TEST(BackoffTest, BoundsAreMadeSane) {
  Backoff b(milliseconds(0), milliseconds(0), 5);
  EXPECT_EQ(b.min().count(), 1) << "min is at least 1 ms";
  EXPECT_EQ(b.max().count(), 1) << "max is at least min";
  EXPECT_EQ(b.Next().count(), 1);
  Backoff c(milliseconds(500), milliseconds(100), 5);
  EXPECT_EQ(c.max().count(), 500);
}

TEST(StopTokenTest, WaitTimesOutWithoutStop) {
  StopToken t;
  EXPECT_FALSE(t.WaitFor(milliseconds(5)));
  EXPECT_FALSE(t.stop_requested());
}

TEST(StopTokenTest, StopEndsAWaitAtOnce) {
  StopToken t;
  std::atomic<bool> waiting{false}, stopped{false};
  std::thread waiter([&] {
    waiting = true;
    stopped = t.WaitFor(milliseconds(600000));
  });
  ASSERT_TRUE(WaitUntil([&] { return waiting.load(); }));
  const auto begin = SteadyClock::now();
  t.RequestStop();
  waiter.join();
  EXPECT_TRUE(stopped.load());
  EXPECT_LT(SteadyClock::now() - begin, std::chrono::seconds(60)) << "the ten-minute wait ended on stop";
  EXPECT_TRUE(t.WaitFor(milliseconds(600000))) << "a wait after stop returns at once";
  EXPECT_TRUE(t.flag().load());
}

// How a session ended (SessionEnd's other fields at their defaults).
SessionEnd Ended(Status st, FailureClass failure = FailureClass::kTransient) {
  SessionEnd end;
  end.status = std::move(st);
  end.failure = failure;
  return end;
}

RetryLoopOptions Options(HealthCell* health, milliseconds min, milliseconds max) {
  RetryLoopOptions o;
  o.component = "test";
  o.subject = "worker w";
  o.min_backoff = min;
  o.max_backoff = max;
  o.health = health;
  return o;
}

TEST(RetryLoopTest, RetriesAFailingSessionWithBackoff) {
  StopToken stop;
  HealthCell health;
  RetryLoop loop(Options(&health, milliseconds(1), milliseconds(4)), &stop, 1);
  int calls = 0;
  std::vector<int64_t> nominal_before;
  Status st = loop.Run([&] {
    nominal_before.push_back(loop.backoff().nominal().count());
    if (++calls < 5) {
      EXPECT_EQ(health.Get().state, calls == 1 ? HealthState::kStarting : HealthState::kRetrying);
      return Ended(Status::Unavailable("connection refused"));
    }
    return Ended(Status::OK());
  });
  EXPECT_TRUE(st.ok()) << st.ToString();
  EXPECT_EQ(calls, 5);
  EXPECT_EQ(loop.failures(), 4u);
  EXPECT_EQ(nominal_before, (std::vector<int64_t>{2, 4, 4, 4, 4})) << "doubling, capped at max";
  EXPECT_EQ(health.Get().reason, "connection refused") << "health carries the message";
  EXPECT_TRUE(loop.retry_log().failing());
  loop.Succeeded();
  EXPECT_FALSE(loop.retry_log().failing());
}

TEST(RetryLoopTest, ProgressResetsTheBackoff) {
  StopToken stop;
  RetryLoop loop(Options(nullptr, milliseconds(1), milliseconds(64)), &stop, 2);
  int calls = 0;
  std::vector<int64_t> nominal_before;
  Status st = loop.Run([&] {
    nominal_before.push_back(loop.backoff().nominal().count());
    SessionEnd end = Ended(++calls < 6 ? Status::Unavailable("lost") : Status::OK());
    end.progress = calls == 3;
    return end;
  });
  EXPECT_TRUE(st.ok());
  EXPECT_EQ(nominal_before, (std::vector<int64_t>{2, 4, 8, 4, 8, 16}));
}

TEST(RetryLoopTest, StopEndsTheBackoffWaitPromptly) {
  StopToken stop;
  HealthCell health;
  RetryLoop loop(Options(&health, milliseconds(600000), milliseconds(600000)), &stop);
  std::atomic<int> calls{0};
  Status st;
  std::thread runner([&] { st = loop.Run([&] { ++calls; return Ended(Status::Unavailable("down")); }); });
  ASSERT_TRUE(WaitUntil([&] { return health.Get().state == HealthState::kRetrying; }));
  const auto begin = SteadyClock::now();
  stop.RequestStop();
  runner.join();
  EXPECT_LT(SteadyClock::now() - begin, std::chrono::seconds(60)) << "a five-minute backoff ended on stop";
  EXPECT_TRUE(st.ok());
  EXPECT_EQ(calls.load(), 1);
}

TEST(RetryLoopTest, FatalFailureStopsTheWorker) {
  StopToken stop;
  HealthCell health;
  RetryLoopOptions o = Options(&health, milliseconds(1), milliseconds(1));
  o.fatal_note = "apply stopped";
  RetryLoop loop(o, &stop);
  int calls = 0;
  Status st = loop.Run([&] {
    ++calls;
    return Ended(Status::InvalidArgument("relation public.x has no key"), FailureClass::kFatal);
  });
  EXPECT_EQ(st.code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(calls, 1) << "not retried";
  EXPECT_EQ(health.Get().state, HealthState::kFailed);
  EXPECT_EQ(health.Get().reason, "relation public.x has no key");
}

TEST(RetryLoopTest, NeedsFixIsFailedButStillRetried) {
  StopToken stop;
  HealthCell health;
  RetryLoop loop(Options(&health, milliseconds(1), milliseconds(2)), &stop);
  int calls = 0;
  Status st = loop.Run([&] {
    if (++calls == 1) return Ended(Status::NotFound("slot is missing"), FailureClass::kNeedsFix);
    EXPECT_EQ(health.Get().state, HealthState::kFailed);
    return Ended(Status::OK());
  });
  EXPECT_TRUE(st.ok());
  EXPECT_EQ(calls, 2);
}

TEST(RetryLoopTest, HandledFailureStartsTheNextSessionWithoutBackoff) {
  StopToken stop;
  HealthCell health;
  RetryLoop loop(Options(&health, milliseconds(600000), milliseconds(600000)), &stop);
  int calls = 0;
  Status st = loop.Run([&] {
    if (++calls < 4) return Ended(Status::Unavailable("paused"), FailureClass::kHandled);
    return Ended(Status::OK());
  });
  EXPECT_TRUE(st.ok());
  EXPECT_EQ(calls, 4) << "no ten-minute backoff between them";
  EXPECT_EQ(loop.failures(), 0u);
  EXPECT_EQ(health.Get().state, HealthState::kStarting) << "the session reports its own state";
}

TEST(RetryLoopTest, FailedUsesTheDelayTheOtherSideAskedFor) {
  StopToken stop;
  RetryLoop loop(Options(nullptr, milliseconds(600000), milliseconds(600000)), &stop);
  SessionEnd end = Ended(Status::Unavailable("HTTP 429"));
  end.delay = milliseconds(1);
  end.detail = "seq 4 PUT http://x/y";
  EXPECT_TRUE(loop.Failed(end)) << "waited 1 ms, not the backoff";
  EXPECT_EQ(loop.backoff().nominal().count(), 600000);
  stop.RequestStop();
  EXPECT_FALSE(loop.Failed(end)) << "stopped";
}

}  // namespace
}  // namespace handoff
