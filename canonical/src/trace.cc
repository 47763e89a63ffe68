// handoff trace: reads the steps the router filed under an engagement and
// tells, for each derived change, whether its target applied or parked it.
#include "handoff/canonical/trace.h"

#include <map>

#include "handoff/canonical/router.h"
#include "handoff/canonical/store_keys.h"
#include "trace_record.h"
#include "pass.h"

namespace handoff {

Result<TraceReport> ReadTrace(Journal* journal, const schemas::Model& model, const conflict::OwnershipRules& rules,
                              const std::string& ref) {
  TraceReport report;
  report.key = ref;
  CanonicalRouterOptions o;
  o.journal = journal;
  o.model = &model;
  o.rules = &rules;
  CanonicalPass pass(o, 0);
  // system:object:id -> the entity holding that xref.
  size_t a = ref.find(':'), b = ref.rfind(':');
  if (a != std::string::npos && b != a && model.Systems().count(ref.substr(0, a))) {
    std::string system = ref.substr(0, a), object = ref.substr(a + 1, b - a - 1), id = ref.substr(b + 1);
    const schemas::SourceMapping* sm = model.FindSource(system, object);
    if (sm == nullptr) return Status::NotFound(system + " has no mapped table " + object);
    auto found = pass.lookup()(sm->entity, Xref{system, object, id});
    if (!found) return Status::NotFound("handoff has not seen " + ref);
    report.key = found->key;
  }
  auto st = pass.Load(report.key);
  HANDOFF_RETURN_IF_ERROR(st.status());
  if (!st->has_value()) return Status::NotFound("no canonical entity " + report.key);
  report.root = pass.RootOf(**st);
  pass.EndReads();
  std::map<uint64_t, std::string> parked;  // derived seq -> reason (open target exceptions)
  auto open = journal->Exceptions(ExceptionState::kOpen);
  HANDOFF_RETURN_IF_ERROR(open.status());
  std::map<std::string, std::map<uint64_t, std::string>> by_target;
  for (const auto& x : *open) by_target[x.target][x.seq] = x.reason;
  auto targets = journal->Targets();
  HANDOFF_RETURN_IF_ERROR(targets.status());
  std::map<std::string, uint64_t> applied(targets->begin(), targets->end());
  Status bad = Status::OK();
  const std::string prefix = canonical_key::TraceOf(report.root);
  HANDOFF_RETURN_IF_ERROR(journal->ScanMeta(prefix, [&](std::string_view k, std::string_view v) {
    const size_t first = report.lines.size();
    Status st = DecodeTraceRecord(v, canonical_key::SeqAfter(k, prefix.size()), &report.lines);
    if (!st.ok()) {
      bad = Status::Corruption("trace record " + std::string(k) + ": " + st.message());
      return false;
    }
    for (size_t i = first; i < report.lines.size(); ++i) {
      TraceLine& l = report.lines[i];
      if (l.step != "derived") continue;
      auto x = by_target[l.target].find(l.derived_seq);
      if (x != by_target[l.target].end()) l.state = "parked: " + x->second;
      else if (applied.count(l.target) && applied[l.target] >= l.derived_seq) l.state = "applied";
      else l.state = "pending";
    }
    return true;
  }));
  HANDOFF_RETURN_IF_ERROR(bad);
  return report;
}

}  // namespace handoff
