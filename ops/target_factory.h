// TargetFactory: the apply worker for a configured target, whatever its kind
// (PostgreSQL or HTTP), behind one small interface.
//
// Thread-safety: a TargetWriter is run on one thread; Stop() and counters()
// from any.
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

namespace handoff {

class TargetWriter {
 public:
  virtual ~TargetWriter() = default;
  virtual Status Run() = 0;
  virtual void Stop() = 0;
  virtual const ApplyCounters& counters() const = 0;
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

// The writer for `target`, fed by the routes of `config` that end there.
Result<std::unique_ptr<TargetWriter>> MakeTarget(const Config& config, const TargetConfig& target, Journal* journal,
                                                 const TargetRun& run = {});

}  // namespace handoff
