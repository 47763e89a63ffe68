// Closed-won: an engagement won in CRM provisions its project in ERP and PSA
// and, for fixed-fee and milestone contracts, its billing schedule.
#include <fmt/format.h>

#include "flow_util.h"
#include "handoff/canonical/store_keys.h"
#include "handoff/engine/log.h"

namespace handoff {

using namespace flows;

Status CanonicalPass::ClosedWon(const EntityState& eng) {
  const schemas::ClosedWonFlow& cw = *flows()->closed_won;
  const std::string marker = canonical_key::Flow("project", eng.key);
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
    waits.push_back(canonical_key::LookupValue("rate_card", "code", card));
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

}  // namespace handoff
