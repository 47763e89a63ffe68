#include "chunk_pacer.h"

#include <gtest/gtest.h>

namespace handoff {
namespace {

using std::chrono::milliseconds;

TEST(ChunkPacerTest, UnpacedNeverWaits) {
  ChunkPacer p(0);
  EXPECT_FALSE(p.paced());
  const auto t = ChunkPacer::Clock::now();
  p.Started(t, 1000000);
  EXPECT_EQ(p.Wait(t), ChunkPacer::Clock::duration::zero());
}

TEST(ChunkPacerTest, NextChunkWaitsForTheRowsOfThePreviousOne) {
  ChunkPacer p(2000);
  const auto t = ChunkPacer::Clock::now();
  EXPECT_EQ(p.Wait(t), ChunkPacer::Clock::duration::zero());  // the first chunk starts at once
  p.Started(t, 500);                                          // 500 rows at 2000/s: 250 ms
  EXPECT_EQ(p.Wait(t), milliseconds(250));
  EXPECT_EQ(p.Wait(t + milliseconds(100)), milliseconds(150));
  EXPECT_EQ(p.Wait(t + milliseconds(250)), ChunkPacer::Clock::duration::zero());
  // A short last chunk spaces its successor less.
  p.Started(t + milliseconds(300), 20);
  EXPECT_EQ(p.Wait(t + milliseconds(300)), milliseconds(10));
}

TEST(ChunkPacerTest, ASlowChunkEarnsNoCredit) {
  ChunkPacer p(1000);
  const auto t = ChunkPacer::Clock::now();
  p.Started(t, 100);  // due at +100 ms
  // Its watermark came back only after 5 s: the next chunk starts then and
  // is followed by the full interval again, not by a burst.
  p.Started(t + milliseconds(5000), 100);
  EXPECT_EQ(p.Wait(t + milliseconds(5000)), milliseconds(100));
}

}  // namespace
}  // namespace handoff
