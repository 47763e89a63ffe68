// The stored form of an engagement's trace: one record per (root, journal
// seq), "trace:<root>:<seq>:<n>", holding every step that change caused
// under that root (canonical_format.md, "Trace records"). Routine sentences
// (a decision's counts, a derived write) are stored as numbers and worded
// when the trace is read, so routing a change formats no text for them.
//
// Internal to canonical/.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
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

// --- Routine steps kept in the entity's state ------------------------------
// The steps one change caused under an entity that is the root of its own
// trace, when they are only its decision and the writes derived from it, are
// not stored as a record of their own: they are appended to the state's
// trace_tail (the state is written anyway), and the seqs of the derived
// writes are found from one "trace_pass:" record per router pass. A tail of
// kFoldedMax records is filed as one trace record ("TR1") and emptied.
inline constexpr size_t kFoldedMax = 8;

// True when the steps of one (root, seq) can be kept in the root's state.
bool Foldable(const std::string& root, const std::vector<const TraceStep*>& steps);
// Appends the record of one (root, seq) routed in pass `pass_id` to `tail`;
// returns how many records the tail holds now.
size_t AppendFolded(std::string* tail, uint64_t seq, uint64_t pass_id, const std::vector<const TraceStep*>& steps);
// The trace record that files a tail, and the first seq in it (its key).
std::string FoldedRecord(const std::string& tail);
uint64_t FirstFoldedSeq(const std::string& tail);

// A pass's "trace_pass:" record: when it was written and, per journal source
// of derived changes, the seq of each change it staged there (0: skipped).
struct TracePassRecord {
  int64_t at_us = 0;
  std::map<std::string, std::vector<uint64_t>> seqs;
};
std::string EncodeTracePass(int64_t at_us, const std::vector<std::pair<std::string, const std::vector<uint64_t>*>>& seqs);
Status DecodeTracePass(std::string_view data, TracePassRecord* out);
// The pass record of `pass_id`; nullptr when there is none.
using TracePassLookup = std::function<Result<const TracePassRecord*>(uint64_t pass_id)>;
// Appends the lines of a tail or of a "TR1" record of entity `entity`, key `key`.
Status DecodeFolded(std::string_view data, const std::string& entity, const std::string& key,
                    const TracePassLookup& passes, std::vector<TraceLine>* out);
bool IsFoldedRecord(std::string_view data);

}  // namespace handoff
