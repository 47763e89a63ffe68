// CheckFlows: a flows file's bindings against the model it runs on. The flows
// follow references (an entry's project, the project's deal) and form keys of
// what they create, so a wrong name would make a flow read nothing or write
// an entity under a key nobody else forms: refused at start instead.
#include <string>
#include <vector>

#include "handoff/schemas/flows.h"
#include "handoff/schemas/model.h"

namespace handoff::schemas {
namespace {

class FlowChecker {
 public:
  explicit FlowChecker(const Model& model) : model_(model) {}

  const EntityDef* Entity(const std::string& where, const std::string& name) {
    if (name.empty()) return nullptr;  // the loader reported the missing key
    const EntityDef* e = model_.FindEntity(name);
    if (e == nullptr) Problem(where, "'" + name + "' is not an entity of the pack");
    return e;
  }
  const FieldDef* Field(const std::string& where, const EntityDef* e, const std::string& name) {
    if (e == nullptr || name.empty()) return nullptr;
    const FieldDef* f = e->Find(name);
    if (f == nullptr) Problem(where, "'" + name + "' is not a field of " + e->name);
    return f;
  }
  // A ref field of `e`; its entity, which must be `expect` when given.
  const EntityDef* Ref(const std::string& where, const EntityDef* e, const std::string& name,
                       const EntityDef* expect = nullptr) {
    const FieldDef* f = Field(where, e, name);
    if (f == nullptr) return nullptr;
    if (f->type != FieldType::kRef) {
      Problem(where, e->name + "." + name + " must be a ref field");
      return nullptr;
    }
    if (expect != nullptr && f->ref_entity != expect->name) {
      Problem(where, e->name + "." + name + " refers to " + f->ref_entity + ", not " + expect->name);
      return nullptr;
    }
    return model_.FindEntity(f->ref_entity);
  }
  void Fields(const std::string& where, const EntityDef* e, const std::vector<const std::string*>& names) {
    for (const std::string* n : names) Field(where, e, *n);
  }
  void System(const std::string& where, const std::string& name) {
    if (!name.empty() && !model_.Systems().count(name)) Problem(where, "'" + name + "' is not a system of the pack");
  }
  // A value the flow writes to or compares with an enum field must be one of its values.
  void Value(const std::string& where, const EntityDef* e, const std::string& field, const std::string& value) {
    const FieldDef* f = e ? e->Find(field) : nullptr;
    if (f == nullptr || f->type != FieldType::kEnum || value.empty()) return;
    for (const std::string& v : f->enum_values)
      if (v == value) return;
    Problem(where, "'" + value + "' is not a value of " + e->name + "." + field);
  }
  // The flow forms the key of an entity it creates from these fields.
  void NaturalKey(const std::string& where, const EntityDef* e, const std::vector<std::string>& fields) {
    if (e == nullptr) return;
    if (e->key_kind != EntityDef::KeyKind::kNatural || e->key_fields != fields) {
      std::string want;
      for (const std::string& f : fields) want += (want.empty() ? "" : ", ") + f;
      Problem(where, e->name + " must have the natural key [" + want + "] (the flow forms its keys so)");
    }
  }

