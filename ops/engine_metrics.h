// The Prometheus series of `handoff run` (/metrics), rendered from the
// counters of the running components. README.md lists every series.
//
// Thread-safety: RenderEngineMetrics may run on any thread while the
// components run; every source it reads is thread-safe.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "handoff/canonical/router.h"
#include "handoff/capture/slot_watch.h"
#include "handoff/engine/change_feed.h"
#include "handoff/engine/journal.h"
#include "handoff/engine/transport.h"
#include "scheduled_checks.h"
#include "source_factory.h"
#include "target_factory.h"

namespace handoff {

// What the metrics are read from. Null pointers are components not running.
struct EngineComponents {
  Journal* journal = nullptr;
  const IntakeServer* intake = nullptr;
  std::vector<std::pair<std::string, SourceAgent*>> agents;    // in-process capture agents
  std::vector<std::pair<std::string, TargetWriter*>> targets;  // apply workers
  const ChangeFeedPublisher* feed = nullptr;
  const CanonicalRouter* router = nullptr;
  const SlotWatch* slots = nullptr;
  std::vector<std::string> configured_sources;  // every configured source, in-process or not
  const ScheduledChecks* checks = nullptr;      // scheduled verify / reconcile
};

std::string RenderEngineMetrics(const EngineComponents& c);

// Seconds the oldest change not yet applied to a target has waited since it
// was journaled; 0 when the target is caught up.
double ApplyLagSeconds(Journal* journal, uint64_t applied, uint64_t last_seq, int64_t now_us);

}  // namespace handoff
