#include "handoff/conflict/ownership_rules.h"

#include <algorithm>

namespace handoff::conflict {

bool FieldRule::Owns(const std::string& system) const {
  return owners.empty() || std::find(owners.begin(), owners.end(), system) != owners.end();
}

const FieldRule& EntityRules::ForField(const std::string& field) const {
  auto it = fields.find(field);
  return it == fields.end() ? default_rule : it->second;
}

CaseOutcome EntityRules::OutcomeFor(NamedCase c) const {
  auto it = cases.find(c);
  return it == cases.end() ? DefaultCaseOutcome(c) : it->second;
}

bool EntityRules::MatchesLock(const std::optional<std::string>& value) const {
  if (!lock || !value) return false;
  return std::find(lock->equals.begin(), lock->equals.end(), *value) != lock->equals.end();
}

CaseOutcome DefaultCaseOutcome(NamedCase c) {
  switch (c) {
    case NamedCase::kInsertExists: return CaseOutcome::kApply;   // an upsert
    case NamedCase::kUpdateMissing: return CaseOutcome::kApply;  // an upsert
    case NamedCase::kDeleteMissing: return CaseOutcome::kIgnore;
    case NamedCase::kUpdateAfterDelete: return CaseOutcome::kIgnore;  // the tombstone stands
    case NamedCase::kLockedEdit: return CaseOutcome::kPark;
    case NamedCase::kNone: return CaseOutcome::kApply;
  }
  return CaseOutcome::kApply;
}

void OwnershipRules::Put(EntityRules rules) {
  std::string name = rules.entity;
  entities_[name] = std::move(rules);
}

const EntityRules* OwnershipRules::Find(const std::string& entity) const {
  auto it = entities_.find(entity);
  return it == entities_.end() ? nullptr : &it->second;
}

const std::vector<std::string>& CanonicalEntities() {
  static const std::vector<std::string> kEntities = {
      "customer", "engagement", "project", "task",    "consultant",
      "rate_card", "time_entry", "expense", "invoice", "payment"};
  return kEntities;
}

}  // namespace handoff::conflict
