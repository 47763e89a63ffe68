// The business flows of docs/DOMAIN.md §4 on top of the canonical router: an
// engagement closed-won provisions its project (ERP and PSA) and billing
// schedule; an approved time entry is checked and posted to the ERP labor
// ledger at its effective-dated rate; billing close turns a period's approved
// billable work into draft invoices; invoice and payment status flow back to
// the customer and the engagement. Their settings are schemas/flows.yaml.
// Everything a flow writes is staged in the pass, so it lands in the same
// journal transaction as the change that triggered it.
#include <fmt/format.h>

#include <algorithm>
#include <ctime>

#include "canonical_pass.h"
#include "handoff/engine/civil_date.h"
#include "handoff/engine/decimal.h"
#include "handoff/engine/log.h"

namespace handoff {
namespace {

using conflict::EntityState;

std::string F(const EntityState& s, const std::string& field) {
  auto it = s.fields.find(field);
  return it != s.fields.end() && it->second.value ? *it->second.value : std::string();
}

// The exact value of `text`; "" (not set) is 0. Text that is no number is an
// error naming `what`, which the flow parks: a wrong amount never counts as 0.
Result<Decimal> Num(const std::string& text, const std::string& what) {
  if (text.empty()) return Decimal();
  auto d = Decimal::Parse(text);
  if (!d.ok()) return Status::InvalidArgument(what + ": " + d.status().message());
  return d;
}

// Field `field` of `s` as Num ("hours of time entry time_entry:psa:7").
Result<Decimal> Num(const EntityState& s, const std::string& field) {
  return Num(F(s, field), field + " of " + HumanEntity(s.entity) + " " + s.key);
}

// Rounded to cents, half away from zero.
Decimal Cents(const Decimal& d) {
  auto r = d.Rescale(2, Decimal::Rounding::kHalfAwayFromZero);
  return r.ok() ? *r : d;
}

std::string Money(const Decimal& d) { return Cents(d).ToString(); }

std::string Join(const std::vector<std::string>& parts) {
  std::string out;
  for (const auto& p : parts) out += (out.empty() ? "" : "; ") + p;
  return out;
}

std::string Replace(std::string s, const std::string& from, const std::string& to) {
  for (size_t at = s.find(from); at != std::string::npos; at = s.find(from, at + to.size())) s.replace(at, from.size(), to);
  return s;
}

// "2026-10" -> first and last day; false when malformed.
bool PeriodDays(const std::string& period, std::string* first, std::string* last) {
  int y = 0, m = 0;
  char tail = 0;
  if (period.size() != 7 || std::sscanf(period.c_str(), "%4d-%2d%c", &y, &m, &tail) != 2 || m < 1 || m > 12 ||
      y < 1900)
    return false;
  const unsigned days = DaysInMonth(y, static_cast<unsigned>(m));
  *first = fmt::format("{:04}-{:02}-01", y, m);
  *last = fmt::format("{:04}-{:02}-{:02}", y, m, days);
  return true;
}

bool InPeriod(const std::string& date, const std::string& first, const std::string& last) {
  return !date.empty() && date >= first && date <= last;  // ISO dates compare as text
}

std::string XrefId(const EntityState& s, const std::string& system) {
  for (const Xref& x : s.xrefs)
    if (x.system == system) return x.id;
  return {};
}

// Canonical instant text of a UTC microsecond time.
std::string InstantText(int64_t us) {
  std::time_t secs = static_cast<std::time_t>(us / 1000000);
  std::tm tm{};
  gmtime_r(&secs, &tm);
  return fmt::format("{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:06}Z", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
                     tm.tm_hour, tm.tm_min, tm.tm_sec, us % 1000000);
}

}  // namespace

Status CanonicalPass::FlowsBeforeEmit(const EntityChange& change, conflict::Decision* d,
                                      std::set<std::string>* suppress) {
  if (flows() == nullptr) return Status::OK();
  if (change.entity == "time_entry" && flows()->time_posting && change.op != Op::kDelete)
    return PostTime(change, d, suppress);
  return Status::OK();
}

Status CanonicalPass::FlowsAfterStore(const EntityChange& change, const conflict::Decision& d) {
  if (flows() == nullptr || !d.state.live()) return Status::OK();
  if (change.entity == "engagement" && flows()->closed_won && F(d.state, "stage") == flows()->closed_won->stage)
    return ClosedWon(d.state);
  if ((change.entity == "invoice" || change.entity == "payment") && flows()->billing_status)
    return BillingStatus(d.state);
  if (change.entity == "billing_run" && flows()->billing) {
    std::string status = F(d.state, "status");
    if (status.empty() || status == "requested") return BillingClose(F(d.state, "period"));
  }
  return Status::OK();
}

// Creates or completes entity `key` with `fields` (provenance `system`) and
// writes what changed to every system the entity is mapped to. Nothing is
// written when the entity already holds these values (idempotent).
static Status Upsert(CanonicalPass* pass, const std::string& entity, const std::string& key, const FieldMap& fields,
                     const std::string& system, const std::string& why, bool* changed_any = nullptr) {
  auto loaded = pass->Load(key);
  HANDOFF_RETURN_IF_ERROR(loaded.status());
  EntityState s;
  if (loaded->has_value()) {
    s = std::move(**loaded);
  } else {
    s.entity = entity;
    s.key = key;
  }
  bool created = !s.live();
  s.exists = true;
  s.deleted = false;
  FieldMap changed;
  for (const auto& [f, v] : fields) {
    auto it = s.fields.find(f);
    if (!created && it != s.fields.end() && it->second.value == v) continue;
    conflict::FieldState fs;
    fs.value = v;
    fs.provenance = conflict::FieldProvenance{system, pass->entry().event.commit_time_us, pass->entry().seq};
    s.fields[f] = fs;
    changed[f] = v;
  }
  if (changed_any) *changed_any = !changed.empty();
  if (changed.empty()) return Status::OK();
  pass->Store(s);
  pass->Trace("flow", s, system, why);
  for (const std::string& target : pass->model().TargetSystems(entity)) pass->Emit(s, changed, target, Op::kUpdate, system);
  return Status::OK();
}

Status CanonicalPass::ClosedWon(const EntityState& eng) {
  const schemas::ClosedWonFlow& cw = *flows()->closed_won;
  const std::string marker = "flow:project:" + eng.key;
  if (Meta(marker)) return Status::OK();  // provisioned already
  const std::string opp = F(eng, "name");
  std::vector<std::string> problems, waits;
  auto cust = Load(F(eng, "customer"));
  HANDOFF_RETURN_IF_ERROR(cust.status());
  if (!cust->has_value() || !(*cust)->live()) {
    problems.push_back("its customer " + F(eng, "customer") + " is not known");
    waits.push_back(F(eng, "customer"));
  } else {
    const EntityState& c = **cust;
    std::string cname = F(c, "name");
    if (XrefId(c, "erp").empty()) {
      problems.push_back("customer " + cname + " does not exist in ERP yet");
      waits.push_back(c.key);
    }
    if (F(c, "legal_entity").empty()) problems.push_back("customer " + cname + " has no legal entity in ERP");
    if (F(c, "tax_region").empty()) problems.push_back("customer " + cname + " has no tax region in ERP");
  }
  const std::string line = F(eng, "service_line"), type = F(eng, "contract_type"), card = F(eng, "rate_card");
  if (!cw.service_lines.count(line)) problems.push_back("service line '" + line + "' is not known");
  if (std::find(cw.contract_types.begin(), cw.contract_types.end(), type) == cw.contract_types.end())
    problems.push_back("contract type '" + type + "' is not known");
  bool card_found = false;
  HANDOFF_RETURN_IF_ERROR(Scan("rate_card", [&](const EntityState& r) { card_found |= F(r, "code") == card; }));
  if (card.empty()) problems.push_back("the opportunity names no rate card");
  else if (!card_found) {
    problems.push_back("rate card '" + card + "' does not exist in ERP");
    waits.push_back("rate_card_code:" + card);
  }
  if (!problems.empty()) {
    Park("flow",
         fmt::format("opportunity '{}' ({}) is closed won but no project was created: {}", opp, eng.key, Join(problems)),
         eng.entity, eng.key, "crm", waits);
    return Status::OK();
  }
  std::string id = XrefId(eng, "crm");
  if (id.empty()) id = eng.key.substr(eng.key.rfind(':') + 1);
  const std::string code = Replace(cw.project_code, "{id}", id);
  const std::string project_key = "project:" + code;
  FieldMap project{{"code", code},
                   {"name", opp},
                   {"engagement", eng.key},
                   {"customer", F(eng, "customer")},
                   {"status", "open"},
                   {"contract_type", type},
                   {"budget_amount", F(eng, "amount")},
                   {"currency", F(eng, "currency")},
                   {"cost_center", cw.service_lines.at(line)}};
  auto invalid = model().Validate("project", project, lookup());
  if (!invalid.empty()) {
    std::vector<std::string> why;
    for (const auto& p : invalid) why.push_back(p.reason);
    Park("flow", fmt::format("opportunity '{}' ({}): the project cannot be created: {}", opp, eng.key, Join(why)),
         eng.entity, eng.key, "crm");
    return Status::OK();
  }
  // Billing schedule: the plan of the contract type, shares of the amount;
  // the last milestone takes the rounding remainder so they add up exactly.
  // Worked out before anything is written, so a bad amount provisions nothing.
  auto plan = cw.milestones.find(type);
  std::vector<Decimal> parts;
  if (plan != cw.milestones.end() && !plan->second.empty()) {
    auto amount = Num(eng, "amount");
    Status bad = amount.status();
    Decimal left = amount.ok() ? *amount : Decimal();
    for (size_t i = 0; bad.ok() && i < plan->second.size(); ++i) {
      auto share = Num(plan->second[i].share, "share of milestone " + plan->second[i].name);
      if (!share.ok()) {
        bad = share.status();
        break;
      }
      parts.push_back(i + 1 == plan->second.size() ? left : Cents(amount->Multiply(*share)));
      left = left.Subtract(parts.back());
    }
    if (!bad.ok()) {
      Park("flow", fmt::format("opportunity '{}' ({}): the project cannot be created: {}", opp, eng.key, bad.message()),
           eng.entity, eng.key, "crm");
      return Status::OK();
    }
  }
  HANDOFF_RETURN_IF_ERROR(Upsert(this, "project", project_key, project, "erp",
                                 fmt::format("project {} provisioned for closed-won opportunity '{}'", code, opp)));
  if (!parts.empty()) {
    for (size_t i = 0; i < plan->second.size(); ++i) {
      const schemas::MilestonePlanItem& m = plan->second[i];
      const Decimal& part = parts[i];
      FieldMap fields{{"project", project_key},
                      {"milestone", m.name},
                      {"amount", Money(part)},
                      {"due_date", F(eng, m.due)}};
      HANDOFF_RETURN_IF_ERROR(Upsert(this, "billing_milestone", "billing_milestone:" + code + "/" + m.name, fields,
                                     "erp", fmt::format("milestone {} of {}: {}", m.name, code, Money(part))));
    }
  }
  PutMeta(marker, project_key);
  return Status::OK();
}

Status CanonicalPass::PostTime(const EntityChange& change, conflict::Decision* d, std::set<std::string>* suppress) {
  EntityState& s = d->state;
  if (!s.live() || F(s, "status") != flows()->time_posting->status || !F(s, "posted_at").empty()) return Status::OK();
  std::vector<std::string> problems, waits;
  auto task = Load(F(s, "task"));
  HANDOFF_RETURN_IF_ERROR(task.status());
  if (task->has_value() && F(**task, "active") != "true")
    problems.push_back("task " + F(**task, "code") + " is inactive");
  auto project = Load(F(s, "project"));
  HANDOFF_RETURN_IF_ERROR(project.status());
  std::optional<EntityState> eng;
  std::string code = F(s, "project");
  if (!project->has_value() || !(*project)->live()) {
    problems.push_back("project " + code + " is not known");
    waits.push_back(F(s, "project"));
  } else {
    code = F(**project, "code");
    if (F(**project, "status") != "open") problems.push_back("project " + code + " is " + F(**project, "status"));
    auto e = Load(F(**project, "engagement"));
    HANDOFF_RETURN_IF_ERROR(e.status());
    if (e->has_value()) eng = **e;
  }
  auto consultant = Load(F(s, "consultant"));
  HANDOFF_RETURN_IF_ERROR(consultant.status());
  std::string role, cost_center, email;
  if (consultant->has_value()) {
    role = F(**consultant, "role");
    cost_center = F(**consultant, "cost_center");
    email = F(**consultant, "email");
  }
  const auto hours = Num(s, "hours");
  const std::string hours_key = "flow:hours:" + F(s, "project");
  const auto used = Num(Meta(hours_key).value_or("0"), "hours approved so far on project " + code);
  const std::string hours_text = hours.ok() ? hours->ToString() : F(s, "hours");
  for (const Status& st : {hours.status(), used.status()})
    if (!st.ok()) problems.push_back(st.message());
  if (eng && !F(*eng, "budget_hours").empty() && hours.ok() && used.ok()) {
    auto budget = Num(*eng, "budget_hours");
    if (!budget.ok())
      problems.push_back(budget.status().message());
    else if (used->Add(*hours).Compare(*budget) > 0)
      problems.push_back(fmt::format("project {} would exceed its budget of {} hours ({} approved so far + {})", code,
                                     budget->ToString(), used->ToString(), hours_text));
  }
  // Effective-dated rate: the engagement's rate card, the consultant's role, the work date.
  const std::string card = eng ? F(*eng, "rate_card") : "", day = F(s, "work_date");
  std::optional<EntityState> rate;
  HANDOFF_RETURN_IF_ERROR(Scan("rate_card", [&](const EntityState& r) {
    if (F(r, "code") != card || F(r, "role") != role) return;
    if (F(r, "effective_from") > day || (!F(r, "effective_to").empty() && F(r, "effective_to") < day)) return;
    if (!rate || F(r, "effective_from") > F(*rate, "effective_from")) rate = r;
  }));
  if (!rate) {
    if (!card.empty()) waits.push_back("rate_card_code:" + card);
    problems.push_back(card.empty() ? "project " + code + " has no rate card"
                                    : fmt::format("rate card '{}' has no rate for role '{}' on {}", card,
                                                  role.empty() ? "(none)" : role, day));
  }
  if (!problems.empty()) {
    suppress->insert("erp");
    Park("flow",
         fmt::format("approved time entry {} ({}, {}, {} h on {}) was not posted: {}", s.key, email, day,
                     hours_text, code, Join(problems)),
         s.entity, s.key, change.system, waits);
    return Status::OK();
  }
  auto posted = model().ToCanonical("time_entry", "posted_at", InstantText(change.commit_time_us ? change.commit_time_us
                                                                                                 : entry().event.commit_time_us)
                                                                  .substr(0, 26) + "+00");
  FieldMap posting{{"rate", F(*rate, "rate")},
                   {"currency", F(*rate, "currency")},
                   {"cost_center", cost_center},
                   {"posted_at", posted.ok() ? *posted : InstantText(change.commit_time_us)}};
  for (const auto& [f, v] : posting) {
    conflict::FieldState fs;
    fs.value = v;
    fs.provenance = conflict::FieldProvenance{"erp", change.commit_time_us, change.seq};
    s.fields[f] = fs;
    d->propagate[f] = v;
  }
  d->propagate["status"] = F(s, "status");
  if (d->action == conflict::EntityAction::kNone) d->action = conflict::EntityAction::kUpsert;
  PutMeta(hours_key, used->Add(*hours).ToString());
  Trace("flow", s, "erp",
        fmt::format("posted {} h of {} on {} at {} {} (rate card {}, role {}, cost center {})", hours_text, email,
                    day, F(*rate, "rate"), F(*rate, "currency"), card, role, cost_center));
  return Status::OK();
}

Status CanonicalPass::BillingStatus(const EntityState& s) {
  const schemas::BillingStatusFlow& bs = *flows()->billing_status;
  EntityState invoice;
  std::string value, why;
  if (s.entity == "invoice") {
    auto it = bs.invoice.find(F(s, "status"));
    if (it == bs.invoice.end()) return Status::OK();
    invoice = s;
    value = it->second;
    why = fmt::format("invoice {} is {}", F(s, "number"), F(s, "status"));
  } else {
    auto inv = Load(F(s, "invoice"));
    HANDOFF_RETURN_IF_ERROR(inv.status());
    if (!inv->has_value()) return Status::OK();
    invoice = **inv;
    PutMeta("flow:paid:" + invoice.key + ":" + s.key, F(s, "amount"));
    Decimal paid;
    std::map<std::string, std::string> payments;
    HANDOFF_RETURN_IF_ERROR(opts_.journal->ScanMeta("flow:paid:" + invoice.key + ":", [&](std::string_view k, std::string_view v) {
      payments[std::string(k)] = std::string(v);
      return true;
    }));
    payments["flow:paid:" + invoice.key + ":" + s.key] = F(s, "amount");
    auto total = Num(invoice, "total");
    Status bad = total.status();
    const size_t prefix = ("flow:paid:" + invoice.key + ":").size();
    for (auto it = payments.begin(); bad.ok() && it != payments.end(); ++it) {
      auto amount = Num(it->second, "amount of " + it->first.substr(prefix));
      if (amount.ok()) paid = paid.Add(*amount);
      else bad = amount.status();
    }
    if (!bad.ok()) {
      Park("flow",
           fmt::format("the billing status of invoice {} cannot be worked out: {}", F(invoice, "number"),
                       bad.message()),
           s.entity, s.key, "erp");
      return Status::OK();
    }
    bool full = paid.Compare(*total) >= 0;
    value = full ? bs.paid : bs.partially_paid;
    why = fmt::format("payments of {} {} against invoice {} (total {})", paid.ToString(), F(s, "currency"),
                      F(invoice, "number"), F(invoice, "total"));
  }
  if (!F(invoice, "customer").empty())
    HANDOFF_RETURN_IF_ERROR(SetFields(F(invoice, "customer"), {{"billing_status", value}}, "erp", why));
  auto project = Load(F(invoice, "project"));
  HANDOFF_RETURN_IF_ERROR(project.status());
  if (project->has_value() && !F(**project, "engagement").empty())
    HANDOFF_RETURN_IF_ERROR(SetFields(F(**project, "engagement"), {{"billing_status", value}}, "erp", why));
  return Status::OK();
}

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
    auto on = Meta("flow:invoiced:" + key);
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
      PutMeta("flow:invoiced:" + l.source_key, number);
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
