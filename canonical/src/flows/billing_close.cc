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
  std::string first, last;
  if (!PeriodDays(period, &first, &last)) {
    Park("flow", "billing close: period '" + period + "' is not YYYY-MM", "invoice", "", "erp");
    return Status::OK();
  }
  struct Line {
    std::string sort, kind, description, time_entry, quantity, unit_price, amount, currency, source_key;
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
    return Replace(Replace(b.invoice_number, "{period}", period), "{project}", code);
  };
  // Work already on another invoice is not billed twice.
  auto free_for = [&](const std::string& key, const std::string& project_key) {
    auto on = Meta(canonical_key::Flow("invoiced", key));
    return !on || *on == number_of(project_key);
  };
  HANDOFF_RETURN_IF_ERROR(Scan("time_entry", [&](const EntityState& t) {
    if (F(t, "status") != "approved" || F(t, "billable") != "true" || F(t, "posted_at").empty()) return;
    if (!InPeriod(F(t, "work_date"), first, last) || !free_for(t.key, F(t, "project"))) return;
    auto hours = Num(t, "hours"), rate = Num(t, "rate");
    if (!amount_of(hours, F(t, "project")) || !amount_of(rate, F(t, "project"))) return;
    const Decimal amount = Cents(hours->Multiply(*rate));
    std::string who = F(t, "consultant");
    if (auto c = Load(who); c.ok() && c->has_value()) who = F(**c, "email");
    by_project[F(t, "project")].push_back({"1" + F(t, "work_date") + t.key, "labor",
                                           fmt::format("{} {} on {}", who, F(t, "work_date"),
                                                       F(t, "task").substr(F(t, "task").find('/') + 1)),
                                           t.key, F(t, "hours"), F(t, "rate"), amount.ToString(), F(t, "currency"), t.key,
                                           amount});
  }));
  HANDOFF_RETURN_IF_ERROR(Scan("billing_milestone", [&](const EntityState& m) {
    if (!InPeriod(F(m, "due_date"), first, last) || !free_for(m.key, F(m, "project"))) return;
    auto amount = Num(m, "amount");
    if (!amount_of(amount, F(m, "project"))) return;
    const std::string money = Money(*amount);
    by_project[F(m, "project")].push_back({"0" + F(m, "due_date") + m.key, "milestone", "milestone " + F(m, "milestone"),
                                           "", "1", money, money, "", m.key, Cents(*amount)});
  }));
  HANDOFF_RETURN_IF_ERROR(Scan("expense", [&](const EntityState& x) {
    if (F(x, "status") != "approved" || F(x, "billable") != "true") return;
    if (!InPeriod(F(x, "date"), first, last) || !free_for(x.key, F(x, "project"))) return;
    auto amount = Num(x, "amount");
    if (!amount_of(amount, F(x, "project"))) return;
    const std::string money = Money(*amount);
    by_project[F(x, "project")].push_back({"2" + F(x, "date") + x.key, "expense", F(x, "category") + " " + F(x, "date"),
                                           "", "1", money, money, F(x, "currency"), x.key, Cents(*amount)});
  }));
  int invoices = 0;
  for (auto& [project_key, lines] : by_project) {
    if (bad_projects.count(project_key)) continue;
    auto project = Load(project_key);
    HANDOFF_RETURN_IF_ERROR(project.status());
    if (!project->has_value()) continue;
    const EntityState& p = **project;
    const std::string number = number_of(project_key), invoice_key = "invoice:" + number;
    auto existing = Load(invoice_key);
    HANDOFF_RETURN_IF_ERROR(existing.status());
    if (existing->has_value() && (*existing)->live() && F(**existing, "status") != "draft") continue;  // issued
    std::string currency = F(p, "currency");
    std::sort(lines.begin(), lines.end(), [](const Line& a, const Line& b) { return a.sort < b.sort; });
    Decimal subtotal;
    for (const Line& l : lines) subtotal = subtotal.Add(l.value);
    std::string region;
    if (auto c = Load(F(p, "customer")); c.ok() && c->has_value()) region = F(**c, "tax_region");
    auto rate = Num(b.TaxRate(region), "tax rate of region '" + region + "'");
    if (!amount_of(rate, project_key)) continue;
    const Decimal tax = Cents(subtotal.Multiply(*rate));
    FieldMap inv{{"number", number},
                 {"customer", F(p, "customer")},
                 {"project", project_key},
                 {"period_start", first},
                 {"period_end", last},
                 {"status", "draft"},
                 {"subtotal", Money(subtotal)},
                 {"tax", Money(tax)},
                 {"total", Money(subtotal.Add(tax))},
                 {"currency", currency}};
    HANDOFF_RETURN_IF_ERROR(Upsert(this, "invoice", invoice_key, inv, "erp",
                                   fmt::format("draft invoice {} for {}: {} line(s), total {} {}", number, period,
                                               lines.size(), Money(subtotal.Add(tax)), currency)));
    for (size_t i = 0; i < lines.size(); ++i) {
      const Line& l = lines[i];
      FieldMap fields{{"invoice", invoice_key},
                      {"line_no", std::to_string(i + 1)},
                      {"kind", l.kind},
                      {"description", l.description},
                      {"project", project_key},
                      {"time_entry", l.time_entry.empty() ? std::nullopt : std::optional<std::string>(l.time_entry)},
                      {"quantity", l.quantity},
                      {"unit_price", l.unit_price},
                      {"amount", l.amount},
                      {"currency", l.currency.empty() ? currency : l.currency}};
      HANDOFF_RETURN_IF_ERROR(Upsert(this, "invoice_line", fmt::format("invoice_line:{}/{}", number, i + 1), fields,
                                     "erp", fmt::format("line {} of invoice {}: {}", i + 1, number, l.description)));
      PutMeta(canonical_key::Flow("invoiced", l.source_key), number);
    }
    ++invoices;
  }
  if (!bad.empty()) {
    std::string projects;
    for (const std::string& p : bad_projects) projects += (projects.empty() ? "" : ", ") + p;
    Park("flow", fmt::format("billing close {}: no draft invoice for {}: {}", period, projects, Join(bad)), "invoice",
         "", "erp");
  }
  LogInfo("canonical", "billing close {}: {} draft invoice(s)", period, invoices);
  return Status::OK();
}

}  // namespace handoff
