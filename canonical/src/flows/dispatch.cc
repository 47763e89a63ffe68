// Which flow a routed change starts: the trigger entity and values each flow
// is bound to in the flows file (schemas/flows.yaml for the default pack).
#include <fmt/format.h>

#include <algorithm>

#include "flow_util.h"
#include "handoff/canonical/store_keys.h"
#include "handoff/engine/log.h"

namespace handoff {

using namespace flows;

Status CanonicalPass::FlowsBeforeEmit(const EntityChange& change, conflict::Decision* d,
                                      std::set<std::string>* suppress) {
  if (flows() == nullptr) return Status::OK();
  const auto& tp = flows()->time_posting;
  if (tp && change.entity == tp->entry.entity && change.op != Op::kDelete) return PostTime(change, d, suppress);
  return Status::OK();
}

Status CanonicalPass::FlowsAfterStore(const EntityChange& change, const conflict::EntityState& state) {
  if (flows() == nullptr || !state.live()) return Status::OK();
  const auto& cw = flows()->closed_won;
  if (cw && change.entity == cw->deal.entity && F(state, cw->deal.stage) == cw->stage) return ClosedWon(state);
  const auto& bs = flows()->billing_status;
  if (bs && (change.entity == bs->invoices.entity || change.entity == bs->payments.entity))
    return BillingStatus(state);
  const auto& b = flows()->billing;
  if (b && change.entity == b->run.entity) {
    const std::string status = F(state, b->run.status);
    if (status.empty() || std::find(b->run.starts.begin(), b->run.starts.end(), status) != b->run.starts.end())
      return BillingClose(F(state, b->run.period));
  }
  return Status::OK();
}

}  // namespace handoff
