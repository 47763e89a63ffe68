// Flows: the business steps of the professional-services pack that go beyond
// mapping one row onto one entity (docs/DOMAIN.md §4), as configuration. The
// canonical apply stage runs them; this file only holds their settings.
//
//   flows:
//     closed_won:
//       stage: closed_won                 # engagement stage that provisions a project
//       project_code: "PRJ-{id}"          # {id}: the engagement's id in its system
//       service_lines: { advisory: CC-ADV, cloud: CC-CLOUD }   # known lines -> cost center
//       contract_types: [time_and_materials, fixed_fee]
//       milestones:                       # contract type -> billing schedule
//         fixed_fee:
//           - { name: kickoff, share: "0.30", due: start_date }
//           - { name: acceptance, share: "0.70", due: end_date }
//     time_posting: { status: approved }
//     billing:
//       invoice_number: "INV-{period}-{project}"
//       tax_rates: { default: "0", DE-BE: "0.19" }       # by the customer's tax region
//     billing_status:                    # what CRM shows, from the invoice status
//       invoice: { draft: draft, issued: invoiced, paid: paid, void: none }
//       partially_paid: partially_paid
//       paid: paid
//
// Thread-safety: plain values, immutable after LoadFlows.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "handoff/engine/status.h"

namespace handoff::schemas {

struct MilestonePlanItem {
  std::string name;
  std::string share;  // exact decimal fraction of the engagement amount
  std::string due;    // engagement date field: start_date or end_date
};

struct ClosedWonFlow {
  std::string stage = "closed_won";
  std::string project_code = "PRJ-{id}";
  std::map<std::string, std::string> service_lines;  // service line -> cost center
  std::vector<std::string> contract_types;
  std::map<std::string, std::vector<MilestonePlanItem>> milestones;
};

struct TimePostingFlow {
  std::string status = "approved";
};

struct BillingFlow {
  std::string invoice_number = "INV-{period}-{project}";
  std::map<std::string, std::string> tax_rates;  // tax region -> rate; "default"
  std::string TaxRate(const std::string& region) const;
};

struct BillingStatusFlow {
  std::map<std::string, std::string> invoice;  // invoice status -> billing_status
  std::string partially_paid = "partially_paid";
  std::string paid = "paid";
};

struct Flows {
  std::optional<ClosedWonFlow> closed_won;
  std::optional<TimePostingFlow> time_posting;
  std::optional<BillingFlow> billing;
  std::optional<BillingStatusFlow> billing_status;
};

// Reads a flows file; every problem is reported as "file:line: reason", one a
// line (InvalidArgument). NotFound when the file cannot be read.
Result<Flows> LoadFlows(const std::string& path);

}  // namespace handoff::schemas
