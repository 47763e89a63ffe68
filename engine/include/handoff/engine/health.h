// Health: the live state of one component (a source or a target), as the
// admin endpoints, `handoff status` and the metrics report it.
//
// A state change is what gets logged: Set() says whether the state or its
// reason changed, so a component that fails the same way a thousand times
// logs once, and once more when it recovers or fails differently.
//
// Thread-safety: every member is safe from any thread.
#pragma once

#include <cstdint>
#include <mutex>
#include <string>

namespace handoff {

enum class HealthState : uint8_t {
  kStarting = 0,
  kSnapshotting,  // source: initial snapshot
  kStreaming,     // source: following its log or feed
  kApplying,      // target: applying (or caught up and waiting)
  kRetrying,      // a transient failure: retried with backoff
  kPaused,        // target: held on a condition of the whole target, or by an operator
  kFailed,        // a condition a person must fix (misconfiguration, privilege); still retried slowly
  kStopped,
};
const char* HealthStateName(HealthState s);

struct HealthReport {
  HealthState state = HealthState::kStarting;
  std::string reason;      // why, for retrying / paused / failed
  std::string last_error;  // the latest failure, kept after recovery
  int64_t since_us = 0;    // when the state began
  uint64_t failures = 0;   // failures seen in the current state
};

class HealthCell {
 public:
  // Sets the state; returns true when the state or the reason changed (the
  // caller logs then). A failure state keeps the reason as last_error.
  bool Set(HealthState state, const std::string& reason = {});
  HealthReport Get() const;
  // Up: the component does its work (snapshotting, streaming, applying).
  bool Up() const;

 private:
  mutable std::mutex mu_;
  HealthReport report_;
};

}  // namespace handoff
