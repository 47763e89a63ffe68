#include "flush_tracker.h"

#include <gtest/gtest.h>

#include <limits>

namespace handoff {
namespace {

constexpr uint64_t kMax = std::numeric_limits<uint64_t>::max();

TEST(FlushTrackerTest, ConfirmsOnlyDurableTransactions) {
  FlushTracker t;
  t.AddCommitted({100, kMax}, 120);
  t.AddCommitted({200, kMax}, 220);
  t.AddCommitted({300, kMax}, 330);
  EXPECT_EQ(t.Advance({0, 0}), 0u);
  // Mid-transaction durability confirms nothing of that transaction.
  EXPECT_EQ(t.Advance({200, 5}), 120u);
  EXPECT_EQ(t.Unconfirmed(), 2u);
  EXPECT_EQ(t.Advance({300, kMax}), 330u);
  EXPECT_EQ(t.Unconfirmed(), 0u);
  // Never goes backwards.
  EXPECT_EQ(t.Advance({0, 0}), 330u);
}

TEST(FlushTrackerTest, IdleConfirmOnlyWithNothingUnconfirmed) {
  FlushTracker t;
  t.AddCommitted({100, kMax}, 120);
  t.ConfirmIdle(500);
  EXPECT_EQ(t.flush_lsn(), 0u);
  t.Advance({100, kMax});
  t.ConfirmIdle(500);
  EXPECT_EQ(t.flush_lsn(), 500u);
  t.ConfirmIdle(400);
  EXPECT_EQ(t.flush_lsn(), 500u);
}

}  // namespace
}  // namespace handoff
