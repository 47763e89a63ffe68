// RetryLoop: the one outer loop of every background worker (capture agents,
// the webhook delivery sender, apply workers).
//
// A worker's work is a session (connect, then stream or apply until something
// fails). The loop runs sessions until stop; after a failed one it reports the
// failure (health and one log line per cause, see RetryLog), waits a backoff
// delay that a stop ends at once, and starts the next. How a failure is
// treated is the session's call (FailureClass), so each worker keeps its own
// reading of its errors:
//
//   transient   retrying; warned with the delay; retried with backoff.
//   needs fix   failed (a misconfiguration, bad input a person must fix);
//               logged as an error; still retried with backoff, so fixing
//               it needs no restart.
//   fatal       failed; logged as an error; the loop ends with the Status.
//   handled     the session already waited as it had to (a paused target,
//               an operator hold): the next session starts at once.
//
// Backoff doubles per failed session and starts over after a session that
// made progress. Each delay has "equal jitter": half of its nominal value is
// fixed and the other half random, so workers that failed together (one
// database restart) do not all come back in the same millisecond. The first
// nominal delay is twice min, so the waits run [min, 2 min], [2 min, 4 min],
// ... up to [max/2, max]: min is the shortest wait and max the longest.
//
// Thread-safety: not thread-safe; one worker thread owns a RetryLoop and its
// Backoff. The StopToken it waits on may be set from any thread.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <random>
#include <string>

#include "handoff/engine/health.h"
#include "handoff/engine/retry_log.h"
#include "handoff/engine/status.h"
#include "handoff/engine/worker.h"

namespace handoff {

class Backoff {
 public:
  // min is raised to 1 ms and max to min. `seed` 0 draws a random seed.
  Backoff(std::chrono::milliseconds min, std::chrono::milliseconds max, uint64_t seed = 0);

  // The delay to wait now (jittered, within [max(min, nominal/2), nominal]);
  // the nominal delay then doubles, up to max.
  std::chrono::milliseconds Next();
  // Back to the first delay (nominal twice min), after progress.
  void Reset();
  // The nominal delay Next() jitters next.
  std::chrono::milliseconds nominal() const { return std::chrono::milliseconds(nominal_ms_); }
  std::chrono::milliseconds min() const { return std::chrono::milliseconds(min_ms_); }
  std::chrono::milliseconds max() const { return std::chrono::milliseconds(max_ms_); }

 private:
  int64_t min_ms_, max_ms_, nominal_ms_;
  std::minstd_rand rng_;
};

enum class FailureClass : uint8_t { kTransient, kNeedsFix, kFatal, kHandled };
const char* FailureClassName(FailureClass c);

// How one session ended.
struct SessionEnd {
  // OK: the work is done or stop was requested; the loop ends.
  Status status;
  FailureClass failure = FailureClass::kTransient;
  // The session moved something forward: the backoff starts over.
  bool progress = false;
  // A delay the other side asked for (an HTTP Retry-After), used instead of
  // the backoff's (which still doubles).
  std::optional<std::chrono::milliseconds> delay;
  // Put between the subject and the error in the log line ("seq 12 PUT ...").
  std::string detail;
};

struct RetryLoopOptions {
  std::string component;  // the log component: "capture", "apply"
  std::string subject;    // who fails, as log lines name it: "source crm", "target erp"
  std::chrono::milliseconds min_backoff{100};
  std::chrono::milliseconds max_backoff{10000};
  // Health to set to retrying/failed with the error; null: not reported.
  HealthCell* health = nullptr;
  // Log and health read the whole Status ("UNAVAILABLE: ...") or its message only.
  bool with_code = true;
  // After a needs-fix error: what the log line says after the error (empty:
  // "retrying in N ms", as for a transient one).
  std::string needs_fix_note;
  // After a fatal error (empty: "stopped").
  std::string fatal_note;

  // The options every worker starts from: who it is, its backoff bounds and
  // its health cell.
  static RetryLoopOptions For(std::string component, std::string subject, std::chrono::milliseconds min_backoff,
                              std::chrono::milliseconds max_backoff, HealthCell* health) {
    RetryLoopOptions o;
    o.component = std::move(component);
    o.subject = std::move(subject);
    o.min_backoff = min_backoff;
    o.max_backoff = max_backoff;
    o.health = health;
    return o;
  }
};

class RetryLoop {
 public:
  // REQUIRES: `stop` outlives the loop.
  RetryLoop(RetryLoopOptions options, const StopToken* stop, uint64_t seed = 0);

  // Runs `session` until it ends OK, fails fatally or stop is requested.
  // OK in the first and the last case; the fatal Status otherwise.
  Status Run(const std::function<SessionEnd()>& session);
  // Reports a failure and waits as Run() does after a failed session; for a
  // worker whose retries sit inside its work (one HTTP request). Returns
  // false when stopped, or when the failure is fatal (reported, not waited).
  bool Failed(const SessionEnd& end);
  // Records a success; logs "recovered after N tries" once after failures.
  void Succeeded();

  Backoff& backoff() { return backoff_; }
  RetryLog& retry_log() { return retry_log_; }
  // Failed sessions since the loop began.
  uint64_t failures() const { return failures_; }

 private:
  RetryLoopOptions opts_;
  const StopToken* stop_;
  Backoff backoff_;
  RetryLog retry_log_;
  uint64_t failures_ = 0;
};

}  // namespace handoff