  void ClosedWon(const ClosedWonFlow& c) {
    const std::string w = "closed_won.";
    const auto& d = c.deal;
    const EntityDef* deal = Entity(w + "deal.entity", d.entity);
    System(w + "deal.system", d.system);
    Fields(w + "deal", deal,
           {&d.stage, &d.name, &d.amount, &d.currency, &d.service_line, &d.contract_type, &d.rate_card});
    for (const std::string& date : d.dates) Field(w + "deal.dates", deal, date);
    Value(w + "stage", deal, d.stage, c.stage);
    const EntityDef* customer = Ref(w + "deal.customer", deal, d.customer);
    System(w + "customer.system", c.customer.system);
    Field(w + "customer.name", customer, c.customer.name);
    for (const std::string& f : c.customer.required) Field(w + "customer.required", customer, f);
    const EntityDef* card = Entity(w + "rate_card.entity", c.rate_card.entity);
    Field(w + "rate_card.field", card, c.rate_card.field);
    System(w + "rate_card.system", c.rate_card.system);
    const auto& p = c.project;
    const EntityDef* project = Entity(w + "project.entity", p.entity);
    System(w + "project.system", p.system);
    Fields(w + "project", project,
           {&p.code, &p.name, &p.status, &p.contract_type, &p.budget, &p.currency, &p.cost_center});
    if (deal) Ref(w + "project.deal", project, p.deal, deal);
    if (customer) Ref(w + "project.customer", project, p.customer, customer);
    Value(w + "project.open", project, p.status, p.open);
    if (!p.code.empty()) NaturalKey(w + "project.entity", project, {p.code});
    if (c.milestones.empty() || c.milestone.entity.empty()) return;
    const auto& m = c.milestone;
    const EntityDef* milestone = Entity(w + "milestone.entity", m.entity);
    if (project) Ref(w + "milestone.project", milestone, m.project, project);
    Fields(w + "milestone", milestone, {&m.name, &m.amount, &m.due_date});
    NaturalKey(w + "milestone.entity", milestone, {m.project, m.name});
  }

  void TimePosting(const TimePostingFlow& t) {
    const std::string w = "time_posting.";
    const auto& e = t.entry;
    const EntityDef* entry = Entity(w + "entry.entity", e.entity);
    Fields(w + "entry", entry, {&e.status, &e.hours, &e.work_date});
    Value(w + "status", entry, e.status, t.status);
    if (!e.task.empty()) {
      const EntityDef* task = Ref(w + "entry.task", entry, e.task);
      Fields(w + "task", task, {&t.task.active, &t.task.code});
    }
    const EntityDef* project = Ref(w + "entry.project", entry, e.project);
    Fields(w + "project", project, {&t.project.status, &t.project.code});
    Value(w + "project.open", project, t.project.status, t.project.open);
    const EntityDef* deal = Ref(w + "project.deal", project, t.project.deal);
    Fields(w + "deal", deal, {&t.deal.budget_hours, &t.deal.rate_card});
    const EntityDef* consultant = Ref(w + "entry.consultant", entry, e.consultant);
    Fields(w + "consultant", consultant, {&t.consultant.role, &t.consultant.cost_center, &t.consultant.email});
    const auto& r = t.rate_card;
    const EntityDef* card = Entity(w + "rate_card.entity", r.lookup.entity);
    Fields(w + "rate_card", card, {&r.lookup.field, &r.role, &r.from, &r.to, &r.rate, &r.currency});
    System(w + "rate_card.system", r.lookup.system);
    const auto& p = t.posting;
    System(w + "posting.system", p.system);
    Fields(w + "posting", entry, {&p.rate, &p.currency, &p.cost_center, &p.posted_at});
  }

