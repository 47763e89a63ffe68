// RetryLog: what a retry loop logs, so that one cause repeated reads as a
// few lines instead of one per try.
//
//   - the first failure: in full;
//   - the same cause again: nothing, except a summary when the try count
//     reaches a power of two (one line per doubling of the backoff) or ten
//     minutes after the last line: "still failing after N tries (for 2m10s),
//     last error: ...";
//   - another cause: in full, once;
//   - success after failures: "recovered after N tries (for 2m10s)", once.
//
// Two errors are the same cause when they differ only in their digits
// (byte offsets, milliseconds, ports), so a counter in a message does not
// defeat the summary.
//
// Thread-safety: not thread-safe; one retry loop owns it.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "handoff/engine/clock.h"

namespace handoff {

class RetryLog {
 public:
  // REQUIRES: `clock` (the default clock when null) outlives this object.
  explicit RetryLog(Clock* clock = nullptr) : clock_(clock ? clock : Clock::Default()) {}

  // Records a failed try with `error`; the line to log, if any.
  std::optional<std::string> Failed(const std::string& error);
  // Records a successful try; "recovered after ..." when it ends a run of failures.
  std::optional<std::string> Succeeded();

  // Failed tries since the last success (or the last change of cause).
  uint64_t tries() const { return tries_; }
  bool failing() const { return tries_ > 0; }

  // "850ms", "42s", "2m10s", "3h05m".
  static std::string FormatDuration(int64_t micros);

 private:
  static std::string Cause(const std::string& error);

  Clock* clock_;
  uint64_t tries_ = 0;
  uint64_t total_tries_ = 0;  // across changes of cause, for the recovery line
  int64_t first_us_ = 0, last_line_us_ = 0;
  std::string cause_;
};

}  // namespace handoff
