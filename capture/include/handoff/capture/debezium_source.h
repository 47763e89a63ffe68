// The `debezium` source kind: Debezium JSON from an NDJSON file (followed like
// `tail -f`) or from a bound ZeroMQ PULL socket, journaled through the same
// batch/ack/credit protocol as every other agent.
//
// Positions. File: lsn = byte offset of the line's first byte + 1; ordinal =
// 2k for the k-th change of the line (a JSON array line holds several) and
// 2k+1 for a commit marker placed after it. A batch's `upto` after a whole
// line is (offset of the next line + 1, 0). On start the agent asks the
// engine for the durable position, seeks to the start of that line and reads
// on; what was journaled already is dropped by the journal's dedup. PULL:
// lsn = a message counter that continues from the durable position (PUSH/PULL
// has no acknowledgement, so a message received but not yet journaled when
// the process dies is lost; use a file or the webhook source where that
// matters).
//
// Transactions. Changes carrying a transaction id (source.txId) are grouped:
// a commit marker (Op::kCommit) follows the last change of a transaction,
// placed when a change of another transaction arrives, at a Debezium
// transaction END record, when no input arrived for `idle_commit`, and once on
// every start (a transaction left open by a crash is closed there).
//
// Bad input. A malformed line stops the file source at that line: the lines
// before it are journaled, the error (file, byte offset, reason) is logged and
// retried with a jittered backoff that doubles up to max_backoff (RetryLoop; it
// starts over only once an event is journaled), so fixing or removing the line lets it go on
// and nothing after it is skipped; health is failed with the reason meanwhile,
// and the log holds the first failure and a summary per doubling. A malformed PULL message is logged and counted.
//
// Thread-safety: Run() on one thread; Stop() from any.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>

#include "handoff/engine/config.h"
#include "handoff/engine/health.h"
#include "handoff/engine/status.h"
#include "handoff/engine/transport.h"

namespace handoff {

struct DebeziumSourceOptions {
  DebeziumSourceConfig source;  // kind "debezium": file or pull, tables (empty = all)
  std::shared_ptr<TransportContext> context;
  std::string intake_endpoint;
  size_t max_batch_events = 5000;
  size_t credit = 8;
  std::chrono::milliseconds poll{50};          // how often end of file is re-checked
  std::chrono::milliseconds idle_commit{200};  // closes an open transaction when input pauses
  std::chrono::milliseconds ack_timeout{10000};
  std::chrono::milliseconds min_backoff{100};
  std::chrono::milliseconds max_backoff{30000};
};

struct DebeziumSourceCounters {
  std::atomic<uint64_t> changes{0};     // changes sent to the engine
  std::atomic<uint64_t> skipped{0};     // tombstones, heartbeats, key documents, other tables
  std::atomic<uint64_t> malformed{0};   // bad lines or messages seen
  std::atomic<uint64_t> bytes_read{0};
  std::atomic<uint64_t> durable_lsn{0};  // file: offset + 1 of the line the engine has durably
  // streaming; failed with the reason while a bad line holds the file source
  // (fix or remove it); retrying while the engine or the file cannot be reached.
  HealthCell health;
};

class DebeziumSourceAgent {
 public:
  static Result<std::unique_ptr<DebeziumSourceAgent>> Create(DebeziumSourceOptions options);
  virtual ~DebeziumSourceAgent() = default;
  // Runs until Stop(); errors are logged and retried with backoff.
  virtual Status Run() = 0;
  virtual void Stop() = 0;
  virtual const DebeziumSourceCounters& counters() const = 0;
};

}  // namespace handoff
