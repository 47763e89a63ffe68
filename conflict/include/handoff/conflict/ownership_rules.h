// OwnershipRules: per entity and per field, which system(s) own a field (the
// system of record), how conflicts on it are resolved, what a non-owner's
// change does, when the entity locks, and what the named cases do. Built from
// configuration (the `ownership:` section of handoff.yaml), never from code.
//
// YAML shape (every key optional except the entity names):
//
//   ownership:
//     customer:                                  # a canonical entity (docs/DOMAIN.md §1)
//       default: { owner: crm, policy: owner_wins, non_owner: ignore }
//       fields:
//         payment_terms: { owner: erp }          # inherits policy/non_owner from default
//         notes: { policy: last_writer_wins }    # no owner + non-owner_wins policy: shared
//         hours_used: { policy: delta }
//         region: { owner: [crm, erp] }          # several owners: latest owner write wins
//     time_entry:
//       default: { owner: psa }
//       locked_when: { field: status, equals: approved }   # or equals: [approved, invoiced]
//       when_locked: { owner: erp, non_owner: park }       # rules once locked
//       cases: { update_missing: insert, delete_missing: ignore,
//                insert_exists: update, update_after_delete: park }
//
// owner: a system name, a list of names, or `any`. A field without `owner`
// inherits the default owner, except when it names a policy other than
// owner_wins: then it is shared by every system (those policies arbitrate
// between several writers). policy: owner_wins | last_writer_wins |
// first_writer_wins | manual | delta. non_owner: ignore | park.
// cases: insert_exists (apply|update|ignore|park, default apply),
// update_missing (apply|insert|ignore|park, default apply), delete_missing
// (ignore|park, default ignore), update_after_delete (apply|resurrect|ignore|
// park, default ignore). The entity-level owner (default.owner) also decides
// who may insert and delete the entity.
//
// Thread-safety: immutable after construction; safe to share between threads.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "handoff/conflict/policy.h"
#include "handoff/engine/status.h"

namespace handoff::conflict {

struct FieldRule {
  std::vector<std::string> owners;  // empty = any system may write
  Policy policy = Policy::kOwnerWins;
  NonOwnerAction non_owner = NonOwnerAction::kIgnore;

  bool Owns(const std::string& system) const;
  bool operator==(const FieldRule&) const = default;
};

// Once `field` holds one of `equals`, the entity is locked (sticky): only
// `owners` may change it; anyone else's edit is a kLockedEdit case.
struct LockRule {
  std::string field;
  std::vector<std::string> equals;
  std::vector<std::string> owners;
  NonOwnerAction non_owner = NonOwnerAction::kPark;
  bool operator==(const LockRule&) const = default;
};

struct EntityRules {
  std::string entity;
  FieldRule default_rule;
  std::map<std::string, FieldRule> fields;  // resolved (inheritance applied)
  std::optional<LockRule> lock;
  std::map<NamedCase, CaseOutcome> cases;  // absent: DefaultCaseOutcome

  // The rule for `field` (its own, or the default).
  const FieldRule& ForField(const std::string& field) const;
  // What the named case does for this entity.
  CaseOutcome OutcomeFor(NamedCase c) const;
  // True when `values` (the canonical field values) put the entity in its locked phase.
  bool MatchesLock(const std::optional<std::string>& lock_field_value) const;
};

// Built-in outcome of a named case when the configuration does not name one.
CaseOutcome DefaultCaseOutcome(NamedCase c);

class OwnershipRules {
 public:
  OwnershipRules() = default;

  // Adds or replaces the rules of one entity.
  void Put(EntityRules rules);
  // nullptr when the entity has no rules.
  const EntityRules* Find(const std::string& entity) const;
  const std::map<std::string, EntityRules>& entities() const { return entities_; }

 private:
  std::map<std::string, EntityRules> entities_;
};

// The canonical entities of docs/DOMAIN.md §1 (customer, engagement, project, ...).
const std::vector<std::string>& CanonicalEntities();

// Parses the `ownership:` section of `yaml` (other top-level keys are left to
// their own loaders). `file` only names the source in errors, which read
// "FILE:LINE: reason" (kInvalidArgument) for unknown entities, keys, policies,
// actions and cases, wrong value types and YAML syntax errors.
Result<OwnershipRules> ParseOwnershipRules(const std::string& yaml, const std::string& file);
// Same, with the set of accepted entity names given explicitly.
Result<OwnershipRules> ParseOwnershipRules(const std::string& yaml, const std::string& file,
                                           const std::vector<std::string>& known_entities);

}  // namespace handoff::conflict
