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
  const schemas::ClosedWonFlow::Deal& deal = cw.deal;
  const schemas::ClosedWonFlow::Project& pj = cw.project;
  const std::string marker = canonical_key::Flow(pj.entity, eng.key);
  if (Meta(marker)) return Status::OK();  // provisioned already
  const std::string opp = F(eng, deal.name), what = HumanEntity(pj.entity);
  std::vector<std::string> problems, waits;
  const std::string customer_key = F(eng, deal.customer);
  auto cust = Load(customer_key);
  HANDOFF_RETURN_IF_ERROR(cust.status());
  if (!cust->has_value() || !(*cust)->live()) {
    problems.push_back("its " + HumanEntity(RefEntity(model(), eng.entity, deal.customer)) + " " + customer_key +
                       " is not known");
    waits.push_back(customer_key);
  } else {
    const EntityState& c = **cust;
    const std::string who = HumanEntity(c.entity) + " " + F(c, cw.customer.name), in = Upper(cw.customer.system);
    if (XrefId(c, cw.customer.system).empty()) {
      problems.push_back(who + " does not exist in " + in + " yet");
      waits.push_back(c.key);
    }
    for (const std::string& field : cw.customer.required)
      if (F(c, field).empty()) problems.push_back(who + " has no " + HumanEntity(field) + " in " + in);
  }
  const std::string line = F(eng, deal.service_line), type = F(eng, deal.contract_type), card = F(eng, deal.rate_card);
  if (!cw.service_lines.count(line))
    problems.push_back(HumanEntity(deal.service_line) + " '" + line + "' is not known");
  if (std::find(cw.contract_types.begin(), cw.contract_types.end(), type) == cw.contract_types.end())
    problems.push_back(HumanEntity(deal.contract_type) + " '" + type + "' is not known");
  const schemas::FlowLookup& rc = cw.rate_card;
  bool card_found = false;
  HANDOFF_RETURN_IF_ERROR(Scan(rc.entity, [&](const EntityState& r) { card_found |= F(r, rc.field) == card; }));
  if (card.empty()) problems.push_back("the " + deal.label + " names no " + HumanEntity(rc.entity));
  else if (!card_found) {
    problems.push_back(HumanEntity(rc.entity) + " '" + card + "' does not exist in " + Upper(rc.system));
    waits.push_back(canonical_key::LookupValue(rc.entity, rc.field, card));
  }
  if (!problems.empty()) {
    Park("flow",
         fmt::format("{} '{}' ({}) is closed won but no {} was created: {}", deal.label, opp, eng.key, what,
                     Join(problems)),
         eng.entity, eng.key, deal.system, waits);
    return Status::OK();
  }
  std::string id = XrefId(eng, deal.system);
  if (id.empty()) id = eng.key.substr(eng.key.rfind(':') + 1);
  const std::string code = cw.ProjectCode(id);
  const std::string project_key = pj.entity + ":" + code;  // its natural key is its code (CheckFlows)
  FieldMap project{{pj.code, code},
                   {pj.name, opp},
                   {pj.deal, eng.key},
                   {pj.customer, customer_key},
                   {pj.status, pj.open},
                   {pj.contract_type, type},
                   {pj.budget, F(eng, deal.amount)},
                   {pj.currency, F(eng, deal.currency)},
                   {pj.cost_center, cw.service_lines.at(line)}};
  auto invalid = model().Validate(pj.entity, project, lookup());
  if (!invalid.empty()) {
    std::vector<std::string> why;
    for (const auto& p : invalid) why.push_back(p.reason);
    Park("flow", fmt::format("{} '{}' ({}): the {} cannot be created: {}", deal.label, opp, eng.key, what, Join(why)),
         eng.entity, eng.key, deal.system);
    return Status::OK();
  }
  // Billing schedule: the plan of the contract type, shares of the amount;
  // the last milestone takes the rounding remainder so they add up exactly.
  // Worked out before anything is written, so a bad amount provisions nothing.
  auto plan = cw.milestones.find(type);
  std::vector<Decimal> parts;
  if (plan != cw.milestones.end() && !plan->second.empty()) {
    auto amount = Num(eng, deal.amount);
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
      Park("flow",
           fmt::format("{} '{}' ({}): the {} cannot be created: {}", deal.label, opp, eng.key, what, bad.message()),
           eng.entity, eng.key, deal.system);
      return Status::OK();
    }
  }
  HANDOFF_RETURN_IF_ERROR(Upsert(this, pj.entity, project_key, project, pj.system,
                                 fmt::format("{} {} provisioned for closed-won {} '{}'", what, code, deal.label, opp)));
  if (!parts.empty()) {
    const schemas::ClosedWonFlow::Milestone& ms = cw.milestone;
    for (size_t i = 0; i < plan->second.size(); ++i) {
      const schemas::MilestonePlanItem& m = plan->second[i];
      const Decimal& part = parts[i];
      FieldMap fields{{ms.project, project_key},
                      {ms.name, m.name},
                      {ms.amount, Money(part)},
                      {ms.due_date, F(eng, m.due)}};
      // Keyed by its project's code and its name (CheckFlows).
      HANDOFF_RETURN_IF_ERROR(Upsert(this, ms.entity, ms.entity + ":" + code + "/" + m.name, fields, pj.system,
                                     fmt::format("milestone {} of {}: {}", m.name, code, Money(part))));
    }
  }
  PutMeta(marker, project_key);
  return Status::OK();
}

}  // namespace handoff
