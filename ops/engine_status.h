// The live status of `handoff run`: readiness with its reasons (/readyz) and
// the state of every source and target (/status, read by `handoff status`).
//
// Thread-safety: both functions may run on any thread while the components
// run; everything they read is thread-safe.
#pragma once

#include <atomic>
#include <string>

#include "admin_server.h"
#include "engine_metrics.h"

namespace handoff {

// What readiness depends on besides the components' own states.
struct EngineFlags {
  const std::atomic<bool>* fatal = nullptr;     // a component stopped on a fatal error
  const std::atomic<bool>* draining = nullptr;  // SIGTERM received
  const std::atomic<bool>* reloading = nullptr;  // SIGHUP: the pipeline is being rebuilt
};

// Ready: no component failed, not draining, and the journal takes writes.
// A source or target in state "failed" (a misconfiguration: no REPLICATION,
// wal_level, a missing table, slot or privilege) makes it not ready.
Readiness EngineReadiness(const EngineComponents& c, const EngineFlags& flags);

// {"engine":{"pid":..,"journal_id":..},"ready":..,"sources":[...],"targets":[...]}
// Each source: name, kind, state, reason, since, last_error, durable
// position, capture lag in bytes (PostgreSQL); each target: name, state,
// reason, applied seq, lag in changes and seconds, last_error.
std::string EngineStatusJson(const EngineComponents& c, const EngineFlags& flags);
// The same, as the lines `handoff status` prints.
std::string EngineStatusText(const EngineComponents& c, const EngineFlags& flags);

}  // namespace handoff
