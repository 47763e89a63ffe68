// Scenario: a declarative conflict test (tests/conflict/scenarios/*.yaml):
// ownership rules, two or three systems with the fields each holds, the
// initial canonical and per-system state, interleaved changes, and the
// expected end state everywhere plus the audit/exception records.
// See scenarios/README.md for the file shape.
//
// Thread-safety: plain values; Run is reentrant.
#pragma once

#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "handoff/conflict/decide.h"
#include "handoff/conflict/ownership_rules.h"
#include "handoff/engine/status.h"

namespace handoff::conflict::testing {

// One system's copy of the entity (its row).
struct SystemRow {
  bool exists = false;
  FieldMap fields;
  bool operator==(const SystemRow&) const = default;
};

struct ExpectedRecord {  // an audit or exception record, by its identifying parts
  std::string system, field, outcome_or_case;
  std::optional<bool> conflict;  // audit only; unchecked when absent
  int line = 0;
};

struct Scenario {
  std::string file;
  std::string name;
  bool permute = false;  // every order of `changes` must converge
  OwnershipRules rules;
  std::string entity, key;
  std::map<std::string, std::set<std::string>> holds;  // system -> fields it stores
  EntityState initial;
  std::map<std::string, SystemRow> initial_rows;
  std::vector<EntityChange> changes;

  // Expectations.
  bool expect_exists = true, expect_deleted = false, expect_locked = false;
  FieldMap expect_fields;
  std::map<std::string, SystemRow> expect_rows;  // every system
  std::vector<ExpectedRecord> expect_audit, expect_exceptions;
  std::vector<std::string> expect_cases;  // named cases, in change order
};

// What running a scenario's changes (in some order) produced.
struct Outcome {
  EntityState canonical;
  std::map<std::string, SystemRow> rows;
  std::vector<AuditRecord> audit;
  std::vector<ExceptionRecord> exceptions;
  std::vector<std::string> cases;
};

// Parses a scenario; errors read "FILE:LINE: reason".
Result<Scenario> LoadScenario(const std::string& text, const std::string& file);

// Runs `changes` in the order given by `order` (indexes into s.changes; all
// when empty) against the initial state, modelling propagation: the source's
// own row takes the fields the change wrote first; after each decision the propagated fields
// go to every other system that holds them and the corrections back to the source.
Outcome RunScenario(const Scenario& s, const std::vector<size_t>& order = {});

// Differences between `o` and the scenario's expectations ("" when none).
std::string CheckExpectations(const Scenario& s, const Outcome& o);

// Differences in canonical values and every system's row ("" when none).
std::string CompareStates(const Outcome& a, const Outcome& b);

}  // namespace handoff::conflict::testing