  void Billing(const BillingFlow& b) {
    const std::string w = "billing.";
    const EntityDef* run = Entity(w + "run.entity", b.run.entity);
    Fields(w + "run", run, {&b.run.period, &b.run.status});
    System(w + "system", b.system);
    const auto& l = b.labor;
    const EntityDef* labor = Entity(w + "labor.entity", l.entity);
    Fields(w + "labor", labor, {&l.status, &l.billable, &l.posted, &l.date, &l.hours, &l.rate, &l.currency});
    Value(w + "labor.approved", labor, l.status, l.approved);
    const EntityDef* project = Ref(w + "labor.project", labor, l.project);
    const EntityDef* consultant = Ref(w + "labor.consultant", labor, l.consultant);
    Field(w + "labor.who", consultant, l.who);
    Ref(w + "labor.task", labor, l.task);
    Field(w + "project.currency", project, b.project.currency);
    const EntityDef* customer = Ref(w + "project.customer", project, b.project.customer);
    Field(w + "customer.tax_region", customer, b.customer.tax_region);
    if (b.milestones) {
      const auto& m = *b.milestones;
      const EntityDef* ms = Entity(w + "milestones.entity", m.entity);
      Fields(w + "milestones", ms, {&m.date, &m.amount, &m.name});
      if (project) Ref(w + "milestones.project", ms, m.project, project);
    }
    if (b.expenses) {
      const auto& x = *b.expenses;
      const EntityDef* ex = Entity(w + "expenses.entity", x.entity);
      Fields(w + "expenses", ex, {&x.status, &x.billable, &x.date, &x.amount, &x.currency, &x.category});
      Value(w + "expenses.approved", ex, x.status, x.approved);
      if (project) Ref(w + "expenses.project", ex, x.project, project);
    }
    const auto& i = b.invoice;
    const EntityDef* invoice = Entity(w + "invoice.entity", i.entity);
    Fields(w + "invoice", invoice,
           {&i.number, &i.period_start, &i.period_end, &i.status, &i.subtotal, &i.tax, &i.total, &i.currency});
    Value(w + "invoice.draft", invoice, i.status, i.draft);
    if (customer) Ref(w + "invoice.customer", invoice, i.customer, customer);
    if (project) Ref(w + "invoice.project", invoice, i.project, project);
    if (!i.number.empty()) NaturalKey(w + "invoice.entity", invoice, {i.number});
    const auto& n = b.line;
    const EntityDef* line = Entity(w + "line.entity", n.entity);
    Fields(w + "line", line,
           {&n.line_no, &n.kind, &n.description, &n.work, &n.quantity, &n.unit_price, &n.amount, &n.currency});
    for (const std::string* k : {&n.labor_kind, &n.milestone_kind, &n.expense_kind})
      Value(w + "line.kinds", line, n.kind, *k);
    if (invoice) Ref(w + "line.invoice", line, n.invoice, invoice);
    if (project) Ref(w + "line.project", line, n.project, project);
    NaturalKey(w + "line.entity", line, {n.invoice, n.line_no});
  }

  void BillingStatus(const BillingStatusFlow& s) {
    const std::string w = "billing_status.";
    const auto& i = s.invoices;
    const EntityDef* invoice = Entity(w + "invoices.entity", i.entity);
    Fields(w + "invoices", invoice, {&i.status, &i.number, &i.total});
    const EntityDef* customer = Ref(w + "invoices.customer", invoice, i.customer);
    const EntityDef* project = Ref(w + "invoices.project", invoice, i.project);
    const auto& p = s.payments;
    const EntityDef* payment = Entity(w + "payments.entity", p.entity);
    Fields(w + "payments", payment, {&p.amount, &p.currency});
    if (invoice) Ref(w + "payments.invoice", payment, p.invoice, invoice);
    const EntityDef* deal = Ref(w + "project_deal", project, s.project_deal);
    Field(w + "field", customer, s.field);
    Field(w + "field", deal, s.field);
    for (const auto& [status, value] : s.invoice) {
      Value(w + "invoice", invoice, i.status, status);
      Value(w + "invoice", customer, s.field, value);
    }
    System(w + "system", s.system);
  }

  Status Done() const {
    return problems_.empty() ? Status::OK() : Status::InvalidArgument(problems_.substr(0, problems_.size() - 1));
  }

 private:
  void Problem(const std::string& where, const std::string& why) { problems_ += "flows: " + where + ": " + why + "\n"; }

  const Model& model_;
  std::string problems_;
};

}  // namespace

Status CheckFlows(const Flows& flows, const Model& model) {
  FlowChecker c(model);
  if (flows.closed_won) c.ClosedWon(*flows.closed_won);
  if (flows.time_posting) c.TimePosting(*flows.time_posting);
  if (flows.billing) c.Billing(*flows.billing);
  if (flows.billing_status) c.BillingStatus(*flows.billing_status);
  return c.Done();
}

}  // namespace handoff::schemas
