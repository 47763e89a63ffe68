#include "handoff/conflict/policy.h"

namespace handoff::conflict {

std::string_view PolicyName(Policy p) {
  switch (p) {
    case Policy::kOwnerWins: return "owner_wins";
    case Policy::kLastWriterWins: return "last_writer_wins";
    case Policy::kFirstWriterWins: return "first_writer_wins";
    case Policy::kManual: return "manual";
    case Policy::kDelta: return "delta";
  }
  return "?";
}

std::string_view NonOwnerActionName(NonOwnerAction a) {
  return a == NonOwnerAction::kIgnore ? "ignore" : "park";
}

std::string_view NamedCaseName(NamedCase c) {
  switch (c) {
    case NamedCase::kNone: return "";
    case NamedCase::kInsertExists: return "insert_exists";
    case NamedCase::kUpdateMissing: return "update_missing";
    case NamedCase::kDeleteMissing: return "delete_missing";
    case NamedCase::kUpdateAfterDelete: return "update_after_delete";
    case NamedCase::kLockedEdit: return "locked_edit";
  }
  return "?";
}

std::string_view CaseOutcomeName(CaseOutcome o) {
  switch (o) {
    case CaseOutcome::kApply: return "apply";
    case CaseOutcome::kIgnore: return "ignore";
    case CaseOutcome::kPark: return "park";
  }
  return "?";
}

std::optional<Policy> ParsePolicy(std::string_view s) {
  for (Policy p : {Policy::kOwnerWins, Policy::kLastWriterWins, Policy::kFirstWriterWins,
                   Policy::kManual, Policy::kDelta}) {
    if (PolicyName(p) == s) return p;
  }
  return std::nullopt;
}

std::optional<NonOwnerAction> ParseNonOwnerAction(std::string_view s) {
  if (s == "ignore") return NonOwnerAction::kIgnore;
  if (s == "park") return NonOwnerAction::kPark;
  return std::nullopt;
}

std::optional<NamedCase> ParseNamedCase(std::string_view s) {
  for (NamedCase c : {NamedCase::kInsertExists, NamedCase::kUpdateMissing,
                      NamedCase::kDeleteMissing, NamedCase::kUpdateAfterDelete,
                      NamedCase::kLockedEdit}) {
    if (NamedCaseName(c) == s) return c;
  }
  return std::nullopt;
}

std::optional<CaseOutcome> ParseCaseOutcome(std::string_view s) {
  if (s == "apply" || s == "update" || s == "insert" || s == "resurrect") return CaseOutcome::kApply;
  if (s == "ignore") return CaseOutcome::kIgnore;
  if (s == "park") return CaseOutcome::kPark;
  return std::nullopt;
}

}  // namespace handoff::conflict
