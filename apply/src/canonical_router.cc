#include "handoff/engine/event_json.h"
#include "handoff/apply/canonical_router.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <chrono>
#include <map>
#include <thread>

#include "handoff/conflict/decide.h"
#include "handoff/engine/clock.h"
#include "handoff/engine/log.h"

namespace handoff {
namespace {

constexpr size_t kReadBatch = 256;

// Length-prefixed fields: "<len>:<bytes>"; an absent optional is "-".
void PutStr(std::string* out, const std::string& s) {
  *out += std::to_string(s.size());
  *out += ':';
  *out += s;
}
void PutOpt(std::string* out, const std::optional<std::string>& s) {
  if (!s) {
    *out += '-';
    return;
  }
  *out += '+';
  PutStr(out, *s);
}
void PutNum(std::string* out, int64_t v) { PutStr(out, std::to_string(v)); }
void PutProv(std::string* out, const conflict::FieldProvenance& p) {
  PutStr(out, p.system);
  PutNum(out, p.source_time_us);
  PutNum(out, static_cast<int64_t>(p.seq));
}

struct Reader {
  const std::string& d;
  size_t i = 0;
  bool ok = true;
  std::string Str() {
    size_t colon = d.find(':', i);
    if (colon == std::string::npos) {
      ok = false;
      return {};
    }
    size_t n = 0;
    try {
      n = std::stoull(d.substr(i, colon - i));
    } catch (...) {
      ok = false;
      return {};
    }
    if (colon + 1 + n > d.size()) {
      ok = false;
      return {};
    }
    std::string s = d.substr(colon + 1, n);
    i = colon + 1 + n;
    return s;
  }
  std::optional<std::string> Opt() {
    if (i >= d.size()) {
      ok = false;
      return std::nullopt;
    }
    char c = d[i++];
    if (c == '-') return std::nullopt;
    if (c != '+') ok = false;
    return Str();
  }
  int64_t Num() {
    std::string s = Str();
    try {
      return std::stoll(s);
    } catch (...) {
      ok = false;
      return 0;
    }
  }
  conflict::FieldProvenance Prov() {
    conflict::FieldProvenance p;
    p.system = Str();
    p.source_time_us = Num();
    p.seq = static_cast<uint64_t>(Num());
    return p;
  }
};

void JsonStr(std::string* out, const std::string& s) { AppendJsonString(out, s); }
void JsonOpt(std::string* out, const std::optional<std::string>& s) {
  if (s) JsonStr(out, *s);
  else *out += "null";
}

std::string AuditJson(const conflict::AuditRecord& a) {
  std::string j = "{\"entity\":";
  JsonStr(&j, a.entity);
  j += ",\"key\":";
  JsonStr(&j, a.key);
  j += ",\"system\":";
  JsonStr(&j, a.system);
  j += fmt::format(",\"seq\":{},\"field\":", a.seq);
  JsonStr(&j, a.field);
  j += ",\"before\":";
  JsonOpt(&j, a.before);
  j += ",\"incoming\":";
  JsonOpt(&j, a.incoming);
  j += ",\"current\":";
  JsonOpt(&j, a.current);
  j += ",\"result\":";
  JsonOpt(&j, a.result);
  j += ",\"policy\":";
  JsonStr(&j, std::string(conflict::PolicyName(a.policy)));
  j += ",\"outcome\":";
  JsonStr(&j, std::string(conflict::FieldOutcomeName(a.outcome)));
  j += fmt::format(",\"conflict\":{},\"reason\":", a.conflict ? "true" : "false");
  JsonStr(&j, a.reason);
  j += "}";
  return j;
}

std::string XrefIndexKey(const std::string& entity, const Xref& x) {
  return "xref:" + entity + ":" + x.system + "/" + x.object + "/" + x.id;
}

// Builds the derived event for one target row.
ChangeEvent DerivedEvent(const schemas::TargetRow& row, const JournalEntry& src, uint64_t ordinal) {
  ChangeEvent ev;
  ev.source = kCanonicalSourcePrefix + row.system;
  // Not a PostgreSQL transaction: each derived change stands alone (no commit marker).
  ev.source_kind = SourceKind::kWebhook;
  ev.position = SourcePosition{src.seq, ordinal};
  ev.commit_time_us = src.event.commit_time_us;
  ev.origin = "canonical";
  ev.schema = row.schema;
  ev.table = row.table;
  ev.key_columns = row.key_columns;
  std::vector<Column> cols;
  for (const auto& c : row.columns) {
    Column col;
    col.name = c.name;
    col.type_oid = c.type_oid;
    if (c.value) {
      col.kind = Column::Kind::kText;
      col.data = *c.value;
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

}  // namespace

std::string EncodeEntityState(const conflict::EntityState& s) {
  std::string out = "ES1;";
  PutStr(&out, s.entity);
  PutStr(&out, s.key);
  PutNum(&out, s.exists);
  PutNum(&out, s.deleted);
  PutNum(&out, s.deleted_at_us);
  PutProv(&out, s.deleted_by);
  PutNum(&out, s.locked);
  PutNum(&out, static_cast<int64_t>(s.fields.size()));
  for (const auto& [name, f] : s.fields) {
    PutStr(&out, name);
    PutOpt(&out, f.value);
    PutProv(&out, f.provenance);
  }
  PutNum(&out, static_cast<int64_t>(s.xrefs.size()));
  for (const Xref& x : s.xrefs) {
    PutStr(&out, x.system);
    PutStr(&out, x.object);
    PutStr(&out, x.id);
  }
  return out;
}

bool DecodeEntityState(const std::string& data, conflict::EntityState* s) {
  if (data.rfind("ES1;", 0) != 0) return false;
  Reader r{data, 4};
  conflict::EntityState st;
  st.entity = r.Str();
  st.key = r.Str();
  st.exists = r.Num() != 0;
  st.deleted = r.Num() != 0;
  st.deleted_at_us = r.Num();
  st.deleted_by = r.Prov();
  st.locked = r.Num() != 0;
  int64_t n = r.Num();
  for (int64_t i = 0; r.ok && i < n; ++i) {
    std::string name = r.Str();
    conflict::FieldState f;
    f.value = r.Opt();
    f.provenance = r.Prov();
    st.fields[name] = std::move(f);
  }
  int64_t nx = r.Num();
  for (int64_t i = 0; r.ok && i < nx; ++i) {
    Xref x;
    x.system = r.Str();
    x.object = r.Str();
    x.id = r.Str();
    st.xrefs.push_back(std::move(x));
  }
  if (!r.ok || r.i != data.size()) return false;
  *s = std::move(st);
  return true;
}

std::vector<RouteConfig> CanonicalRoutes(const schemas::Model& model) {
  std::vector<RouteConfig> routes;
  for (const auto& [entity, def] : model.entities()) {
    for (const std::string& system : model.TargetSystems(entity)) {
      const schemas::TargetMapping* t = model.FindTarget(entity, system);
      if (t == nullptr || t->table.empty()) continue;
      RouteConfig r;
      r.from_source = kCanonicalSourcePrefix + system;
      r.from_schema = t->schema.empty() ? "public" : t->schema;
      r.from_table = t->table;
      r.to_target = system;
      r.to_schema = r.from_schema;
      r.to_table = t->table;
      routes.push_back(std::move(r));
    }
  }
  return routes;
}

Result<std::unique_ptr<CanonicalRouter>> CanonicalRouter::Create(CanonicalRouterOptions options) {
  if (options.journal == nullptr || options.model == nullptr || options.rules == nullptr)
    return Status::InvalidArgument("CanonicalRouter needs a journal, a model and ownership rules");
  if (options.systems.empty()) options.systems = options.model->Systems();
  return std::unique_ptr<CanonicalRouter>(new CanonicalRouter(std::move(options)));
}

Status CanonicalRouter::Run() {
  LogInfo("canonical", "canonical router running for systems {}", fmt::join(opts_.systems, ", "));
  while (!stop_.load()) {
    size_t n = 0;
    Status st = RunOnce(&n);
    if (!st.ok()) {
      if (st.IsUnavailable() || st.code() == StatusCode::kResourceExhausted) {
        LogWarn("canonical", "{}; retrying", st.ToString());
        std::this_thread::sleep_for(std::chrono::milliseconds(500));
        continue;
      }
      return st;
    }
    if (n == 0) {
      auto pos = opts_.journal->GetMeta(kCanonicalSeqKey);
      uint64_t next = 1;
      if (pos.ok() && pos->has_value()) next = std::stoull(**pos) + 1;
      opts_.journal->WaitFor(next, std::chrono::milliseconds(200));
    }
  }
  return Status::OK();
}

Status CanonicalRouter::RunOnce(size_t* processed) {
  Journal* j = opts_.journal;
  auto pos = j->GetMeta(kCanonicalSeqKey);
  if (!pos.ok()) return pos.status();
  uint64_t done = 0;
  if (pos->has_value()) done = std::stoull(**pos);
  std::vector<JournalEntry> entries;
  HANDOFF_RETURN_IF_ERROR(j->Read(done + 1, kReadBatch, &entries));
  if (processed) *processed = entries.size();
  if (entries.empty()) return Status::OK();

  // States touched by this batch (read-your-writes within the transaction).
  std::map<std::string, conflict::EntityState> states;
  std::map<std::string, std::string> xref_index;  // staged index entries
  std::set<std::string> held_staged;                // staged "held:<system>:<key>"
  // Whether `system` already holds the entity (it sent a change of it, or was sent one).
  auto holds = [&](const std::string& system, const std::string& key) {
    std::string hk = "held:" + system + ":" + key;
    if (held_staged.count(hk)) return true;
    auto v = j->GetMeta(hk);
    return v.ok() && v->has_value();
  };
  auto mark_held = [&](const std::string& system, const std::string& key, std::vector<std::pair<std::string, std::string>>* meta) {
    std::string hk = "held:" + system + ":" + key;
    if (held_staged.insert(hk).second) meta->emplace_back(hk, "1");
  };
  auto load_state = [&](const std::string& key) -> Result<std::optional<conflict::EntityState>> {
    auto it = states.find(key);
    if (it != states.end()) return std::optional<conflict::EntityState>(it->second);
    auto v = j->GetMeta("entity:" + key);
    if (!v.ok()) return v.status();
    if (!v->has_value() || (*v)->empty()) return std::optional<conflict::EntityState>();  // empty = no state
    conflict::EntityState s;
    if (!DecodeEntityState(**v, &s)) return Status::Internal("undecodable canonical state of " + key);
    return std::optional<conflict::EntityState>(std::move(s));
  };
  schemas::LookupFn lookup = [&](const std::string& entity, const Xref& ref) -> std::optional<schemas::EntityRecord> {
    std::string ik = XrefIndexKey(entity, ref), key;
    auto it = xref_index.find(ik);
    if (it != xref_index.end()) {
      key = it->second;
    } else {
      auto v = j->GetMeta(ik);
      if (!v.ok() || !v->has_value()) return std::nullopt;
      key = **v;
    }
    auto s = load_state(key);
    if (!s.ok() || !s->has_value()) return std::nullopt;
    schemas::EntityRecord rec;
    rec.key = key;
    for (const auto& [f, fs] : (*s)->fields) rec.fields[f] = fs.value;
    rec.xrefs = (*s)->xrefs;
    rec.deleted = (*s)->deleted;
    return rec;
  };

  std::map<std::string, AppendBatch> batches;  // by derived source
  std::vector<std::pair<std::string, std::string>> meta;
  std::vector<conflict::ExceptionRecord> parked;
  std::map<std::string, uint64_t> conflicts;  // counted once the derived changes are durable
  uint64_t last = done;
  for (const JournalEntry& e : entries) {
    last = e.seq;
    const ChangeEvent& ev = e.event;
    if (ev.source.rfind("canonical", 0) == 0) continue;  // our own output
    if (ev.op == Op::kCommit || ev.op == Op::kMessage || ev.op == Op::kTruncate) continue;
    if (!opts_.systems.count(ev.source)) continue;
    const std::string table = ev.schema + "." + ev.table;
    if (opts_.model->FindSource(ev.source, table) == nullptr) continue;
    auto mapped = opts_.model->MapSource(ev, ev.source, lookup);
    if (!mapped.ok()) {
      LogWarn("canonical", "seq {}: cannot map {}.{}: {}", e.seq, ev.source, table, mapped.status().ToString());
      continue;
    }
    if (!mapped->has_value()) continue;
    EntityChange change = std::move(**mapped);
    change.seq = e.seq;
    if (change.commit_time_us == 0) change.commit_time_us = ev.commit_time_us;
    if (change.system.empty()) change.system = ev.source;
    auto loaded = load_state(change.key);
    if (!loaded.ok()) return loaded.status();
    conflict::EntityState current;
    if (loaded->has_value()) {
      current = std::move(**loaded);
    } else {
      current.entity = change.entity;
      current.key = change.key;
    }
    conflict::Decision d = conflict::Decide(*opts_.rules, current, change);
    for (const Xref& x : change.xrefs) {  // make sure the state knows every id it was seen under
      bool have = false;
      for (const Xref& h : d.state.xrefs) have |= (h.system == x.system && h.object == x.object);
      if (!have) d.state.xrefs.push_back(x);
    }
    states[change.key] = d.state;
    meta.emplace_back("entity:" + change.key, EncodeEntityState(d.state));
    for (const Xref& x : d.state.xrefs) {
      std::string ik = XrefIndexKey(change.entity, x);
      xref_index[ik] = change.key;
      meta.emplace_back(ik, change.key);
    }
    for (const auto& a : d.audit) {
      if (a.conflict) ++conflicts[std::string(conflict::FieldOutcomeName(a.outcome))];
      if (a.outcome == conflict::FieldOutcome::kApplied || a.outcome == conflict::FieldOutcome::kUnchanged) continue;
      meta.emplace_back(fmt::format("audit:{:020}:{}", e.seq, a.field.empty() ? "*" : a.field), AuditJson(a));
    }
    if (!d.exceptions.empty()) {
      conflict::ExceptionRecord x = d.exceptions.front();
      parked.push_back(x);
    }
    if (change.op != Op::kDelete && !holds(change.system, change.key)) mark_held(change.system, change.key, &meta);
    uint64_t ordinal = 0;
    std::set<std::string> unchanged_cols;
    // A system that already holds the entity gets an UPDATE of the changed
    // columns only (the others are sent as unchanged, so a concurrent edit of
    // them in that system is not overwritten); a system that does not yet
    // hold it gets an upsert of every canonical field it holds.
    auto emit = [&](const std::string& system, FieldMap fields, Op op) {
      bool partial = false;
      if (op != Op::kDelete) {
        if (holds(system, change.key)) {
          partial = true;
        } else {
          for (const std::string& f : opts_.model->FieldsHeldBy(change.entity, system)) {
            auto it = d.state.fields.find(f);
            if (it != d.state.fields.end() && !fields.count(f)) fields[f] = it->second.value;
          }
        }
      }
      EntityChange out;
      out.entity = change.entity;
      out.key = change.key;
      out.system = change.system;
      out.op = op;
      out.commit_time_us = change.commit_time_us;
      out.seq = e.seq;
      out.xrefs = d.state.xrefs;
      if (op == Op::kDelete) {
        out.has_before = true;
        for (const auto& [f, fs] : d.state.fields) out.before[f] = fs.value;
      } else {
        out.after = fields;
      }
      auto row = opts_.model->MapChange(out, system, lookup);
      if (!row.ok()) {
        LogWarn("canonical", "seq {}: cannot map {} {} to {}: {}", e.seq, change.entity, change.key, system,
                row.status().ToString());
        return;
      }
      if (!row->has_value()) return;
      if (partial) {
        if (const schemas::TargetMapping* tm = opts_.model->FindTarget(change.entity, system)) {
          for (const auto& [col, expr] : tm->columns) {
            if ((*row)->Find(col) != nullptr) continue;
            schemas::TargetColumn unchanged;
            unchanged.name = col;
            unchanged.value = std::nullopt;
            (*row)->columns.push_back(unchanged);
            unchanged_cols.insert(col);
          }
        }
      } else if (op != Op::kDelete) {
        mark_held(system, change.key, &meta);
      }
      AppendBatch& b = batches[kCanonicalSourcePrefix + system];
      b.source = kCanonicalSourcePrefix + system;
      ChangeEvent derived = DerivedEvent(**row, e, ++ordinal);
      for (Column& c : derived.after)
        if (unchanged_cols.count(c.name)) c.kind = Column::Kind::kUnchangedToast;
      unchanged_cols.clear();
      b.upto = derived.position;
      b.events.push_back(std::move(derived));
    };
    if (d.action != conflict::EntityAction::kNone) {
      for (const std::string& system : opts_.model->TargetSystems(change.entity)) {
        if (system == change.system) continue;
        if (d.action == conflict::EntityAction::kDelete) {
          emit(system, {}, Op::kDelete);
          continue;
        }
        FieldMap fields;
        for (const std::string& f : opts_.model->FieldsHeldBy(change.entity, system)) {
          auto it = d.propagate.find(f);
          if (it != d.propagate.end()) fields[f] = it->second;
        }
        if (!fields.empty()) emit(system, fields, Op::kUpdate);
      }
    }
    if (!d.corrections.empty() && d.state.live()) {
      FieldMap fields;
      for (const std::string& f : opts_.model->FieldsHeldBy(change.entity, change.system)) {
        auto it = d.corrections.find(f);
        if (it != d.corrections.end()) fields[f] = it->second;
      }
      if (!fields.empty()) emit(change.system, fields, Op::kUpdate);
    }
  }
  meta.emplace_back(kCanonicalSeqKey, std::to_string(last));
  std::vector<AppendBatch> list;
  for (auto& [name, b] : batches) list.push_back(std::move(b));
  AppendResult res;
  HANDOFF_RETURN_IF_ERROR(j->AppendWithMeta(list, meta, &res));
  if (!conflicts.empty()) {
    std::lock_guard<std::mutex> lock(conflicts_mu_);
    for (const auto& [outcome, n] : conflicts) conflicts_[outcome] += n;
  }
  // Retention keeps what the router has not read yet (it counts as a reader named "canonical").
  Status applied = j->SetTargetApplied("canonical", last);
  if (!applied.ok()) LogWarn("canonical", "cannot record the router position: {}", applied.ToString());
  for (const auto& x : parked) {
    ExceptionRecord r;
    r.target = "canonical";
    r.seq = x.seq;
    r.code = "conflict";
    r.reason = fmt::format("{} {} from {}: {}{}", x.entity, x.key, x.system, x.field.empty() ? "" : x.field + ": ",
                           x.reason);
    r.state = ExceptionState::kOpen;
    r.created_us = r.updated_us = NowMicros();
    Status st = j->PutException(r);
    if (!st.ok()) LogWarn("canonical", "cannot park seq {}: {}", x.seq, st.ToString());
  }
  return Status::OK();
}

std::map<std::string, uint64_t> CanonicalRouter::ConflictCounts() const {
  std::lock_guard<std::mutex> lock(conflicts_mu_);
  return conflicts_;
}

}  // namespace handoff
