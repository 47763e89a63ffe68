// The month-end spike workload: the time-entry table, the plan of source
// transactions (inserts of mixed sizes including one very large one, then
// corrections and deletions), the code that writes it to the PSA database,
// and the steady producer of the latency phase.
//
// Thread-safety: PgSession is one connection with one owner; the free
// functions share nothing.
#pragma once

#include <cstdint>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "handoff/pg/pg_connection.h"

namespace handoff::bench {

// A failure that ends the benchmark; main() reports it after the throwaway
// server and the engine have been stopped by their destructors.
class SpikeError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Columns the source writes; target tables may add their own (applied_at).
extern const char* const kSpikeColumns;
// The source table; `target` adds applied_at = clock_timestamp() at apply.
std::string SpikeTableSql(bool target);
// md5 over the ordered rows (source columns only): equal checksums, equal tables.
std::string SpikeChecksumSql();

// One PostgreSQL connection; errors end the benchmark with a message.
class PgSession {
 public:
  explicit PgSession(const std::string& dsn);
  PgSession(const PgSession&) = delete;
  PgSession& operator=(const PgSession&) = delete;

  void Exec(const std::string& sql);
  // The first column of the first row ("" when there is none or it is NULL).
  std::string Scalar(const std::string& sql);
  // Every row, columns as text.
  std::vector<std::vector<std::string>> Rows(const std::string& sql);

 private:
  PgConnection conn_;
  std::string dsn_;
};

// One source transaction of the plan.
struct SpikeTxn {
  enum class Kind { kInsert, kUpdate, kDelete };
  Kind kind;
  int64_t first;  // insert: first id; update/delete: first index into the stride
  int64_t count;
};

struct SpikePlan {
  int64_t inserts = 0, updates = 0, deletes = 0;
  int64_t update_stride = 1, delete_stride = 1;
  int64_t largest_txn = 0;
  std::vector<SpikeTxn> txns;  // in commit order; the last inserts id `inserts` alone (the sentinel)

  int64_t changes() const { return inserts + updates + deletes; }
  // Rows left in the source table after the plan (deleted ids are distinct).
  int64_t final_rows() const { return inserts - deletes; }
  // Number of transactions of each kind.
  int64_t Count(SpikeTxn::Kind kind) const;
};

// REQUIRES: inserts >= 100, 0 <= updates, deletes < inserts / 2.
SpikePlan MakeSpikePlan(int64_t inserts, int64_t updates, int64_t deletes);
// Writes every transaction of the plan, in order, on `db`.
void WriteSpike(PgSession& db, const SpikePlan& plan);

// The latency phase producer: inserts at `rows_per_s` in a transaction every
// `tick_ms`, ids from `first_id`, for `seconds`.
struct ProducerResult {
  int64_t rows = 0;
  int64_t txns = 0;
  double seconds = 0;
  int64_t last_id = 0;
};
ProducerResult RunSteadyProducer(PgSession& db, int64_t first_id, double rows_per_s, double seconds, int tick_ms);

}  // namespace handoff::bench
