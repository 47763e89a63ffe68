// EnginePipeline: the part of `handoff run` a reload replaces: the capture
// agents of in-process sources, the apply workers, the canonical router, the
// change feed and the slot watch, built from one configuration. The journal,
// the intake and the admin server outlive it.
//
// Thread-safety: Build, Start and Stop on the main thread; the components it
// exposes are read from any (their counters are atomics).
#pragma once

#include <atomic>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "engine_metrics.h"
#include "engine_runner.h"
#include "handoff/canonical/router.h"
#include "handoff/capture/slot_watch.h"
#include "handoff/engine/change_feed.h"
#include "handoff/engine/config.h"
#include "handoff/engine/journal.h"
#include "handoff/engine/transport.h"
#include "source_factory.h"
#include "target_factory.h"

namespace handoff {

class EnginePipeline {
 public:
  // `config` has the canonical implicit routes added. Nothing runs yet.
  static Result<std::unique_ptr<EnginePipeline>> Build(const Config& config, Journal* journal,
                                                       std::shared_ptr<TransportContext> ctx,
                                                       const std::string& intake_endpoint);
  ~EnginePipeline();

  // Starts every component on its own thread; `on_fatal` is called (from
  // that thread) when one stops with an error.
  void Start(std::function<void(const std::string& what, const Status&)> on_fatal);
  // Drains: capture first (nothing new arrives), then router, targets, feed,
  // slot watch. Joins every thread. Idempotent.
  void Stop();
  // Stops only the capture agents (before the intake stops, at shutdown).
  void StopSources();

  // The components for metrics and status (journal and intake not set).
  void Fill(EngineComponents* c) const;
  // Targets whose applied position retention must respect.
  const std::vector<std::string>& retention_targets() const { return retention_targets_; }
  size_t sources() const { return agents_.size(); }
  size_t targets() const { return appliers_.size(); }
  uint64_t RowsApplied() const;

 private:
  EnginePipeline() = default;

  std::unique_ptr<CanonicalSetup> canonical_;
  std::vector<std::unique_ptr<SourceAgent>> agents_;
  std::vector<std::pair<std::string, SourceAgent*>> agent_refs_;
  std::vector<std::unique_ptr<TargetWriter>> appliers_;
  std::vector<std::pair<std::string, TargetWriter*>> applier_refs_;
  std::vector<std::string> retention_targets_;
  std::unique_ptr<CanonicalRouter> router_;
  std::unique_ptr<ChangeFeedPublisher> feed_;
  std::unique_ptr<SlotWatch> slot_watch_;
  std::vector<std::thread> source_threads_, other_threads_;
  std::thread router_thread_;
  bool sources_stopped_ = false, stopped_ = false, started_ = false;
};

// The configuration as the engine runs it: `config` with the canonical
// model's implicit routes added (and the model loaded, when configured).
Result<Config> EffectiveConfig(const Config& config, std::unique_ptr<CanonicalSetup>* canonical);

}  // namespace handoff
