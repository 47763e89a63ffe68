// The snapshot benchmark's workload: the table that is read (time entries of
// eight columns), the table that streams meanwhile (its rows carry the time
// of their last change, and the target stamps the time it applied them), the
// paced producer that writes the stream, and the latency query.
//
// Thread-safety: StreamProducer runs its own thread and connection; its
// public methods are called from one owner thread. The free functions share
// nothing.
#pragma once

#include <atomic>
#include <cstdint>
#include <string>
#include <thread>

#include "spike_workload.h"

namespace handoff::bench {

// The table read by both snapshots: bigint key, ints, numeric(10,2), text,
// date, timestamptz and bool.
std::string SnapshotTableSql();
// Fills it with ids 1..rows on `db` (in transactions of 200,000 rows), then
// VACUUM ANALYZE so that the read finds frozen pages and an estimate.
void SeedSnapshotTable(PgSession& db, int64_t rows);

// The streaming table; `target` adds applied_at, stamped by a trigger on
// every insert and update (clock_timestamp() when handoff writes the row).
std::string StreamTableSql(bool target);

// md5 over the ordered rows of the source columns of `table` (time_entries
// or stream_events): equal checksums, equal tables.
std::string ChecksumSql(const std::string& table);

struct StreamStats {
  int64_t inserts = 0, updates = 0, txns = 0;
  double seconds = 0;
  int64_t last_id = 0;  // the highest id inserted
};

// Writes `rows_per_s` changes into stream_events, one transaction every
// `tick_ms` (synchronous commit, as a production database does), of which
// `update_percent` are updates of recently inserted rows and the rest
// inserts; each change sets entered_at = clock_timestamp(). A late tick is
// made up (capped at four ticks' worth) rather than bursting.
class StreamProducer {
 public:
  StreamProducer(std::string dsn, double rows_per_s, int tick_ms, int update_percent);
  ~StreamProducer();
  StreamProducer(const StreamProducer&) = delete;
  StreamProducer& operator=(const StreamProducer&) = delete;

  void Start();
  // Stops the thread; throws SpikeError when the producer failed.
  StreamStats Stop();
  // The changes written so far (for progress lines).
  int64_t changes() const { return changes_.load(std::memory_order_relaxed); }
  // Not empty once the producer has failed (it stops then).
  std::string error() const;

 private:
  void Run();

  const std::string dsn_;
  const double rate_;
  const int tick_ms_, update_percent_;
  std::atomic<bool> stop_{false};
  std::atomic<int64_t> changes_{0};
  std::atomic<bool> failed_{false};
  std::string error_;  // written by the thread before failed_ is set
  StreamStats stats_;
  std::thread thread_;
};

struct LatencyFigures {
  int64_t changes = 0;  // stream rows whose last change falls in the window
  double p50_ms = 0, p99_ms = 0, max_ms = 0;
};
// Capture-to-apply latency of the stream changes made in [from_us, to_us)
// (Unix microseconds of the machine clock both servers read), over each
// row's last change.
LatencyFigures StreamLatency(PgSession& target, int64_t from_us, int64_t to_us);

}  // namespace handoff::bench
