// SourceWriter: a background thread making transactions in a source
// database's time_entries table (columns id, consultant_id, hours, notes and
// version, as in the spine and fault schemas): inserts of fresh ids, an
// update of one of the seed rows 1..seed_rows (version + 1), now and then a
// delete, and optionally an insert the target refuses (hours over its limit,
// id from kRefusedIdBase on). Failed transactions (a server restarting) are
// counted and skipped; ids are never reused.
//
// Thread-safety: Start/Stop from one thread; counters from any.
#pragma once

#include <atomic>
#include <chrono>
#include <thread>

#include "pg_server.h"

namespace handoff::testing {

inline constexpr long kRefusedIdBase = 10000000;

struct SourceWriterOptions {
  const PgServer* server = nullptr;
  std::string db;
  unsigned seed = 7;
  int seed_rows = 200;         // ids 1..seed_rows exist before start (updated at random)
  int max_rows_per_txn = 40;   // inserts per transaction: 1..max
  std::chrono::milliseconds pause{15};
  long max_rows = 0;           // stop inserting after this many rows (0 = until Stop)
  int refused_every = 0;       // every Nth transaction also inserts a row the target refuses (0 = never)
};

class SourceWriter {
 public:
  explicit SourceWriter(SourceWriterOptions options) : o_(std::move(options)) {}
  ~SourceWriter() { Stop(); }
  void Start();
  void Stop();
  // Waits until max_rows were inserted (or `timeout`); returns whether done.
  bool WaitDone(std::chrono::milliseconds timeout);

  int transactions() const { return txns_.load(); }
  int failures() const { return failures_.load(); }
  long rows() const { return rows_.load(); }

 private:
  void Loop();
  SourceWriterOptions o_;
  std::thread thread_;
  std::atomic<bool> stop_{false};
  std::atomic<bool> done_{false};
  std::atomic<int> txns_{0}, failures_{0};
  std::atomic<long> rows_{0};
};

}  // namespace handoff::testing
