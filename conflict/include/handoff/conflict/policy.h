// Policy vocabulary of conflict/: how a field's conflicts are resolved, what a
// change from a non-owner does, and the named cases with their outcomes.
//
// Thread-safety: plain enums and pure functions; safe from any thread.
#pragma once

#include <optional>
#include <string_view>

namespace handoff::conflict {

// How a conflict on a field is resolved (docs/DOMAIN.md §2).
enum class Policy : unsigned char {
  kOwnerWins = 0,       // only the owner system(s) may set it; the owner's latest write stands
  kLastWriterWins,      // later source commit time wins; ties: system name sorting first wins
  kFirstWriterWins,     // the value already held (earlier in journal order) stands on conflict
  kManual,              // a conflicting change is parked in the exception queue
  kDelta,               // additive number: canonical += (after - before), exact decimal
};

// What a change from a system that does not own a field does.
enum class NonOwnerAction : unsigned char {
  kIgnore = 0,  // drop it, audit it (and tell the caller the canonical value to write back)
  kPark,        // park it as an exception for review
};

// The named edge cases of docs/DOMAIN.md §2, each counted in Decision::named_case.
enum class NamedCase : unsigned char {
  kNone = 0,
  kInsertExists,       // insert of a key that already exists (and is not deleted)
  kUpdateMissing,      // update of a key never seen
  kDeleteMissing,      // delete of a key never seen or already deleted
  kUpdateAfterDelete,  // insert or update of a tombstoned key
  kLockedEdit,         // edit of a locked entity (approved time entry) by a non-locked owner
};

// What a named case does, per entity (configurable).
enum class CaseOutcome : unsigned char {
  kApply = 0,  // insert_exists: treat as an update; update_missing: treat as an insert;
               // update_after_delete: resurrect the entity and apply
  kIgnore,     // drop the change, audit it
  kPark,       // park the whole change as an exception
};

std::string_view PolicyName(Policy p);                 // "owner_wins", ...
std::string_view NonOwnerActionName(NonOwnerAction a);  // "ignore", "park"
std::string_view NamedCaseName(NamedCase c);            // "insert_exists", ... ("" for kNone)
std::string_view CaseOutcomeName(CaseOutcome o);        // "apply", "ignore", "park"

std::optional<Policy> ParsePolicy(std::string_view s);
std::optional<NonOwnerAction> ParseNonOwnerAction(std::string_view s);
std::optional<NamedCase> ParseNamedCase(std::string_view s);  // not "" / kNone
// Accepts "apply" and the case-specific synonyms "update", "insert", "resurrect".
std::optional<CaseOutcome> ParseCaseOutcome(std::string_view s);

}  // namespace handoff::conflict
