// Billing status: invoice and payment status flow back to the customer and the
// engagement in CRM.
#include <fmt/format.h>

#include "flow_util.h"
#include "handoff/canonical/store_keys.h"
#include "handoff/engine/log.h"

namespace handoff {

using namespace flows;

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
    PutMeta(canonical_key::Flow("paid", invoice.key + ":" + s.key), F(s, "amount"));
    Decimal paid;
    std::map<std::string, std::string> payments;
    HANDOFF_RETURN_IF_ERROR(ScanMeta(canonical_key::Flow("paid", invoice.key + ":"),
                                     [&](const std::string& k, const std::string& v) { payments[k] = v; }));
    payments[canonical_key::Flow("paid", invoice.key + ":" + s.key)] = F(s, "amount");
    auto total = Num(invoice, "total");
    Status bad = total.status();
    const size_t prefix = canonical_key::Flow("paid", invoice.key + ":").size();
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

}  // namespace handoff
