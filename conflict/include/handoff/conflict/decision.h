// Decision: what conflict/ decided about one incoming EntityChange: the next
// canonical state, what to write to the other systems, what to write back to
// the source, and the audit and exception records that explain it.
//
// Thread-safety: plain values.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "handoff/conflict/entity_state.h"
#include "handoff/conflict/policy.h"

namespace handoff::conflict {

// What happened to one field of the incoming change.
enum class FieldOutcome : unsigned char {
  kApplied = 0,       // the incoming value is now canonical
  kUnchanged,         // the incoming value equals the canonical value; nothing to do
  kIgnoredNotOwner,   // the source does not own the field; dropped (audited)
  kKeptCurrent,       // conflict or stale change resolved in favour of the canonical value
  kParked,            // sent to the exception queue (manual policy, non-owner park, locked, ...)
  kMerged,            // additive (delta) merge: canonical += after - before
  kIgnored,           // dropped by a named case's `ignore` outcome (entity-level records)
};
std::string_view FieldOutcomeName(FieldOutcome o);  // "applied", "unchanged", ...

// What to do with the entity in the other systems.
enum class EntityAction : unsigned char {
  kNone = 0,  // nothing to propagate (propagate may still be empty)
  kUpsert,    // write `propagate` (creating the row where missing)
  kDelete,    // delete (tombstone) the entity everywhere else
};
std::string_view EntityActionName(EntityAction a);

struct FieldDecision {
  std::string field;
  FieldOutcome outcome = FieldOutcome::kApplied;
  Policy policy = Policy::kOwnerWins;
  bool conflict = false;  // detected per docs/DOMAIN.md §2 (or a stale/out-of-order write)
};

// One audited decision, with both images, readable by a finance user.
struct AuditRecord {
  std::string entity, key, system;  // system = source of the incoming change
  uint64_t seq = 0;
  std::string field;                   // empty for entity-level records (named cases)
  std::optional<std::string> before;   // what the source believed (before-image)
  std::optional<std::string> incoming; // what the source sent (after-image)
  std::optional<std::string> current;  // canonical value before this decision
  std::optional<std::string> result;   // canonical value after this decision
  Policy policy = Policy::kOwnerWins;
  FieldOutcome outcome = FieldOutcome::kApplied;
  bool conflict = false;
  NamedCase named_case = NamedCase::kNone;
  std::string reason;
};

// A parked field or change, for the exception queue. field empty = whole change.
struct ExceptionRecord {
  std::string entity, key, system;
  uint64_t seq = 0;
  std::string field;
  std::optional<std::string> incoming;
  std::optional<std::string> current;
  NamedCase named_case = NamedCase::kNone;
  std::string reason;
};

struct Decision {
  EntityState state;                 // the canonical state after this change
  EntityAction action = EntityAction::kNone;
  FieldMap propagate;                // field -> value for every other system holding it
  FieldMap corrections;              // field -> canonical value to write back to the source
  std::vector<FieldDecision> fields; // one per field the source changed, in field order
  std::vector<AuditRecord> audit;
  std::vector<ExceptionRecord> exceptions;
  NamedCase named_case = NamedCase::kNone;  // counted in metrics
  int conflicts = 0;                        // fields with a detected conflict

  // Count of fields with outcome `o`.
  int Count(FieldOutcome o) const;
};

}  // namespace handoff::conflict
