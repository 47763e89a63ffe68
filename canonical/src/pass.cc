// CanonicalPass: routing of one journal entry (map, validate, decide, store,
// emit) and the staging every step of a pass shares. See pass.h.
#include "pass.h"

#include <fmt/format.h>

#include <algorithm>

#include "entity_json.h"
#include "record_codec.h"
#include "handoff/canonical/entity_codec.h"
#include "handoff/canonical/store_keys.h"
#include "handoff/conflict/decide.h"
#include "handoff/engine/clock.h"
#include "handoff/engine/event_json.h"
#include "handoff/engine/log.h"

namespace handoff {
namespace {

// Builds the derived event for one target row.
ChangeEvent DerivedEvent(schemas::TargetRow&& row, const JournalEntry& src, SourcePosition position) {
  ChangeEvent ev;
  ev.source = kCanonicalSourcePrefix + row.system;
  // Not a PostgreSQL transaction: each derived change stands alone (no commit marker).
  ev.source_kind = SourceKind::kWebhook;
  ev.position = position;
  ev.commit_time_us = src.event.commit_time_us;
  ev.origin = "canonical";
  ev.schema = std::move(row.schema);
  ev.table = std::move(row.table);
  ev.key_columns = std::move(row.key_columns);
  std::vector<Column> cols;
  cols.reserve(row.columns.size());
  for (auto& c : row.columns) {
    Column col;
    col.name = std::move(c.name);
    col.type_oid = c.type_oid;
    if (c.value) {
      col.kind = Column::Kind::kText;
      col.data = std::move(*c.value);
    } else {
      col.kind = Column::Kind::kNull;
    }
    cols.push_back(std::move(col));
  }
  if (row.op == Op::kDelete) {
    ev.op = Op::kDelete;
    ev.has_before = true;
    ev.before = std::move(cols);
  } else {
    ev.op = Op::kUpdate;  // no before-image: an upsert of the columns sent
    ev.after = std::move(cols);
  }
  ev.correlation_id = src.event.correlation_id.empty()
                          ? src.event.source + ":" + FormatPosition(src.event.position)
                          : src.event.correlation_id;
  return ev;
}


constexpr const char* kAutoRetryActor = "handoff (what it waited for arrived)";
// Derived changes of a retried entry sort after everything the router has
// emitted for the entries it has read: (read position, kRetryBase + n).
constexpr uint64_t kRetryBase = uint64_t{1} << 40;

std::string JoinProblems(const std::vector<schemas::ValidationProblem>& problems) {
  std::string out;
  for (const auto& p : problems) out += (out.empty() ? "" : "; ") + p.reason;
  return out;
}


}  // namespace

CanonicalPass::CanonicalPass(const CanonicalRouterOptions& opts, uint64_t done, const CanonicalPass* prior)
    : opts_(opts), j_(opts.journal), done_(done), prior_(prior), pass_id_(done + 1) {
  lookup_ = [this](const std::string& entity, const Xref& ref) -> std::optional<schemas::EntityRecord> {
    std::string key;
    if (ref.system.empty()) {
      key = ref.id;
    } else {
      auto k = Meta(canonical_key::XrefIndex(entity, ref));
      key = k ? *k : canonical_key::ImpliedKey(entity, ref);
    }
    auto p = Peek(key);
    if (!p.ok() || *p == nullptr || (*p)->entity != entity) return std::nullopt;
    const conflict::EntityState& s = **p;
    if (!ref.system.empty() && std::none_of(s.xrefs.begin(), s.xrefs.end(), [&](const Xref& x) {
          return x.system == ref.system && x.object == ref.object && x.id == ref.id;
        }))
      return std::nullopt;
    schemas::EntityRecord rec;
    rec.key = key;
    for (const auto& [f, fs] : s.fields) rec.fields.emplace_hint(rec.fields.end(), f, fs.value);
    rec.xrefs = s.xrefs;
    rec.deleted = s.deleted;
    return rec;
  };
}

Result<std::optional<std::string>> CanonicalPass::JournalMeta(const std::string& key) {
  if (reader_ == nullptr) {
    auto r = j_->ReadMeta();
    if (!r.ok()) return r.status();
    reader_ = std::move(*r);
  }
  return reader_->Get(key);
}

Status CanonicalPass::JournalScan(const std::string& prefix,
                                  const std::function<bool(std::string_view, std::string_view)>& f) {
  if (reader_ == nullptr) {
    auto r = j_->ReadMeta();
    if (!r.ok()) return r.status();
    reader_ = std::move(*r);
  }
  return reader_->Scan(prefix, f);
}

std::optional<std::string> CanonicalPass::Meta(const std::string& key) {
  for (const CanonicalPass* p : {static_cast<const CanonicalPass*>(this), prior_}) {
    if (p == nullptr) continue;
    auto it = p->meta_.find(key);
    if (it != p->meta_.end()) return it->second;
  }
  auto v = JournalMeta(key);
  if (!v.ok() || !v->has_value()) return std::nullopt;
  return **v;
}

void CanonicalPass::PutMeta(const std::string& key, const std::string& value) { meta_[key] = value; }

Status CanonicalPass::ScanMeta(const std::string& prefix,
                               const std::function<void(const std::string&, const std::string&)>& f) {
  std::map<std::string, std::optional<std::string>> all;
  HANDOFF_RETURN_IF_ERROR(JournalScan(prefix, [&](std::string_view k, std::string_view v) {
    all[std::string(k)] = std::string(v);
    return true;
  }));
  for (const CanonicalPass* p : {prior_, static_cast<const CanonicalPass*>(this)}) {
    if (p == nullptr) continue;
    for (auto it = p->meta_.lower_bound(prefix); it != p->meta_.end() && it->first.rfind(prefix, 0) == 0; ++it)
      all[it->first] = it->second;
  }
  for (const auto& [k, v] : all)
    if (v) f(k, *v);
  return Status::OK();
}

Result<const conflict::EntityState*> CanonicalPass::Peek(const std::string& key) {
  for (const CanonicalPass* p : {static_cast<const CanonicalPass*>(this), prior_}) {
    if (p == nullptr) continue;
    auto it = p->states_.find(key);
    if (it != p->states_.end()) return &it->second;
  }
  auto cached = loaded_.find(key);
  if (cached == loaded_.end()) {
    auto v = JournalMeta(canonical_key::Entity(key));
    if (!v.ok()) return v.status();
    std::optional<conflict::EntityState> s;
    if (v->has_value() && !(*v)->empty()) {
      s.emplace();
      if (!DecodeEntityState(**v, &*s)) return Status::Internal("undecodable canonical state of " + key);
    }
    cached = loaded_.emplace(key, std::move(s)).first;
  }
  return cached->second ? &*cached->second : nullptr;
}

Result<std::optional<conflict::EntityState>> CanonicalPass::Load(const std::string& key) {
  auto p = Peek(key);
  if (!p.ok()) return p.status();
  if (*p == nullptr) return std::optional<conflict::EntityState>();
  return std::optional<conflict::EntityState>(**p);
}

void CanonicalPass::Store(const conflict::EntityState& s) { Store(conflict::EntityState(s)); }

const conflict::EntityState& CanonicalPass::Store(conflict::EntityState&& s) {
  auto at = states_.find(s.key);
  if (at == states_.end()) {
    std::string key = s.key;
    at = states_.emplace(std::move(key), std::move(s)).first;
  } else {
    // A copy taken before a MarkHeld of this pass must not forget who holds the row.
    std::vector<std::string> held = std::move(at->second.held_by);
    at->second = std::move(s);
    for (std::string& h : held)
      if (std::find(at->second.held_by.begin(), at->second.held_by.end(), h) == at->second.held_by.end())
        at->second.held_by.push_back(std::move(h));
  }  // encoded once, when the pass commits
  const conflict::EntityState& stored = at->second;
  for (const Xref& x : stored.xrefs) {
    if (stored.key == canonical_key::ImpliedKey(stored.entity, x)) continue;  // found without an index
    std::string index = canonical_key::XrefIndex(stored.entity, x);
    if (Meta(index) != stored.key) meta_[std::move(index)] = stored.key;
  }
  Status st = Wake(stored.key);
  // Entries waiting for a value the flows look up (flows.yaml): a rate card's code.
  if (opts_.flows != nullptr)
    for (const schemas::FlowLookup& l : opts_.flows->lookups) {
      if (!st.ok() || l.entity != stored.entity) continue;
      auto v = stored.fields.find(l.field);
      if (v != stored.fields.end() && v->second.value)
        st = Wake(canonical_key::LookupValue(l.entity, l.field, *v->second.value));
    }
  if (!st.ok()) LogWarn("canonical", "cannot wake what waits on {}: {}", stored.key, st.ToString());
  return stored;
}

Status CanonicalPass::Wake(const std::string& what) {
  if (!waits_checked_) {  // one look per pass: most passes have nothing waiting
    waits_checked_ = true;
    const std::string any(canonical_key::kWait);
    if (prior_ != nullptr)
      for (auto it = prior_->meta_.lower_bound(any); it != prior_->meta_.end() && it->first.rfind(any, 0) == 0; ++it)
        waits_exist_ |= it->second.has_value();
    if (!waits_exist_)
      HANDOFF_RETURN_IF_ERROR(JournalScan(any, [&](std::string_view, std::string_view) {
        waits_exist_ = true;
        return false;
      }));
  }
  if (!waits_exist_) return Status::OK();
  const std::string prefix = canonical_key::WaitsOn(what);
  std::vector<std::string> keys;
  HANDOFF_RETURN_IF_ERROR(ScanMeta(prefix, [&](const std::string& k, const std::string&) { keys.push_back(k); }));
  for (const std::string& k : keys) {
    meta_[k] = std::nullopt;
    meta_[canonical_key::Retry(canonical_key::SeqAfter(k, prefix.size()))] = std::string(kAutoRetryActor);
  }
  return Status::OK();
}

Status CanonicalPass::Scan(const std::string& entity, const std::function<void(const conflict::EntityState&)>& f) {
  const std::string prefix = canonical_key::EntityType(entity);
  std::map<std::string, conflict::EntityState> all;
  Status bad = Status::OK();
  HANDOFF_RETURN_IF_ERROR(JournalScan(prefix, [&](std::string_view k, std::string_view v) {
    conflict::EntityState s;
    if (!DecodeEntityState(std::string(v), &s)) {
      bad = Status::Internal("undecodable canonical state " + std::string(k));
      return false;
    }
    all[s.key] = std::move(s);
    return true;
  }));
  HANDOFF_RETURN_IF_ERROR(bad);
  for (const CanonicalPass* p : {prior_, static_cast<const CanonicalPass*>(this)}) {
    if (p == nullptr) continue;
    for (const auto& [k, s] : p->states_)
      if (s.entity == entity) all[k] = s;
  }
  for (const auto& [k, s] : all)
    if (s.live()) f(s);
  return Status::OK();
}

bool CanonicalPass::Holds(const std::string& system, const std::string& key) {
  // An entity keyed by a system's id ("customer:crm:42") came from that system:
  // it holds the row even before handoff has read it there.
  size_t colon = key.find(':');
  if (colon != std::string::npos && key.compare(colon + 1, system.size() + 1, system + ":") == 0) return true;
  auto s = Peek(key);
  if (s.ok() && *s != nullptr && std::find((*s)->held_by.begin(), (*s)->held_by.end(), system) != (*s)->held_by.end())
    return true;
  // Journals written before held_by was part of the state kept a record per system.
  return Meta(canonical_key::Held(system, key)).has_value();
}

void CanonicalPass::MarkHeld(const std::string& system, const std::string& key) {
  auto it = states_.find(key);
  if (it == states_.end()) {
    auto s = Peek(key);
    if (!s.ok() || *s == nullptr) {
      meta_[canonical_key::Held(system, key)] = "1";  // no state to carry it (not expected)
      return;
    }
    it = states_.emplace(key, **s).first;
  }
  auto& held = it->second.held_by;
  if (std::find(held.begin(), held.end(), system) == held.end()) held.push_back(system);
}

void CanonicalPass::Park(const std::string& code, const std::string& reason, const std::string& entity,
                         const std::string& key, const std::string& system, const std::vector<std::string>& waits_on) {
  for (const std::string& w : waits_on) meta_[canonical_key::Wait(w, entry_->seq)] = "1";
  if (!waits_on.empty()) waits_exist_ = true;
  ExceptionRecord r;
  r.target = "canonical";
  r.seq = entry_->seq;
  r.code = code;
  r.reason = reason;
  r.new_image = ImageToJson(entry_->event.after);
  r.old_image = entry_->event.has_before ? ImageToJson(entry_->event.before) : "";
  if (!key.empty()) {
    auto cur = Peek(key);
    if (cur.ok() && *cur != nullptr) r.current_image = EntityStateJson(**cur);
  }
  r.state = ExceptionState::kOpen;
  r.created_us = r.updated_us = NowMicros();
  // One record per entry: a second problem of the same entry adds its reason.
  if (parked_ > 0 && !exceptions_.empty() && exceptions_.back().seq == r.seq) {
    exceptions_.back().reason += "; " + reason;
  } else {
    exceptions_.push_back(std::move(r));
  }
  ++parked_;
  parked_reason_ = exceptions_.back().reason;
  TraceStep t;
  t.step = "exception";
  t.entity = entity;
  t.key = key;
  t.system = system;
  t.detail = code + ": " + reason;
  if (!key.empty()) {
    auto cur = Peek(key);
    t.root = cur.ok() && *cur != nullptr ? RootOf(**cur) : key;
  }
  if (!t.root.empty()) Trace(std::move(t));
}

void CanonicalPass::Trace(const char* step, const conflict::EntityState& s, const std::string& system,
                          std::string detail) {
  TraceStep t;
  t.step = step;
  t.entity = s.entity;
  t.key = s.key;
  t.system = system;
  t.detail = std::move(detail);
  t.root = RootOf(s);
  Trace(std::move(t));
}

void CanonicalPass::Trace(TraceStep step) {
  if (step.root.empty()) return;
  step.seq = entry_->seq;
  traces_.push_back(std::move(step));
}

std::string CanonicalPass::RootOf(const conflict::EntityState& s) {
  // Up the model's parent chain (entity `parent:`), e.g. line -> invoice ->
  // project -> engagement. The loader refuses loops; the bound is a guard.
  const conflict::EntityState* cur = &s;
  for (size_t depth = 0; depth <= opts_.model->entities().size(); ++depth) {
    const schemas::FieldDef* ref = opts_.model->ParentRef(cur->entity);
    if (ref == nullptr) break;
    auto f = cur->fields.find(ref->name);
    if (f == cur->fields.end() || !f->second.value) break;
    auto parent = Peek(*f->second.value);
    if (!parent.ok() || *parent == nullptr) {
      // A root not stored yet still names the trace (a project provisioned
      // for an engagement handoff has not read); a missing middle link does not.
      if (opts_.model->ParentRef(ref->ref_entity) == nullptr) return *f->second.value;
      break;
    }
    cur = *parent;
  }
  return cur->key;
}

void CanonicalPass::Emit(const conflict::EntityState& state, FieldMap fields, const std::string& system, Op op,
                         const std::string& origin_system) {
  bool partial = false;
  if (op != Op::kDelete) {
    if (Holds(system, state.key)) {
      partial = true;
    } else {
      for (const std::string& f : opts_.model->FieldsHeldBy(state.entity, system)) {
        auto it = state.fields.find(f);
        if (it != state.fields.end() && !fields.count(f)) fields[f] = it->second.value;
      }
    }
  }
  EntityChange out;
  out.entity = state.entity;
  out.key = state.key;
  out.system = origin_system;
  out.op = op;
  out.commit_time_us = entry_->event.commit_time_us;
  out.seq = entry_->seq;
  out.xrefs = state.xrefs;
  if (op == Op::kDelete) {
    out.has_before = true;
    for (const auto& [f, fs] : state.fields) out.before[f] = fs.value;
  } else {
    out.after = std::move(fields);
  }
  auto row = opts_.model->MapChange(out, system, lookup_);
  if (!row.ok()) {
    Park("mapping", fmt::format("{} {} cannot be written to {}: {}", HumanEntity(state.entity), state.key, system,
                                row.status().message()),
         state.entity, state.key, origin_system);
    return;
  }
  if (!row->has_value()) return;
  std::set<std::string> unchanged_cols;
  if (partial) {
    if (const schemas::TargetMapping* tm = opts_.model->FindTarget(state.entity, system)) {
      for (const auto& [col, expr] : tm->columns) {
        if ((*row)->Find(col) != nullptr) continue;
        schemas::TargetColumn unchanged;
        unchanged.name = col;
        (*row)->columns.push_back(unchanged);
        unchanged_cols.insert(col);
      }
    }
  } else if (op != Op::kDelete) {
    MarkHeld(system, state.key);
  }
  TraceStep t;
  t.step = "derived";
  t.entity = state.entity;
  t.key = state.key;
  t.system = system;
  t.target_table = (*row)->table.empty() ? (*row)->resource : (*row)->schema + "." + (*row)->table;
  for (const std::string& k : (*row)->key_columns)
    if (const schemas::TargetColumn* c = (*row)->Find(k))
      t.target_key += (t.target_key.empty() ? "" : ", ") + k + "=" + c->value.value_or("NULL");
  t.op = op;  // worded when the trace is read
  const std::string source = kCanonicalSourcePrefix + system;
  AppendBatch& b = batches_[source];
  if (b.source.empty()) b.source = source;
  ChangeEvent derived =
      DerivedEvent(std::move(**row), *entry_, SourcePosition{base_.lsn, base_.ordinal + ++ordinal_});
  for (Column& c : derived.after)
    if (unchanged_cols.count(c.name)) c.kind = Column::Kind::kUnchangedToast;
  if (partial) {
    // The system holds the row: update it by key (the before-image names only
    // the key), never create a partial row.
    derived.has_before = true;
    for (const Column& c : derived.after)
      if (std::find(derived.key_columns.begin(), derived.key_columns.end(), c.name) != derived.key_columns.end())
        derived.before.push_back(c);
  }
  b.upto = derived.position;
  t.root = RootOf(state);
  t.index = static_cast<int>(b.events.size());
  t.batch = source;  // the target system is named at Commit()
  b.events.push_back(std::move(derived));
  Trace(std::move(t));
}

Status CanonicalPass::SetFields(const std::string& key, const FieldMap& fields, const std::string& system,
                                const std::string& why) {
  auto loaded = Load(key);
  HANDOFF_RETURN_IF_ERROR(loaded.status());
  if (!loaded->has_value()) return Status::OK();
  conflict::EntityState s = std::move(**loaded);
  FieldMap changed;
  for (const auto& [f, v] : fields) {
    auto it = s.fields.find(f);
    if (it != s.fields.end() && it->second.value == v) continue;
    conflict::FieldState fs;
    fs.value = v;
    fs.provenance = conflict::FieldProvenance{system, entry_->event.commit_time_us, entry_->seq};
    s.fields[f] = fs;
    changed[f] = v;
  }
  if (changed.empty()) return Status::OK();
  FieldMap all;
  for (const auto& [f, fs] : s.fields) all[f] = fs.value;
  auto problems = opts_.model->Validate(s.entity, all, lookup_);
  if (!problems.empty()) {
    Park("validation", fmt::format("{} {} cannot take {}: {}", HumanEntity(s.entity), s.key, FieldMapJson(changed),
                                   JoinProblems(problems)),
         s.entity, s.key, system);
    return Status::OK();
  }
  Store(s);
  Trace("flow", s, system, why + " " + FieldMapJson(changed));
  for (const std::string& target : opts_.model->TargetSystems(s.entity)) {
    FieldMap send;
    for (const std::string& f : opts_.model->FieldsHeldBy(s.entity, target))
      if (changed.count(f)) send[f] = changed[f];
    if (!send.empty() && Holds(target, s.key)) Emit(s, send, target, Op::kUpdate, system);
  }
  return Status::OK();
}

Status CanonicalPass::Process(const JournalEntry& e, Premapped* premapped) {
  entry_ = &e;
  ordinal_ = 0;
  parked_ = 0;
  base_ = SourcePosition{e.seq, 0};
  const size_t first = traces_.size();
  HANDOFF_RETURN_IF_ERROR(Route(e, premapped));
  FoldRoutine(first);
  return Status::OK();
}

void CanonicalPass::FoldRoutine(size_t first) {
  if (trace_n_base_ != 0 || first >= traces_.size()) return;  // a retry's steps are filed as records
  std::vector<const TraceStep*> steps;
  std::vector<size_t> at;
  bool any = false;
  for (size_t i = first; i < traces_.size(); ++i) {
    const std::string& root = traces_[i].root;
    if (root.empty()) continue;
    bool seen = false;  // a root handled at an earlier step of this entry
    for (size_t k = first; k < i && !seen; ++k) seen = traces_[k].root == root;
    if (seen) continue;
    steps.clear();
    at.clear();
    for (size_t k = i; k < traces_.size(); ++k)
      if (traces_[k].root == root) {
        steps.push_back(&traces_[k]);
        at.push_back(k);
      }
    if (!Foldable(root, steps)) continue;
    auto st = states_.find(root);
    if (st == states_.end()) continue;
    std::string& tail = st->second.trace_tail;
    if (AppendFolded(&tail, entry_->seq, pass_id_, steps) >= kFoldedMax) {
      meta_[canonical_key::TraceStep(root, FirstFoldedSeq(tail), 0)] = FoldedRecord(tail);
      tail.clear();
    }
    folded_ = any = true;
    for (size_t k : at) traces_[k].step.clear();  // folded: dropped below
  }
  if (!any) return;
  traces_.erase(std::remove_if(traces_.begin() + static_cast<std::ptrdiff_t>(first), traces_.end(),
                               [](const TraceStep& t) { return t.step.empty(); }),
                traces_.end());
}

bool CanonicalPass::Routed(const CanonicalRouterOptions& opts, const ChangeEvent& ev) {
  if (ev.source == kBillingCloseSource || ev.source.rfind("canonical", 0) == 0) return false;
  if (ev.op == Op::kCommit || ev.op == Op::kMessage || ev.op == Op::kTruncate || ev.op == Op::kSchema) return false;
  if (!opts.systems.count(ev.source)) return false;
  return opts.model->FindSource(ev.source, ev.schema + "." + ev.table) != nullptr;
}

Status CanonicalPass::Retry(const JournalEntry& e, const std::string& actor, const std::string& request_key) {
  entry_ = &e;
  parked_ = 0;
  ordinal_ = 0;
  // Before this pass opens its reader: one read snapshot at a time per thread.
  auto existing = j_->GetException("canonical", e.seq);
  HANDOFF_RETURN_IF_ERROR(existing.status());
  uint64_t n = 0;
  if (auto v = Meta(kCanonicalRetryCounterKey)) n = std::stoull(*v);
  n += 1;
  meta_[kCanonicalRetryCounterKey] = std::to_string(n);
  trace_n_base_ = static_cast<int>(n % 99999) + 1;
  base_ = SourcePosition{done_, kRetryBase + n * 4096};
  if (!existing->has_value() || (*existing)->state != ExceptionState::kOpen) {
    meta_[request_key] = std::nullopt;  // closed meanwhile (retried, discarded): nothing to do
    return Status::OK();
  }
  size_t before = exceptions_.size();
  HANDOFF_RETURN_IF_ERROR(Route(e));
  meta_[request_key] = std::nullopt;
  ExceptionRecord r = **existing;
  r.updated_us = NowMicros();
  if (parked_ == 0) {
    r.state = ExceptionState::kRetried;
    r.actor = actor;
    r.note = "retried: applied";
    exceptions_.push_back(std::move(r));
  } else {
    // Route() staged a fresh open record with the new reason; keep history.
    ExceptionRecord& fresh = exceptions_[before];
    fresh.created_us = r.created_us;
    fresh.note = "retry by " + actor + " failed again";
  }
  return Status::OK();
}

Status CanonicalPass::Route(const JournalEntry& e, Premapped* premapped) {
  const ChangeEvent& ev = e.event;
  if (ev.source == kBillingCloseSource) {
    for (const Column& c : ev.after)
      if (c.name == "period") return BillingClose(c.data);
    return Status::OK();
  }
  if (ev.source.rfind("canonical", 0) == 0) return Status::OK();  // our own output
  // A schema change needs nothing here: mappings name the fields they read.
  if (ev.op == Op::kCommit || ev.op == Op::kMessage || ev.op == Op::kTruncate || ev.op == Op::kSchema)
    return Status::OK();
  if (!opts_.systems.count(ev.source)) return Status::OK();
  const std::string table = ev.schema + "." + ev.table;
  if (opts_.model->FindSource(ev.source, table) == nullptr) return Status::OK();
  auto mapped = premapped != nullptr && premapped->has_value() ? std::move(**premapped)
                                                              : opts_.model->MapSource(ev, ev.source, lookup_);
  if (!mapped.ok()) {
    const schemas::SourceMapping* sm = opts_.model->FindSource(ev.source, table);
    std::string entity = sm ? sm->entity : "";
    Park(mapped.status().code() == StatusCode::kNotFound ? "missing_reference" : "mapping",
         fmt::format("{} row of {}.{} cannot be read: {}", HumanEntity(entity), ev.source, table,
                     mapped.status().message()),
         entity, "", ev.source);
    return Status::OK();
  }
  if (!mapped->has_value()) return Status::OK();
  EntityChange change = std::move(**mapped);
  change.seq = e.seq;
  if (change.commit_time_us == 0) change.commit_time_us = ev.commit_time_us;
  if (change.system.empty()) change.system = ev.source;
  auto loaded = Peek(change.key);
  HANDOFF_RETURN_IF_ERROR(loaded.status());
  conflict::EntityState fresh;
  if (*loaded == nullptr) {
    fresh.entity = change.entity;
    fresh.key = change.key;
  }
  // Read only until Decide has copied it into the decision's state.
  const conflict::EntityState& current = *loaded != nullptr ? **loaded : fresh;
  // Validation of the entity as it would be after the change.
  if (change.op != Op::kDelete) {
    // The change's fields laid over the stored ones.
    const bool live = current.live();
    schemas::FieldView merged;
    merged.find = [&](const std::string& f) -> const std::optional<std::string>* {
      auto a = change.after.find(f);
      if (a != change.after.end()) return &a->second;
      if (!live) return nullptr;
      auto c = current.fields.find(f);
      return c == current.fields.end() ? nullptr : &c->second.value;
    };
    merged.each = [&](const std::function<void(const std::string&)>& f) {  // in name order, as one map would
      auto a = change.after.begin();
      auto c = live ? current.fields.begin() : current.fields.end();
      while (a != change.after.end() || c != current.fields.end()) {
        if (c == current.fields.end() || (a != change.after.end() && a->first <= c->first)) {
          if (c != current.fields.end() && a->first == c->first) ++c;
          f((a++)->first);
        } else {
          f((c++)->first);
        }
      }
    };
    auto problems = opts_.model->ValidateView(change.entity, merged, lookup_);
    if (!problems.empty()) {
      std::vector<std::string> waits;  // references that have not arrived yet
      for (const auto& p : problems)
        if (const std::optional<std::string>* v = merged.find(p.field); p.rule == "ref_missing" && v && *v)
          waits.push_back(**v);
      Park("validation", fmt::format("{} {} from {}: {}", HumanEntity(change.entity), change.key, change.system,
                                     JoinProblems(problems)),
           change.entity, change.key, change.system, waits);
      return Status::OK();
    }
  }
  conflict::Decision d = conflict::Decide(*opts_.rules, current, change);
  for (const Xref& x : change.xrefs) {  // the state knows every id it was seen under
    bool have = false;
    for (const Xref& h : d.state.xrefs) have |= (h.system == x.system && h.object == x.object);
    if (!have) d.state.xrefs.push_back(x);
  }
  std::set<std::string> suppress;
  HANDOFF_RETURN_IF_ERROR(FlowsBeforeEmit(change, &d, &suppress));
  // The decided state, moved into the pass; read from there from now on.
  const conflict::EntityState& state = Store(std::move(d.state));
  {
    TraceStep t;
    t.step = "decided";
    t.entity = state.entity;
    t.key = state.key;
    t.system = change.system;
    t.root = RootOf(state);
    t.op = ev.op;
    t.position = ev.position;
    t.applied = static_cast<uint32_t>(d.Count(conflict::FieldOutcome::kApplied));
    t.kept = static_cast<uint32_t>(d.Count(conflict::FieldOutcome::kKeptCurrent));
    t.ignored = static_cast<uint32_t>(d.Count(conflict::FieldOutcome::kIgnoredNotOwner));
    t.parked = static_cast<uint32_t>(d.Count(conflict::FieldOutcome::kParked));
    t.conflicts = static_cast<uint32_t>(d.conflicts);
    Trace(std::move(t));
  }
  for (const auto& a : d.audit) {
    if (a.conflict) ++conflict_counts_[std::string(conflict::FieldOutcomeName(a.outcome))];
    if (a.outcome == conflict::FieldOutcome::kApplied || a.outcome == conflict::FieldOutcome::kUnchanged) continue;
    meta_[canonical_key::Audit(e.seq, a.field)] = AuditJson(a);
    auto shown = [](const std::optional<std::string>& v) { return v ? "\"" + *v + "\"" : std::string("NULL"); };
    Trace("audit", state, change.system,
          fmt::format("{}: {} sent {} (it had {}), canonical {} -> {}; {} / {}{}{}",
                      a.field.empty() ? "(entity)" : a.field, a.system, shown(a.incoming), shown(a.before),
                      shown(a.current), shown(a.result), conflict::PolicyName(a.policy),
                      conflict::FieldOutcomeName(a.outcome), a.conflict ? ", conflict" : "",
                      a.reason.empty() ? "" : ": " + a.reason));
  }
  for (const auto& x : d.exceptions)
    Park("conflict", fmt::format("{} {} from {}: {}{}", HumanEntity(x.entity), x.key, x.system,
                                 x.field.empty() ? "" : x.field + ": ", x.reason),
         x.entity, x.key, x.system);
  if (change.op != Op::kDelete && !Holds(change.system, change.key)) MarkHeld(change.system, change.key);
  if (d.action != conflict::EntityAction::kNone) {
    for (const std::string& system : opts_.model->TargetSystems(change.entity)) {
      if (system == change.system || suppress.count(system)) continue;
      if (d.action == conflict::EntityAction::kDelete) {
        Emit(state, {}, system, Op::kDelete, change.system);
        continue;
      }
      FieldMap fields;
      for (const std::string& f : opts_.model->FieldsHeldBy(change.entity, system)) {
        auto it = d.propagate.find(f);
        if (it != d.propagate.end()) fields.emplace_hint(fields.end(), f, it->second);  // held fields are sorted
      }
      if (!fields.empty()) Emit(state, fields, system, Op::kUpdate, change.system);
    }
  }
  if (!d.corrections.empty() && state.live()) {
    FieldMap fields;
    for (const std::string& f : opts_.model->FieldsHeldBy(change.entity, change.system)) {
      auto it = d.corrections.find(f);
      if (it != d.corrections.end()) fields.emplace_hint(fields.end(), f, it->second);
    }
    if (!fields.empty()) Emit(state, fields, change.system, Op::kUpdate, change.system);
  }
  if (flows() == nullptr) return Status::OK();
  const conflict::EntityState decided = state;  // the flows read it as decided, whatever they store
  return FlowsAfterStore(change, decided);
}

void CanonicalPass::Seal(uint64_t last) {
  prior_ = nullptr;  // routing is over; the prior pass may be gone soon
  reader_.reset();
  last_ = last;
  meta_[kCanonicalSeqKey] = std::to_string(last);
}

Status CanonicalPass::Commit() {
  const uint64_t last = last_;
  SideWrites side;
  side.meta_puts.reserve(meta_.size() + states_.size());
  for (auto& [k, v] : meta_) {
    if (v) side.meta_puts.emplace_back(k, *v);
    else side.meta_deletes.push_back(k);
  }
  // Encoded here, on the commit thread: the next pass only reads states_.
  for (const auto& [key, state] : states_)
    side.meta_puts.emplace_back(canonical_key::Entity(key), EncodeEntityState(state));
  std::vector<AppendBatch> list;
  std::map<std::string, int> batch_index;
  for (auto& [name, b] : batches_) {
    batch_index[name] = static_cast<int>(list.size());
    list.push_back(std::move(b));
  }
  side.exceptions = exceptions_;
  // Called once per attempt of the journal's write transaction (a retry after
  // the map grew calls it again), so it derives everything from `batch` anew.
  side.after_append = [&](const AppendResult& res, std::vector<std::pair<std::string, std::string>>* puts) {
    // Derived seqs are known now; then one record per (root, seq) holds its steps.
    for (TraceStep& t : traces_) {
      if (t.step != "derived") continue;
      auto bi = batch_index.find(t.batch);
      if (bi != batch_index.end() && static_cast<size_t>(bi->second) < res.seqs.size() &&
          static_cast<size_t>(t.index) < res.seqs[bi->second].size())
        t.derived_seq = res.seqs[bi->second][t.index];
      t.target_system = t.batch.substr(std::string(kCanonicalSourcePrefix).size());
    }
    std::map<std::pair<std::string, uint64_t>, std::vector<const TraceStep*>> records;
    for (const TraceStep& t : traces_) records[{t.root, t.seq}].push_back(&t);
    const int64_t now = NowMicros();
    if (folded_) {  // where the derived changes of the steps kept in trace tails went
      std::vector<std::pair<std::string, const std::vector<uint64_t>*>> seqs;
      for (const auto& [name, bi] : batch_index)
        if (static_cast<size_t>(bi) < res.seqs.size()) seqs.emplace_back(name, &res.seqs[bi]);
      puts->emplace_back(canonical_key::TracePass(pass_id_), EncodeTracePass(now, seqs));
    }
    for (const auto& [at, steps] : records)
      puts->emplace_back(canonical_key::TraceStep(at.first, at.second, trace_n_base_),
                         EncodeTraceRecord(now, steps));
  };
  // Retention keeps what the router has not read yet (it counts as a reader
  // named "canonical"); recorded with the rest, no transaction of its own.
  side.targets_applied.emplace_back("canonical", last);
  AppendResult res;
  HANDOFF_RETURN_IF_ERROR(j_->AppendWithMeta(list, side, &res));
  for (const auto& x : exceptions_)
    if (x.state == ExceptionState::kOpen)
      LogWarn("canonical", "seq {} parked ({}): {}", x.seq, x.code, x.reason);
  return Status::OK();
}

}  // namespace handoff
