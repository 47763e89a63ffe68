// ChunkPacer: spaces the chunks of chunked snapshots so that a backfill reads
// at most `snapshot_rate` rows per second (a source key; 0: unpaced).
//
// Capture reads a chunk in a few milliseconds, while the applier needs far
// longer to write it; unpaced, the chunk rows pile up in the journal and the
// stream's changes queue behind them. The schedule is simple: a chunk of n
// rows that started at t lets the next one start at t + n / rate, not
// sooner. A chunk whose watermark takes longer than that to come back earns
// no credit for later ones, so the rate is an upper bound, never exceeded
// over any two consecutive chunks.
//
// The pacer never sleeps: the capture session asks Wait() on each turn of
// its stream loop and starts the next chunk only when it is zero, reading
// and journaling the stream meanwhile.
//
// Thread-safety: not thread-safe; owned by the capture session.
#pragma once

#include <chrono>
#include <cstdint>

namespace handoff {

class ChunkPacer {
 public:
  using Clock = std::chrono::steady_clock;

  explicit ChunkPacer(uint64_t rows_per_second) : rate_(rows_per_second) {}

  bool paced() const { return rate_ > 0; }
  uint64_t rate() const { return rate_; }

  // How long from `now` until the next chunk may start (zero: it may now).
  Clock::duration Wait(Clock::time_point now) const { return now >= next_ ? Clock::duration::zero() : next_ - now; }

  // A chunk of `rows` rows was started at `started`.
  void Started(Clock::time_point started, uint64_t rows) {
    if (rate_ == 0) return;
    // rows <= chunk_rows <= 10^6: rows * 10^9 fits in 64 bits.
    next_ = started + std::chrono::duration_cast<Clock::duration>(
                          std::chrono::nanoseconds(static_cast<int64_t>(rows * 1000000000ull / rate_)));
  }

 private:
  const uint64_t rate_;
  Clock::time_point next_{};  // the epoch: the first chunk starts at once
};

}  // namespace handoff
