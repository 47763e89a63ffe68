// The stored form of an engagement's trace: one record per (root, journal
// seq), "trace:<root>:<seq>:<n>", holding every step that change caused
// under that root (canonical_format.md, "Trace records"). Routine sentences
// (a decision's counts, a derived write) are stored as numbers and worded
// when the trace is read, so routing a change formats no text for them.
//
// Internal to canonical/.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "handoff/canonical/trace.h"
#include "handoff/engine/change_event.h"
#include "handoff/engine/status.h"

namespace handoff {

// One step as the pass stages it.
struct TraceStep {
  uint64_t seq = 0;    // journal seq of the change being routed
  std::string root;    // canonical key the step is filed under
  std::string step;    // decided, derived, exception, flow, audit
  std::string entity, key, system;
  std::string detail;  // a sentence (not for decided and derived steps)
  // decided: what the change was and what became of its fields.
  Op op = Op::kInsert;
  SourcePosition position;
  uint32_t applied = 0, kept = 0, ignored = 0, parked = 0, conflicts = 0;
  // derived: target system, table and key columns, and where it sits in the
  // staged batches (its seq is known once appended).
  std::string target_system, target_table, target_key;
  std::string batch;  // the staged batch holding it ("canonical:<system>")
  int index = -1;
  uint64_t derived_seq = 0;
};

// Encodes the steps of one (root, seq), in order. `target` of a derived step
// is its target system name.
std::string EncodeTraceRecord(int64_t at_us, const std::vector<const TraceStep*>& steps);
// Appends the lines of one record (this format or the one-step-per-record
// text form of older journals) to `out`.
Status DecodeTraceRecord(std::string_view data, uint64_t seq, std::vector<TraceLine>* out);

}  // namespace handoff
