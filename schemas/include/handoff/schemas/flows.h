// Flows: the business steps of a pack that go beyond mapping one row onto one
// entity (docs/DOMAIN.md §4), as configuration. The canonical engine runs them;
// this file holds their settings and their bindings: which entity starts a
// flow, which fields and systems it reads and writes, all by the pack's names.
// The engine names no entity, field or system of its own.
//
// Every binding key is required (a missing one is a load error naming the flow
// and the key); CheckFlows then checks the names against the model. The
// default pack's file, schemas/flows.yaml, documents each key; in short:
//
//   flows:
//     closed_won:                       # a won deal provisions its project
//       deal: { entity, system, label, stage, customer, name, amount, currency,
//               service_line, contract_type, rate_card, dates: [...] }
//       stage: closed_won               # deal.stage value that provisions
//       customer: { system, name, required: [...] }
//       rate_card: { entity, field, system }            # a lookup by value
//       project: { entity, system, code, name, deal, customer, status, open,
//                  contract_type, budget, currency, cost_center }
//       milestone: { entity, project, name, amount, due_date }  # with milestones
//       project_code: "PRJ-{id}"        # {id}: the deal's id in deal.system
//       service_lines: { advisory: CC-ADV }             # known lines -> cost center
//       contract_types: [time_and_materials, fixed_fee]
//       milestones: { fixed_fee: [{ name: kickoff, share: "0.30", due: start_date }, ...] }
//     time_posting:                     # an approved entry is posted at its rate
//       entry: { entity, status, task (optional), project, consultant, hours, work_date }
//       status: approved
//       task: { active, code }          # with entry.task
//       project: { status, open, code, deal }
//       deal: { budget_hours, rate_card }
//       consultant: { role, cost_center, email }
//       rate_card: { entity, field, role, from, to, rate, currency }
//       posting: { system, rate, currency, cost_center, posted_at }
//     billing:                          # a period's work becomes draft invoices
//       run: { entity, period, status, starts: [requested] }
//       system: erp
//       project: { currency, customer }
//       customer: { tax_region }
//       labor: { entity, status, approved, billable, posted, date, project, hours,
//                rate, currency, consultant, task, who }
//       milestones: { entity, date, project, amount, name }               # optional
//       expenses: { entity, status, approved, billable, date, project, amount,
//                   currency, category }                                  # optional
//       invoice: { entity, number, customer, project, period_start, period_end,
//                  status, draft, subtotal, tax, total, currency }
//       line: { entity, invoice, line_no, kind, description, project, work,
//               quantity, unit_price, amount, currency, kinds: { labor, milestone, expense } }
//       invoice_number: "INV-{period}-{project}"
//       tax_rates: { default: "0", DE-BE: "0.19" }       # by the customer's tax region
//     billing_status:                   # invoice and payment status back to sales
//       invoices: { entity, status, number, total, customer, project }
//       payments: { entity, invoice, amount, currency }
//       project_deal: engagement        # the project's field naming its deal
//       field: billing_status           # set on the customer and the deal
//       system: erp
//       invoice: { draft: invoice_draft, issued: invoiced, paid: paid, void: none }
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

class Model;

// A value a flow looks up in the entities of one type (a rate card by its
// code). A flow that finds none parks its entry waiting on
// canonical_key::LookupValue(entity, field, value); storing an entity of that
// type with that field value retries the entry.
struct FlowLookup {
  std::string entity;
  std::string field;
  std::string system;  // where such entities are kept, for messages
  bool operator==(const FlowLookup&) const = default;
};

struct MilestonePlanItem {
  std::string name;
  std::string share;  // exact decimal fraction of the deal amount
  std::string due;    // deal date field (one of deal.dates)
};

