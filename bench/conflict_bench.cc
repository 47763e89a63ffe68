// conflict_bench: Decide() throughput on realistic entities: a customer with
// 10 fields and a time entry with 12, full-row before/after images (as
// pgoutput delivers them), with and without conflicts. Each benchmark checks
// the decisions it made (applied / kept / ignored / parked / merged field
// counts) so a fast wrong answer fails. Reports items/s (decisions per second).
//
//   build/bench/conflict_bench --benchmark_min_time=0.5
#include <benchmark/benchmark.h>

#include <string>
#include <vector>

#include "handoff/conflict/decide.h"

namespace handoff::conflict {
namespace {

constexpr int kBatch = 1024;

const OwnershipRules& Rules() {
  static const OwnershipRules rules = [] {
    Result<OwnershipRules> r = ParseOwnershipRules(R"(
ownership:
  customer:
    default: { owner: crm, policy: owner_wins, non_owner: ignore }
    fields:
      legal_entity: { owner: erp }
      tax_region: { owner: erp }
      payment_terms: { owner: erp }
      credit_limit: { owner: erp, non_owner: park }
      currency: { owner: erp }
      billing_status: { owner: erp }
      notes: { policy: last_writer_wins }
  time_entry:
    default: { owner: psa }
    fields:
      posted_at: { owner: erp }
      invoiced: { owner: erp }
    locked_when: { field: status, equals: approved }
    when_locked: { owner: erp, non_owner: park }
)",
                                                   "bench.yaml");
    if (!r.ok()) std::abort();
    return std::move(*r);
  }();
  return rules;
}

EntityState State(const std::string& entity, int i, const FieldMap& values,
                  const std::string& system) {
  EntityState s;
  s.entity = entity;
  s.key = entity + "-" + std::to_string(i);
  s.exists = true;
  for (const auto& [f, v] : values) s.fields[f] = FieldState{v, {system, 1000, 1}};
  return s;
}

FieldMap CustomerRow(int i) {
  return {{"name", "Customer " + std::to_string(i)}, {"industry", "retail"},
          {"owner", "rep" + std::to_string(i % 17) + "@example.com"},
          {"legal_entity", "Customer " + std::to_string(i) + " GmbH"}, {"tax_region", "EU-DE"},
          {"payment_terms", "net 30"}, {"credit_limit", "50000.00"}, {"currency", "EUR"},
          {"billing_status", "current"}, {"notes", "n" + std::to_string(i)}};
}

FieldMap TimeRow(int i) {
  return {{"consultant", "c" + std::to_string(i % 50) + "@example.com"},
          {"project", "PRJ-" + std::to_string(i % 40)}, {"task", "T-" + std::to_string(i % 7)},
          {"work_date", "2026-11-" + std::to_string(10 + i % 18)}, {"hours", "7.50"},
          {"billable", "true"}, {"status", "submitted"}, {"notes", "sprint work"},
          {"approved_at", std::nullopt}, {"rate_role", "senior"}, {"posted_at", std::nullopt},
          {"invoiced", "false"}};
}

struct Case {
  std::vector<EntityState> states;
  std::vector<EntityChange> changes;
};

EntityChange Change(const EntityState& s, const std::string& system, int64_t t, FieldMap before,
                    FieldMap after) {
  EntityChange c;
  c.entity = s.entity;
  c.key = s.key;
  c.system = system;
  c.op = Op::kUpdate;
  c.commit_time_us = t;
  c.seq = static_cast<uint64_t>(t);
  c.has_before = true;
  c.before = std::move(before);
  c.after = std::move(after);
  return c;
}

// CRM renames and re-assigns (2 owned fields of a 10-field full row): no conflict.
Case CustomerClean() {
  Case k;
  for (int i = 0; i < kBatch; ++i) {
    FieldMap row = CustomerRow(i), after = row;
    after["name"] = "Customer " + std::to_string(i) + " Ltd";
    after["owner"] = "key-accounts@example.com";
    k.states.push_back(State("customer", i, row, "crm"));
    k.changes.push_back(Change(k.states.back(), "crm", 5000, row, after));
  }
  return k;
}

// CRM edits ERP-owned terms (ignored), a stale shared note (kept), and
// credit_limit (parked); name applies. 4 decided fields per change.
Case CustomerConflicts() {
  Case k;
  for (int i = 0; i < kBatch; ++i) {
    FieldMap row = CustomerRow(i);
    EntityState s = State("customer", i, row, "erp");
    s.fields["name"].provenance.system = "crm";
    s.fields["notes"] = FieldState{"erp note", {"erp", 9000, 2}};
    FieldMap before = row, after = row;
    after["name"] = "Renamed " + std::to_string(i);
    after["payment_terms"] = "net 60";
    after["notes"] = "crm note";
    after["credit_limit"] = "90000.00";
    k.states.push_back(std::move(s));
    k.changes.push_back(Change(k.states.back(), "crm", 5000, before, after));
  }
  return k;
}

// PSA approves (hours and status change; locks): no conflict.
Case TimeEntryClean() {
  Case k;
  for (int i = 0; i < kBatch; ++i) {
    FieldMap row = TimeRow(i), after = row;
    after["hours"] = "8.00";
    after["status"] = "approved";
    after["approved_at"] = "2026-11-30T17:00:00Z";
    k.states.push_back(State("time_entry", i, row, "psa"));
    k.changes.push_back(Change(k.states.back(), "psa", 5000, row, after));
  }
  return k;
}

// PSA edits an approved (locked) entry: hours and notes parked (locked_edit).
Case TimeEntryLocked() {
  Case k;
  for (int i = 0; i < kBatch; ++i) {
    FieldMap row = TimeRow(i);
    row["status"] = "approved";
    EntityState s = State("time_entry", i, row, "psa");
    s.locked = true;
    FieldMap after = row;
    after["hours"] = "9.25";
    after["notes"] = "corrected";
    k.states.push_back(std::move(s));
    k.changes.push_back(Change(k.states.back(), "psa", 5000, row, after));
  }
  return k;
}

struct Expected {
  int applied, kept, ignored, parked;
};

void Run(benchmark::State& state, const Case& k, Expected per_change) {
  int64_t decisions = 0;
  for (auto _ : state) {
    Expected got{0, 0, 0, 0};
    for (int i = 0; i < kBatch; ++i) {
      Decision d = Decide(Rules(), k.states[i], k.changes[i]);
      got.applied += d.Count(FieldOutcome::kApplied);
      got.kept += d.Count(FieldOutcome::kKeptCurrent);
      got.ignored += d.Count(FieldOutcome::kIgnoredNotOwner);
      got.parked += d.Count(FieldOutcome::kParked);
      benchmark::DoNotOptimize(d);
    }
    if (got.applied != per_change.applied * kBatch || got.kept != per_change.kept * kBatch ||
        got.ignored != per_change.ignored * kBatch || got.parked != per_change.parked * kBatch) {
      state.SkipWithError("wrong decisions: field outcome counts differ from the expected ones");
      return;
    }
    decisions += kBatch;
  }
  state.SetItemsProcessed(decisions);
  state.counters["fields_applied_per_change"] = per_change.applied;
}

void BM_CustomerNoConflict(benchmark::State& s) {
  static const Case k = CustomerClean();
  Run(s, k, {2, 0, 0, 0});
}
void BM_CustomerWithConflicts(benchmark::State& s) {
  static const Case k = CustomerConflicts();
  Run(s, k, {1, 1, 1, 1});
}
void BM_TimeEntryNoConflict(benchmark::State& s) {
  static const Case k = TimeEntryClean();
  Run(s, k, {3, 0, 0, 0});
}
void BM_TimeEntryLockedEdit(benchmark::State& s) {
  static const Case k = TimeEntryLocked();
  Run(s, k, {0, 0, 0, 2});
}

BENCHMARK(BM_CustomerNoConflict);
BENCHMARK(BM_CustomerWithConflicts);
BENCHMARK(BM_TimeEntryNoConflict);
BENCHMARK(BM_TimeEntryLockedEdit);

}  // namespace
}  // namespace handoff::conflict

BENCHMARK_MAIN();
