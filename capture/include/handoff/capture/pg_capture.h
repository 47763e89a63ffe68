// PostgreSQL capture agent: holds a logical replication slot (pgoutput),
// snapshots the configured tables on first start, streams committed changes
// to the engine's intake and confirms the flush LSN only once the engine has
// acknowledged them as durable.
//
// Thread-safety: Run() on one thread; Stop() and counters() from any.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "handoff/engine/config.h"
#include "handoff/engine/health.h"
#include "handoff/engine/status.h"
#include "handoff/engine/transport.h"

namespace handoff {

struct PgCaptureOptions {
  PostgresSourceConfig source;
  std::shared_ptr<TransportContext> context;
  std::string intake_endpoint;
  size_t max_batch_events = 5000;
  std::chrono::milliseconds max_batch_delay{10};
  std::chrono::milliseconds status_interval{1000};  // standby status update period
  // Retry delays (Backoff): the shortest and the longest wait; doubling, each half fixed, half random.
  std::chrono::milliseconds min_backoff{100};
  std::chrono::milliseconds max_backoff{10000};
  size_t credit = 8;
  // The engine's journal id, named in the comment of a publication capture
  // creates (source_objects.h); empty in a separate `handoff agent`.
  std::string journal_id;
};

struct CaptureCounters {
  CaptureCounters() = default;
  CaptureCounters(const CaptureCounters&) = delete;
  CaptureCounters& operator=(const CaptureCounters&) = delete;

  std::atomic<uint64_t> changes{0};       // row changes sent to the engine
  std::atomic<uint64_t> transactions{0};  // committed transactions seen
  std::atomic<uint64_t> skipped_origin{0};  // transactions of origin "handoff" (echoes) not sent
  std::atomic<uint64_t> snapshot_rows{0};
  std::atomic<uint64_t> reconnects{0};
  std::atomic<uint64_t> confirmed_lsn{0};  // last flush LSN sent upstream
  std::atomic<uint64_t> received_lsn{0};
  std::atomic<uint64_t> schema_changes{0};  // schema events journaled (a table's columns changed)
  // Protocol 2: blocks of transactions in progress received, streamed
  // transactions committed (with changes) and aborted after being streamed.
  std::atomic<uint64_t> streamed_blocks{0};
  std::atomic<uint64_t> streamed_transactions{0};
  std::atomic<uint64_t> streamed_aborts{0};
  HealthCell health;  // snapshotting, streaming, retrying or failed, with the reason

  // Changes of relations the stream carried that are no configured table (a
  // publication changed by hand, say), per "schema.table". Returns true for
  // the first change of `table`, which is the one to log.
  bool AddUnrouted(const std::string& table);
  std::vector<std::pair<std::string, uint64_t>> Unrouted() const;

  // Reading the existing rows of a table: the initial snapshot, a table
  // added while running, or a backfill asked for by `handoff snapshot`.
  struct TableProgress {
    std::string table;  // "schema.table"
    std::string kind;   // "snapshot" (initial), "added" or "requested"
    std::string id;     // the request id of a backfill
    uint64_t rows = 0;       // rows read and sent
    uint64_t estimated = 0;  // pg_class.reltuples when it began; 0 unknown
    uint64_t chunks = 0;     // chunked reads: chunks done
    int64_t started_us = 0;
    int64_t finished_us = 0;  // 0 while running
    std::string outcome;      // when finished: "done" or "cancelled"
  };
  // Replaces the entry with the same table and kind (or adds one).
  void SetProgress(const TableProgress& p);
  std::vector<TableProgress> Progress() const;

 private:
  mutable std::mutex mu_;
  std::map<std::string, uint64_t> unrouted_;
  std::vector<TableProgress> progress_;
};

// Whether a capture failure is a condition a person must fix (no REPLICATION
// attribute, wal_level below logical, a missing table, slot or privilege,
// failed authentication) rather than one that passes by itself.
bool IsSourceMisconfiguration(const Status& st);

class PgCaptureAgent {
 public:
  static Result<std::unique_ptr<PgCaptureAgent>> Create(PgCaptureOptions options);
  virtual ~PgCaptureAgent() = default;
  // Runs until Stop(); reconnects with backoff on connection loss.
  virtual Status Run() = 0;
  virtual void Stop() = 0;
  virtual const CaptureCounters& counters() const = 0;
};

}  // namespace handoff
