// Which flow a routed change starts (settings: schemas/flows.yaml).
#include <fmt/format.h>

#include "flow_util.h"
#include "handoff/canonical/store_keys.h"
#include "handoff/engine/log.h"

namespace handoff {

using namespace flows;

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

}  // namespace handoff
