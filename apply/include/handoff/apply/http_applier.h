// HTTP target writer: reads the journal in order from the target's applied
// position and sends one request per routed change to `url/<resource>`, with
// an Idempotency-Key derived from the change, so a retry or a replay is
// recognised by the API. The remote API cannot hold a position, so the
// journal's own copy (Journal::SetTargetApplied) is the position of an http
// target; it is written once per journal read, past the changes whose
// outcome is final (2xx or parked). `max_in_flight` connections send the
// changes of a read at once, those of one row on one connection, in order.
// The request format and the retry/park rules are in README.md, "HTTP targets".
//
// Thread-safety: Run() on one thread; Stop() and counters() from any.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "handoff/apply/pg_applier.h"  // ApplyCounters
#include "handoff/engine/config.h"
#include "handoff/engine/journal.h"
#include "handoff/engine/status.h"

namespace handoff {

struct HttpApplierOptions {
  HttpTargetConfig target;  // url, headers, timeout_us
  std::vector<RouteConfig> routes;  // the routes whose to_target is this target; to_table = resource
  Journal* journal = nullptr;
  // Retry delays (Backoff): the shortest and the longest wait; doubling, each half fixed, half random.
  std::chrono::milliseconds min_backoff{100};
  std::chrono::milliseconds max_backoff{10000};
  // Replay: start from this seq instead of the target's applied position, and
  // return once the journal's last seq (as of the start) is done. A replay
  // never moves the journal's applied position backwards.
  std::optional<uint64_t> replay_from_seq;
  // Exception retry/resolve: with replay_from_seq == only_seq, apply that one
  // journal entry (as `replacement` when given: an operator-chosen image) and
  // nothing else, then return.
  std::optional<uint64_t> only_seq;
  std::optional<ChangeEvent> replacement;
  // Bulk retry and park callback: as in PgApplierOptions.
  std::set<uint64_t> only_seqs;
  std::function<void(uint64_t seq, const std::string& code)> on_parked;
};

// Counters: rows = changes delivered (2xx); transactions = successful requests
// (each request is its own target transaction); exceptions = changes parked;
// retries = transient failures retried; applied_seq = the target's position.
class HttpApplier {
 public:
  // kInvalidArgument for a missing journal, name, or a url that is not http(s).
  static Result<std::unique_ptr<HttpApplier>> Create(HttpApplierOptions options);
  virtual ~HttpApplier() = default;
  // Applies until Stop() (or, in replay mode, until caught up). Returns OK then;
  // an error only when the journal itself fails for good.
  virtual Status Run() = 0;
  // Ends Run() promptly: interrupts a request in flight and any backoff wait.
  virtual void Stop() = 0;
  virtual const ApplyCounters& counters() const = 0;
};

}  // namespace handoff
