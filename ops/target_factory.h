// TargetFactory: the apply worker for a configured target, whatever its kind
// (PostgreSQL or HTTP), behind the engine's Target interface plus its
// counters. A table maps each kind to its builder.
//
// Thread-safety: a TargetWriter is run on one thread; Stop(), Health() and
// counters() from any; the kind table is constant.
#pragma once

#include <cstdint>
#include <memory>
#include <functional>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "handoff/apply/pg_applier.h"
#include "handoff/engine/config.h"
#include "handoff/engine/journal.h"
#include "handoff/engine/status.h"
#include "handoff/engine/worker.h"

namespace handoff {

class TargetWriter : public Target {
 public:
  virtual const ApplyCounters& counters() const = 0;
  HealthReport Health() const override { return counters().health.Get(); }
};

// How a writer runs: continuously (all unset), as a replay from a seq until
// caught up, or for one journal entry only (exception retry/resolve), that
// entry optionally replaced by an operator-chosen version.
struct TargetRun {
  std::optional<uint64_t> replay_from_seq;
  std::optional<uint64_t> only_seq;
  std::optional<ChangeEvent> replacement;
  // Bulk retry: several journal entries at once (no replacement); each one
  // parked again is reported to on_parked.
  std::set<uint64_t> only_seqs;
  std::function<void(uint64_t seq, const std::string& code)> on_parked;
};

// One row of the kind table.
struct TargetKindEntry {
  const char* name;  // as `kind:` spells it
  TargetKind kind;
  Result<std::unique_ptr<TargetWriter>> (*make)(const Config& config, const TargetConfig& target, Journal* journal,
                                                const TargetRun& run);
};
const std::vector<TargetKindEntry>& TargetKinds();
// "postgres, http".
std::string TargetKindList();

// The writer for `target`, fed by the routes of `config` that end there. An
// unknown kind is an error listing the known ones.
Result<std::unique_ptr<TargetWriter>> MakeTarget(const Config& config, const TargetConfig& target, Journal* journal,
                                                 const TargetRun& run = {});

}  // namespace handoff
