// The retry loop options both appliers (PostgreSQL, HTTP) share: a target's
// failures are logged by message, and a fatal one stops apply.
#pragma once

#include <chrono>
#include <string>

#include "handoff/engine/health.h"
#include "handoff/engine/retry_loop.h"

namespace handoff::apply {

inline RetryLoopOptions ApplierLoopOptions(const std::string& target, std::chrono::milliseconds min_backoff,
                                           std::chrono::milliseconds max_backoff, HealthCell* health) {
  RetryLoopOptions o = RetryLoopOptions::For("apply", "target " + target, min_backoff, max_backoff, health);
  o.with_code = false;
  o.fatal_note = "apply stopped";
  return o;
}

}  // namespace handoff::apply
