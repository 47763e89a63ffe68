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
  const schemas::BillingStatusFlow::Invoices& iv = bs.invoices;
  const schemas::BillingStatusFlow::Payments& pm = bs.payments;
  const std::string invoice_word = HumanEntity(iv.entity);
  EntityState invoice;
  std::string value, why;
  if (s.entity == iv.entity) {
    auto it = bs.invoice.find(F(s, iv.status));
    if (it == bs.invoice.end()) return Status::OK();
    invoice = s;
    value = it->second;
    why = fmt::format("{} {} is {}", invoice_word, F(s, iv.number), F(s, iv.status));
  } else {
    auto inv = Load(F(s, pm.invoice));
    HANDOFF_RETURN_IF_ERROR(inv.status());
    if (!inv->has_value()) return Status::OK();
    invoice = **inv;
    PutMeta(canonical_key::Flow("paid", invoice.key + ":" + s.key), F(s, pm.amount));
    Decimal paid;
    std::map<std::string, std::string> payments;
    HANDOFF_RETURN_IF_ERROR(ScanMeta(canonical_key::Flow("paid", invoice.key + ":"),
                                     [&](const std::string& k, const std::string& v) { payments[k] = v; }));
    payments[canonical_key::Flow("paid", invoice.key + ":" + s.key)] = F(s, pm.amount);
    auto total = Num(invoice, iv.total);
    Status bad = total.status();
    const size_t prefix = canonical_key::Flow("paid", invoice.key + ":").size();
    for (auto it = payments.begin(); bad.ok() && it != payments.end(); ++it) {
      auto amount = Num(it->second, pm.amount + " of " + it->first.substr(prefix));
      if (amount.ok()) paid = paid.Add(*amount);
      else bad = amount.status();
    }
    if (!bad.ok()) {
      Park("flow",
           fmt::format("the {} of {} {} cannot be worked out: {}", HumanEntity(bs.field), invoice_word,
                       F(invoice, iv.number), bad.message()),
           s.entity, s.key, bs.system);
      return Status::OK();
    }
    bool full = paid.Compare(*total) >= 0;
    value = full ? bs.paid : bs.partially_paid;
    why = fmt::format("{}s of {} {} against {} {} (total {})", HumanEntity(pm.entity), paid.ToString(),
                      F(s, pm.currency), invoice_word, F(invoice, iv.number), F(invoice, iv.total));
  }
  if (!F(invoice, iv.customer).empty())
    HANDOFF_RETURN_IF_ERROR(SetFields(F(invoice, iv.customer), {{bs.field, value}}, bs.system, why));
  auto project = Load(F(invoice, iv.project));
  HANDOFF_RETURN_IF_ERROR(project.status());
  if (project->has_value() && !F(**project, bs.project_deal).empty())
    HANDOFF_RETURN_IF_ERROR(SetFields(F(**project, bs.project_deal), {{bs.field, value}}, bs.system, why));
  return Status::OK();
}

}  // namespace handoff