struct ClosedWonFlow {
  struct Deal {
    std::string entity, system, label;
    std::string stage, customer, name, amount, currency, service_line, contract_type, rate_card;
    std::vector<std::string> dates;  // fields a milestone may fall due on
  };
  struct Customer {
    std::string system, name;
    std::vector<std::string> required;  // fields the customer must have in `system`
  };
  struct Project {
    std::string entity, system;
    std::string code, name, deal, customer, status, open, contract_type, budget, currency, cost_center;
  };
  struct Milestone {
    std::string entity, project, name, amount, due_date;
  };
  Deal deal;
  std::string stage;  // deal.stage value that provisions the project
  Customer customer;
  FlowLookup rate_card;
  Project project;
  Milestone milestone;  // set when `milestones` plans any
  std::string project_code;
  std::map<std::string, std::string> service_lines;  // service line -> cost center
  std::vector<std::string> contract_types;
  std::map<std::string, std::vector<MilestonePlanItem>> milestones;
  // project_code with {id} replaced.
  std::string ProjectCode(const std::string& id) const;
};

struct TimePostingFlow {
  struct Entry {
    std::string entity, status, task, project, consultant, hours, work_date;  // task: "" = no task check
  };
  struct Task {
    std::string active, code;
  };
  struct Project {
    std::string status, open, code, deal;
  };
  struct Deal {
    std::string budget_hours, rate_card;
  };
  struct Consultant {
    std::string role, cost_center, email;
  };
  struct Rate {
    FlowLookup lookup;  // the rate entity and its code field
    std::string role, from, to, rate, currency;
  };
  struct Posting {
    std::string system, rate, currency, cost_center, posted_at;
  };
  Entry entry;
  std::string status;  // entry.status value that posts the entry
  Task task;
  Project project;
  Deal deal;
  Consultant consultant;
  Rate rate_card;
  Posting posting;
};

struct BillingFlow {
  struct Run {
    std::string entity, period, status;
    std::vector<std::string> starts;  // status values that close the period (no status does too)
  };
  struct Project {
    std::string currency, customer;
  };
  struct Customer {
    std::string tax_region;
  };
  struct Labor {
    std::string entity, status, approved, billable, posted, date, project, hours, rate, currency, consultant, task, who;
  };
  struct Milestones {
    std::string entity, date, project, amount, name;
  };
  struct Expenses {
    std::string entity, status, approved, billable, date, project, amount, currency, category;
  };
  struct Invoice {
    std::string entity, number, customer, project, period_start, period_end, status, draft, subtotal, tax, total,
        currency;
  };
  struct Line {
    std::string entity, invoice, line_no, kind, description, project, work, quantity, unit_price, amount, currency;
    std::string labor_kind, milestone_kind, expense_kind;  // `kinds`
  };
  Run run;
  std::string system;  // provenance of the invoices
  Project project;
  Customer customer;
  Labor labor;
  std::optional<Milestones> milestones;
  std::optional<Expenses> expenses;
  Invoice invoice;
  Line line;
  std::string invoice_number;
  std::map<std::string, std::string> tax_rates;  // tax region -> rate; "default"
  std::string TaxRate(const std::string& region) const;
  // invoice_number with {period} and {project} (the project's code) replaced.
  std::string InvoiceNumber(const std::string& period, const std::string& project_code) const;
};

struct BillingStatusFlow {
  struct Invoices {
    std::string entity, status, number, total, customer, project;
  };
  struct Payments {
    std::string entity, invoice, amount, currency;
  };
  Invoices invoices;
  Payments payments;
  std::string project_deal;  // field of the invoice's project naming its deal
  std::string field;         // billing status field of the customer and the deal
  std::string system;        // provenance of what the flow sets
  std::map<std::string, std::string> invoice;  // invoice status -> billing status
  std::string partially_paid;
  std::string paid;
};

struct Flows {
  std::optional<ClosedWonFlow> closed_won;
  std::optional<TimePostingFlow> time_posting;
  std::optional<BillingFlow> billing;
  std::optional<BillingStatusFlow> billing_status;
  // Every lookup the flows wait on, once each (filled by LoadFlows).
  std::vector<FlowLookup> lookups;
};

// Reads a flows file; every problem is reported as "file:line: reason", one a
// line (InvalidArgument). NotFound when the file cannot be read.
Result<Flows> LoadFlows(const std::string& path);

// Checks the bindings against the model: every entity, field and system a flow
// names exists, references point where the flow follows them, and created
// entities are keyed the way the flow forms their keys. InvalidArgument with
// one "flows: <flow>.<key>: reason" a line.
Status CheckFlows(const Flows& flows, const Model& model);

}  // namespace handoff::schemas
