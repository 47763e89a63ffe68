#include "handoff/engine/health.h"

#include "handoff/engine/clock.h"

namespace handoff {

const char* HealthStateName(HealthState s) {
  switch (s) {
    case HealthState::kStarting: return "starting";
    case HealthState::kSnapshotting: return "snapshotting";
    case HealthState::kStreaming: return "streaming";
    case HealthState::kApplying: return "applying";
    case HealthState::kRetrying: return "retrying";
    case HealthState::kPaused: return "paused";
    case HealthState::kFailed: return "failed";
    case HealthState::kStopped: return "stopped";
  }
  return "unknown";
}

bool HealthCell::Set(HealthState state, const std::string& reason) {
  std::lock_guard<std::mutex> lock(mu_);
  const bool failing = state == HealthState::kRetrying || state == HealthState::kFailed;
  if (failing) report_.last_error = reason;
  if (state == report_.state && reason == report_.reason) {
    if (failing) ++report_.failures;
    return false;
  }
  report_.state = state;
  report_.reason = reason;
  report_.since_us = NowMicros();
  report_.failures = failing ? 1 : 0;
  return true;
}

HealthReport HealthCell::Get() const {
  std::lock_guard<std::mutex> lock(mu_);
  return report_;
}

bool HealthCell::Up() const {
  std::lock_guard<std::mutex> lock(mu_);
  return report_.state == HealthState::kSnapshotting || report_.state == HealthState::kStreaming ||
         report_.state == HealthState::kApplying;
}

}  // namespace handoff
