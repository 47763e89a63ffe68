// handoff trace: reads the steps the router filed under an engagement and
// tells, for each derived change, whether its target applied or parked it.
#include "handoff/canonical/trace.h"

#include <algorithm>
#include <charconv>
#include <map>
#include <optional>

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
  // The root's state holds its routine steps not filed as a record yet.
  std::optional<conflict::EntityState> root_state;
  if (report.root == report.key) {
    root_state = **st;
  } else {
    auto r = pass.Load(report.root);
    HANDOFF_RETURN_IF_ERROR(r.status());
    root_state = std::move(*r);
  }
  pass.EndReads();
  std::map<uint64_t, std::string> parked;  // derived seq -> reason (open target exceptions)
  auto open = journal->Exceptions(ExceptionState::kOpen);
  HANDOFF_RETURN_IF_ERROR(open.status());
  std::map<std::string, std::map<uint64_t, std::string>> by_target;
  for (const auto& x : *open) by_target[x.target][x.seq] = x.reason;
  auto targets = journal->Targets();
  HANDOFF_RETURN_IF_ERROR(targets.status());
  std::map<std::string, uint64_t> applied(targets->begin(), targets->end());
  // Routine steps are kept in the root's state until there are enough of them
  // to file as one record; the pass records say where their derived changes went.
  std::map<uint64_t, std::optional<TracePassRecord>> passes;
  TracePassLookup pass_of = [&](uint64_t id) -> Result<const TracePassRecord*> {
    auto it = passes.find(id);
    if (it == passes.end()) {
      auto v = journal->GetMeta(canonical_key::TracePass(id));
      if (!v.ok()) return v.status();
      std::optional<TracePassRecord> rec;
      if (v->has_value()) {
        rec.emplace();
        Status st = DecodeTracePass(**v, &*rec);
        if (!st.ok()) return Status::Corruption("trace pass record " + std::to_string(id) + ": " + st.message());
      }
      it = passes.emplace(id, std::move(rec)).first;
    }
    return it->second ? &*it->second : nullptr;
  };
  // Lines in (seq, n) order: records are scanned in key order, the tail comes last.
  std::vector<std::pair<uint64_t, int>> order;
  auto added = [&](size_t first, int n) {
    for (size_t i = first; i < report.lines.size(); ++i) order.emplace_back(report.lines[i].seq, n);
  };
  Status bad = Status::OK();
  const std::string prefix = canonical_key::TraceOf(report.root);
  // Filed routine steps are decoded after the scan: they read pass records.
  std::vector<std::pair<std::string, std::string>> folded;
  HANDOFF_RETURN_IF_ERROR(journal->ScanMeta(prefix, [&](std::string_view k, std::string_view v) {
    if (IsFoldedRecord(v)) {
      folded.emplace_back(std::string(k), std::string(v));
      return true;
    }
    const size_t first = report.lines.size();
    Status st = DecodeTraceRecord(v, canonical_key::SeqAfter(k, prefix.size()), &report.lines);
    if (!st.ok()) {
      bad = Status::Corruption("trace record " + std::string(k) + ": " + st.message());
      return false;
    }
    int n = 0;
    if (k.size() >= prefix.size() + 26) std::from_chars(k.data() + prefix.size() + 21, k.data() + k.size(), n);
    added(first, n);
    return true;
  }));
  HANDOFF_RETURN_IF_ERROR(bad);
  // A root swept as a tombstone leaves its filed records: its key names it.
  const std::string root_entity = root_state ? root_state->entity : report.root.substr(0, report.root.find(':'));
  for (const auto& [k, v] : folded) {
    const size_t first = report.lines.size();
    Status st = DecodeFolded(v, root_entity, report.root, pass_of, &report.lines);
    if (!st.ok()) return Status::Corruption("trace record " + k + ": " + st.message());
    added(first, 0);
  }
  if (root_state && !root_state->trace_tail.empty()) {
    const size_t first = report.lines.size();
    Status st = DecodeFolded(root_state->trace_tail, root_state->entity, root_state->key, pass_of, &report.lines);
    if (!st.ok()) return Status::Corruption("routine trace of " + root_state->key + ": " + st.message());
    added(first, 0);
  }
  std::vector<size_t> idx(report.lines.size());
  for (size_t i = 0; i < idx.size(); ++i) idx[i] = i;
  std::stable_sort(idx.begin(), idx.end(), [&](size_t a, size_t b) { return order[a] < order[b]; });
  std::vector<TraceLine> sorted;
  sorted.reserve(idx.size());
  for (size_t i : idx) sorted.push_back(std::move(report.lines[i]));
  report.lines = std::move(sorted);
  for (TraceLine& l : report.lines) {
    if (l.step != "derived") continue;
    auto x = by_target[l.target].find(l.derived_seq);
    if (x != by_target[l.target].end()) l.state = "parked: " + x->second;
    else if (applied.count(l.target) && applied[l.target] >= l.derived_seq) l.state = "applied";
    else l.state = "pending";
  }
  HANDOFF_RETURN_IF_ERROR(bad);
  return report;
}

}  // namespace handoff
