// PostgreSQL target writer: reads the journal in order from the target's
// applied position, batches whole source transactions into one target
// transaction with set-based writes, and records the applied seq in the
// target's handoff_applied table inside that same transaction. A target that
// refuses changes for a reason not about the change pauses instead of parking
// them (handoff/apply/target_pause.h).
//
// Thread-safety: Run() on one thread; Stop() and counters() from any.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "handoff/engine/config.h"
#include "handoff/engine/health.h"
#include "handoff/engine/journal.h"
#include "handoff/engine/status.h"

namespace handoff {

struct PgApplierOptions {
  PostgresTargetConfig target;
  std::vector<RouteConfig> routes;  // the routes whose to_target is this target
  Journal* journal = nullptr;
  // Prefix of the replication origin the target is written under
  // (`engine.origin`); empty: "handoff_" + the first 16 digits of the journal id.
  std::string origin;
  // Retry delays (Backoff): the shortest and the longest wait; doubling, each half fixed, half random.
  std::chrono::milliseconds min_backoff{100};
  std::chrono::milliseconds max_backoff{10000};
  // Replay: start from this seq instead of the target's applied position, and
  // return once the journal's last seq (as of the start) is applied.
  std::optional<uint64_t> replay_from_seq;
  // Exception retry/resolve: with replay_from_seq == only_seq, apply that one
  // journal entry (as `replacement` when given: an operator-chosen image) and
  // nothing else, then return.
  std::optional<uint64_t> only_seq;
  std::optional<ChangeEvent> replacement;
  // Bulk retry: like only_seq for each of these entries (no replacement);
  // replay_from_seq is the smallest.
  std::set<uint64_t> only_seqs;
  // Called for each change parked (seq, code); retries use it to know which
  // entries went through.
  std::function<void(uint64_t seq, const std::string& code)> on_parked;
  // Pauses (handoff/apply/target_pause.h): retry delays, doubling from min to max.
  std::chrono::milliseconds pause_min_backoff{1000};
  std::chrono::milliseconds pause_max_backoff{60000};
};

struct ApplyCounters {
  std::atomic<uint64_t> rows{0};            // row changes written
  std::atomic<uint64_t> transactions{0};    // target transactions committed
  std::atomic<uint64_t> exceptions{0};      // changes parked
  std::atomic<uint64_t> retries{0};         // transient failures retried
  std::atomic<uint64_t> applied_seq{0};
  std::atomic<uint64_t> paused{0};          // 1 while the target is paused
  std::atomic<uint64_t> held{0};            // changes held while paused
  std::atomic<uint64_t> columns_added{0};   // columns added to target tables (on_new_column: add)
  std::atomic<uint64_t> columns_ignored{0}; // new source columns not applied (on_new_column: ignore), per event
  HealthCell health;  // applying, retrying, paused or failed, with the reason
};

class PgApplier {
 public:
  static Result<std::unique_ptr<PgApplier>> Create(PgApplierOptions options);
  virtual ~PgApplier() = default;
  // Applies until Stop() (or, in replay mode, until caught up).
  virtual Status Run() = 0;
  virtual void Stop() = 0;
  virtual const ApplyCounters& counters() const = 0;
};

}  // namespace handoff
