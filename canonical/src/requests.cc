// Requests to the running router, stored in the journal (see requests.h).
#include "handoff/canonical/requests.h"

#include "handoff/canonical/store_keys.h"
#include "handoff/engine/clock.h"
#include "handoff/engine/pg_types.h"

namespace handoff {

Result<uint64_t> RequestBillingClose(Journal* journal, const std::string& period) {
  auto durable = journal->SourceDurable(kBillingCloseSource);
  HANDOFF_RETURN_IF_ERROR(durable.status());
  ChangeEvent ev;
  ev.source = kBillingCloseSource;
  ev.source_kind = SourceKind::kWebhook;
  ev.position = SourcePosition{durable->lsn + 1, 0};
  ev.commit_time_us = NowMicros();
  ev.op = Op::kInsert;
  ev.schema = "handoff";
  ev.table = "billing_close";
  Column c;
  c.name = "period";
  c.type_oid = pg_oid::kText;
  c.kind = Column::Kind::kText;
  c.data = period;
  ev.after.push_back(std::move(c));
  std::vector<AppendBatch> batch(1);
  batch[0].source = kBillingCloseSource;
  batch[0].upto = ev.position;
  batch[0].events.push_back(std::move(ev));
  AppendResult res;
  HANDOFF_RETURN_IF_ERROR(journal->Append(batch, &res));
  if (res.seqs.empty() || res.seqs[0].empty() || res.seqs[0][0] == 0)
    return Status::Internal("the billing close request was not journaled");
  return res.seqs[0][0];
}

Status RequestCanonicalRetry(Journal* journal, uint64_t seq, const std::string& actor) {
  return journal->PutMeta(canonical_key::Retry(seq), actor.empty() ? "retry" : actor);
}

bool CanonicalRetryPending(Journal* journal, uint64_t seq) {
  auto v = journal->GetMeta(canonical_key::Retry(seq));
  return v.ok() && v->has_value();
}

}  // namespace handoff
