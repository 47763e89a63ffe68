// handoff reconcile: answers finance's questions about one billing period
// from the systems themselves, not from handoff's own state.
//
// Every table the schema pack maps is read from its PostgreSQL system (one
// REPEATABLE READ snapshot per system) and mapped onto canonical entities with
// the pack's own source mappings; the flows' bindings (schemas/flows.yaml) say
// which entities and fields the checks read. The checks:
//
//  - time_posting: every approved time entry of the period is in the posting
//    system (the ERP labor ledger) with its hours, the rate the rate card gave
//    it on its work date and hours x rate as its amount, or is parked in the
//    exception queue with its reason; nothing is posted that is not approved.
//  - billing: every posted billable entry of the period is on exactly one
//    invoice line with the posted quantity, rate and amount, or waits for the
//    next billing close (its invoice is still a draft or not drafted yet);
//    no invoice line bills work that is not posted.
//  - invoice_totals: each invoice of the period has subtotal = the sum of its
//    lines, tax = subtotal x its customer's tax rate, total = subtotal + tax.
//  - closed_won: every won deal has its project in the project system and,
//    for contract types with milestones, each milestone at its share.
//
// A finding is a break (exit 1), parked (an open exception of the entity
// explains it: its reason is shown) or waiting (billing not closed yet).
// Amounts are exact decimals per currency. docs/reconcile.md has the details.
//
// Thread-safety: one call at a time.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "handoff/engine/config.h"
#include "handoff/engine/journal.h"
#include "handoff/engine/status.h"
#include "handoff/schemas/flows.h"
#include "handoff/schemas/model.h"

namespace handoff {

struct ReconcileOptions {
  const Config* config = nullptr;
  const schemas::Model* model = nullptr;
  const schemas::Flows* flows = nullptr;
  Journal* journal = nullptr;  // open exceptions and the pipeline's lag (read only)
  std::string period;          // YYYY-MM
};

enum class FindingState { kBreak, kParked, kWaiting };

struct Finding {
  FindingState state = FindingState::kBreak;
  std::string key;          // canonical key: `handoff trace <key>`
  std::string row;          // system:table:id of the row it was read from ("" when none)
  std::string what;         // a sentence: what is wrong, with the values
  std::string currency;
  std::string amount;       // the money concerned (expected where known), exact decimal
  std::string difference;   // actual - expected, when both are known
  std::string reason;       // parked: the open exception's reason
  uint64_t exception_seq = 0;
};

struct CheckResult {
  std::string name;   // time_posting, billing, invoice_totals, closed_won
  std::string title;  // what it asks, in words
  uint64_t checked = 0, ok = 0;
  // Per currency: the money checked and the money of each state.
  std::map<std::string, std::string> checked_amount, ok_amount, break_amount, parked_amount, waiting_amount;
  std::vector<Finding> findings;
  uint64_t Count(FindingState s) const;
};

struct ReconcileReport {
  std::string period, first_day, last_day;
  int64_t read_at_us = 0;
  std::vector<std::string> systems;  // read
  std::vector<CheckResult> checks;
  std::vector<std::string> notes;    // rows that could not be mapped, a pipeline that was behind
  uint64_t Breaks() const;
};

Result<ReconcileReport> Reconcile(const ReconcileOptions& options);

std::string ReconcileText(const ReconcileReport& report);
std::string ReconcileJson(const ReconcileReport& report);
// One line per finding (check, state, key, row, currency, amount, difference,
// what, reason), with a header; values that a spreadsheet would run as a
// formula are quoted as text.
std::string ReconcileCsv(const ReconcileReport& report);

}  // namespace handoff
