// handoff trace: the path of one engagement (or any canonical entity) through
// the systems, as the canonical router filed it: what was decided, which flow
// ran, which change was derived for which target and what became of it.
//
// Thread-safety: reads only; safe beside a running router.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "handoff/conflict/ownership_rules.h"
#include "handoff/engine/journal.h"
#include "handoff/engine/status.h"
#include "handoff/schemas/model.h"

namespace handoff {

// One step of an engagement's path, as `handoff trace` shows it.
struct TraceLine {
  uint64_t seq = 0;       // journal seq of the change that caused it
  int64_t at_us = 0;      // when the router wrote it
  std::string step;       // decided, flow, derived, exception
  std::string entity, key, system, detail;
  // derived: the change journaled for a target, and what became of it.
  uint64_t derived_seq = 0;
  std::string target, table, row;
  std::string state;      // applied, pending, parked: <reason>
};
struct TraceReport {
  std::string key;   // canonical key of what was asked for
  std::string root;  // the engagement its steps are filed under (or the key itself)
  std::vector<TraceLine> lines;
};
// `ref` is a canonical key ("engagement:crm:42") or a system row
// ("crm:opportunities:42"). NotFound when handoff does not know it.
Result<TraceReport> ReadTrace(Journal* journal, const schemas::Model& model, const conflict::OwnershipRules& rules,
                              const std::string& ref);

}  // namespace handoff
