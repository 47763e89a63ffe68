// handoff trace: reads the steps the router filed under an engagement and
// tells, for each derived change, whether its target applied or parked it.
#include "handoff/canonical/trace.h"

#include <map>

#include "handoff/canonical/router.h"
#include "handoff/canonical/store_keys.h"
#include "record_codec.h"
#include "pass.h"

namespace handoff {

Result<TraceReport> ReadTrace(Journal* journal, const schemas::Model& model, const conflict::OwnershipRules& rules,
                              const std::string& ref) {
  TraceReport report;
  report.key = ref;
  // system:object:id -> the entity holding that xref.
  size_t a = ref.find(':'), b = ref.rfind(':');
  if (a != std::string::npos && b != a && model.Systems().count(ref.substr(0, a))) {
    std::string system = ref.substr(0, a), object = ref.substr(a + 1, b - a - 1), id = ref.substr(b + 1);
    const schemas::SourceMapping* sm = model.FindSource(system, object);
    if (sm == nullptr) return Status::NotFound(system + " has no mapped table " + object);
    auto k = journal->GetMeta(canonical_key::XrefIndex(sm->entity, Xref{system, object, id}));
    HANDOFF_RETURN_IF_ERROR(k.status());
    if (!k->has_value()) return Status::NotFound("handoff has not seen " + ref);
    report.key = **k;
  }
  CanonicalRouterOptions o;
  o.journal = journal;
  o.model = &model;
  o.rules = &rules;
  CanonicalPass pass(o, 0);
  auto st = pass.Load(report.key);
  HANDOFF_RETURN_IF_ERROR(st.status());
  if (!st->has_value()) return Status::NotFound("no canonical entity " + report.key);
  report.root = pass.RootOf(**st);
  std::map<uint64_t, std::string> parked;  // derived seq -> reason (open target exceptions)
  auto open = journal->Exceptions(ExceptionState::kOpen);
  HANDOFF_RETURN_IF_ERROR(open.status());
  std::map<std::string, std::map<uint64_t, std::string>> by_target;
  for (const auto& x : *open) by_target[x.target][x.seq] = x.reason;
  auto targets = journal->Targets();
  HANDOFF_RETURN_IF_ERROR(targets.status());
  std::map<std::string, uint64_t> applied(targets->begin(), targets->end());
  Status bad = Status::OK();
  HANDOFF_RETURN_IF_ERROR(journal->ScanMeta(canonical_key::TraceOf(report.root), [&](std::string_view, std::string_view v) {
    std::string data(v);
    if (data.rfind("TL1;", 0) != 0) return true;
    RecordReader r{data, 4};
    TraceLine l;
    l.seq = static_cast<uint64_t>(r.Num());
    l.at_us = r.Num();
    l.step = r.Str();
    l.entity = r.Str();
    l.key = r.Str();
    l.system = r.Str();
    l.detail = r.Str();
    l.derived_seq = static_cast<uint64_t>(r.Num());
    l.target = r.Str();
    l.table = r.Str();
    l.row = r.Str();
    if (!r.ok) {
      bad = Status::Corruption("trace record of " + report.root + " is malformed");
      return false;
    }
    if (l.step == "derived") {
      auto x = by_target[l.target].find(l.derived_seq);
      if (x != by_target[l.target].end()) l.state = "parked: " + x->second;
      else if (applied.count(l.target) && applied[l.target] >= l.derived_seq) l.state = "applied";
      else l.state = "pending";
    }
    report.lines.push_back(std::move(l));
    return true;
  }));
  HANDOFF_RETURN_IF_ERROR(bad);
  return report;
}

}  // namespace handoff
