#include "handoff/conflict/decision.h"

namespace handoff::conflict {

std::string_view FieldOutcomeName(FieldOutcome o) {
  switch (o) {
    case FieldOutcome::kApplied: return "applied";
    case FieldOutcome::kUnchanged: return "unchanged";
    case FieldOutcome::kIgnoredNotOwner: return "ignored_not_owner";
    case FieldOutcome::kKeptCurrent: return "kept_current";
    case FieldOutcome::kParked: return "parked";
    case FieldOutcome::kMerged: return "merged";
    case FieldOutcome::kIgnored: return "ignored";
  }
  return "?";
}

std::string_view EntityActionName(EntityAction a) {
  switch (a) {
    case EntityAction::kNone: return "none";
    case EntityAction::kUpsert: return "upsert";
    case EntityAction::kDelete: return "delete";
  }
  return "?";
}

int Decision::Count(FieldOutcome o) const {
  int n = 0;
  for (const FieldDecision& f : fields) n += f.outcome == o ? 1 : 0;
  return n;
}

}  // namespace handoff::conflict
