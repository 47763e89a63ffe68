// Billing close: a period's approved billable work becomes draft invoices.
#include <fmt/format.h>

#include "flow_util.h"
#include "handoff/canonical/store_keys.h"
#include "handoff/engine/log.h"

namespace handoff {

using namespace flows;

Status CanonicalPass::BillingClose(const std::string& period) {
  if (!flows() || !flows()->billing) return Status::OK();
  const schemas::BillingFlow& b = *flows()->billing;
  const schemas::BillingFlow::Invoice& iv = b.invoice;
  const schemas::BillingFlow::Line& ln = b.line;
  std::string first, last;
  if (!PeriodDays(period, &first, &last)) {
    Park("flow", "billing close: period '" + period + "' is not YYYY-MM", iv.entity, "", b.system);
    return Status::OK();
  }
  struct Line {
    std::string sort, kind, description, work, quantity, unit_price, amount, currency, source_key;
    Decimal value;  // amount
  };
  std::map<std::string, std::vector<Line>> by_project;  // project key -> lines
  // A line whose amount is no number keeps its project from being invoiced
  // (the billing run is parked with the reasons): it must not count as 0.
  std::vector<std::string> bad;
  std::set<std::string> bad_projects;
  auto amount_of = [&](const Result<Decimal>& amount, const std::string& project_key) {
    if (!amount.ok()) {
      bad.push_back(amount.status().message());
      bad_projects.insert(project_key);
    }
    return amount.ok();
  };
  auto number_of = [&](const std::string& project_key) {
    std::string code = project_key.substr(project_key.find(':') + 1);
    return b.InvoiceNumber(period, code);
  };
  // Work already on another invoice is not billed twice.
  auto free_for = [&](const std::string& key, const std::string& project_key) {
    auto on = Meta(canonical_key::Flow("invoiced", key));
    return !on || *on == number_of(project_key);
  };
  const schemas::BillingFlow::Labor& lb = b.labor;
  HANDOFF_RETURN_IF_ERROR(Scan(lb.entity, [&](const EntityState& t) {
    if (F(t, lb.status) != lb.approved || F(t, lb.billable) != "true" || F(t, lb.posted).empty()) return;
    const std::string project = F(t, lb.project), date = F(t, lb.date);
    if (!InPeriod(date, first, last) || !free_for(t.key, project)) return;
    auto hours = Num(t, lb.hours), rate = Num(t, lb.rate);
    if (!amount_of(hours, project) || !amount_of(rate, project)) return;
    const Decimal amount = Cents(hours->Multiply(*rate));
    std::string who = F(t, lb.consultant);
    if (auto c = Load(who); c.ok() && c->has_value()) who = F(**c, lb.who);
    const std::string task = F(t, lb.task);
    by_project[project].push_back({"1" + date + t.key, ln.labor_kind,
                                   fmt::format("{} {} on {}", who, date, task.substr(task.find('/') + 1)), t.key,
                                   F(t, lb.hours), F(t, lb.rate), amount.ToString(), F(t, lb.currency), t.key, amount});
  }));
  if (b.milestones) {
    const schemas::BillingFlow::Milestones& ms = *b.milestones;
    HANDOFF_RETURN_IF_ERROR(Scan(ms.entity, [&](const EntityState& m) {
      const std::string project = F(m, ms.project), date = F(m, ms.date);
      if (!InPeriod(date, first, last) || !free_for(m.key, project)) return;
      auto amount = Num(m, ms.amount);
      if (!amount_of(amount, project)) return;
      const std::string money = Money(*amount);
      by_project[project].push_back({"0" + date + m.key, ln.milestone_kind, ln.milestone_kind + " " + F(m, ms.name), "",
                                     "1", money, money, "", m.key, Cents(*amount)});
    }));
  }
  if (b.expenses) {
    const schemas::BillingFlow::Expenses& ex = *b.expenses;
    HANDOFF_RETURN_IF_ERROR(Scan(ex.entity, [&](const EntityState& x) {
      if (F(x, ex.status) != ex.approved || F(x, ex.billable) != "true") return;
      const std::string project = F(x, ex.project), date = F(x, ex.date);
      if (!InPeriod(date, first, last) || !free_for(x.key, project)) return;
      auto amount = Num(x, ex.amount);
      if (!amount_of(amount, project)) return;
      const std::string money = Money(*amount);
      by_project[project].push_back({"2" + date + x.key, ln.expense_kind, F(x, ex.category) + " " + date, "", "1",
                                     money, money, F(x, ex.currency), x.key, Cents(*amount)});
    }));
  }
  int invoices = 0;
  for (auto& [project_key, lines] : by_project) {
    if (bad_projects.count(project_key)) continue;
    auto project = Load(project_key);
    HANDOFF_RETURN_IF_ERROR(project.status());
    if (!project->has_value()) continue;
    const EntityState& p = **project;
    // Keyed by its number (CheckFlows).
    const std::string number = number_of(project_key), invoice_key = iv.entity + ":" + number;
    auto existing = Load(invoice_key);
    HANDOFF_RETURN_IF_ERROR(existing.status());
    if (existing->has_value() && (*existing)->live() && F(**existing, iv.status) != iv.draft) continue;  // issued
    std::string currency = F(p, b.project.currency);
    std::sort(lines.begin(), lines.end(), [](const Line& x, const Line& y) { return x.sort < y.sort; });
    Decimal subtotal;
    for (const Line& l : lines) subtotal = subtotal.Add(l.value);
    const std::string customer = F(p, b.project.customer);
    std::string region;
    if (auto c = Load(customer); c.ok() && c->has_value()) region = F(**c, b.customer.tax_region);
    auto rate = Num(b.TaxRate(region), "tax rate of region '" + region + "'");
    if (!amount_of(rate, project_key)) continue;
    const Decimal tax = Cents(subtotal.Multiply(*rate));
    FieldMap inv{{iv.number, number},
                 {iv.customer, customer},
                 {iv.project, project_key},
                 {iv.period_start, first},
                 {iv.period_end, last},
                 {iv.status, iv.draft},
                 {iv.subtotal, Money(subtotal)},
                 {iv.tax, Money(tax)},
                 {iv.total, Money(subtotal.Add(tax))},
                 {iv.currency, currency}};
    const std::string invoice_word = HumanEntity(iv.entity);
    HANDOFF_RETURN_IF_ERROR(Upsert(this, iv.entity, invoice_key, inv, b.system,
                                   fmt::format("{} {} {} for {}: {} line(s), total {} {}", iv.draft, invoice_word,
                                               number, period, lines.size(), Money(subtotal.Add(tax)), currency)));
    for (size_t i = 0; i < lines.size(); ++i) {
      const Line& l = lines[i];
      FieldMap fields{{ln.invoice, invoice_key},
                      {ln.line_no, std::to_string(i + 1)},
                      {ln.kind, l.kind},
                      {ln.description, l.description},
                      {ln.project, project_key},
                      {ln.work, l.work.empty() ? std::nullopt : std::optional<std::string>(l.work)},
                      {ln.quantity, l.quantity},
                      {ln.unit_price, l.unit_price},
                      {ln.amount, l.amount},
                      {ln.currency, l.currency.empty() ? currency : l.currency}};
      // Keyed by its invoice's number and its line number (CheckFlows).
      HANDOFF_RETURN_IF_ERROR(Upsert(this, ln.entity, fmt::format("{}:{}/{}", ln.entity, number, i + 1), fields,
                                     b.system,
                                     fmt::format("line {} of {} {}: {}", i + 1, invoice_word, number, l.description)));
      PutMeta(canonical_key::Flow("invoiced", l.source_key), number);
    }
    ++invoices;
  }
  if (!bad.empty()) {
    std::string projects;
    for (const std::string& p : bad_projects) projects += (projects.empty() ? "" : ", ") + p;
    Park("flow",
         fmt::format("billing close {}: no {} {} for {}: {}", period, iv.draft, HumanEntity(iv.entity), projects,
                     Join(bad)),
         iv.entity, "", b.system);
  }
  LogInfo("canonical", "billing close {}: {} {} {}(s)", period, invoices, iv.draft, HumanEntity(iv.entity));
  return Status::OK();
}

}  // namespace handoff
