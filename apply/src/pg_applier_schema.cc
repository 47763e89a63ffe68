// PgApplierImpl (pg_applier_impl.h): schema changes.
//
// A schema event (Op::kSchema) of a routed table ends the chunk, re-reads the
// target table's definition and settles the columns the source added that
// the target lacks, by the route's on_new_column: `add` adds them (ALTER
// TABLE in the open transaction), `ignore` goes on without their values
// (counted, logged once), `park` holds the route at the event (an operator
// hold by "handoff", see pg_applier_holds.cc, with one new_column exception
// record) until it is resumed with the target having them or the policy
// changed; the record closes when the event goes through. Columns the source
// added or retyped are noted with the event's seq (meta
// "schema_notes:<target>:<source>.<schema>.<table>", so a restart knows
// them); a later change whose value is in such a column is parked as
// `type_changed` when the target column's type cannot hold the source's
// (type_fit.h). A dropped column simply stops coming: absent columns keep
// their target values. A change naming a column the cached definition lacks
// re-reads it (at most every kRereadEvery per table), and so does each change
// with a type mismatch, so target DDL is followed without a restart.
#include "pg_applier_impl.h"

#include <charconv>

namespace handoff::apply {
namespace {

// The journal meta key of a target's schema notes for one route. Its value
// has one line per noted column: "seq<TAB>hex(name)<TAB>hex(type)".
std::string NotesKey(const std::string& target, const RouteConfig& r) {
  return "schema_notes:" + target + ":" + RouteKey(r);
}

}  // namespace

void PgApplierImpl::LoadSchemaNotes() {
  type_notes_.clear();
  for (const auto& [key, route] : routes_) {
    auto text = opts_.journal->GetMeta(NotesKey(opts_.target.name, route));
    if (!text.ok() || !text->has_value()) continue;
    auto& notes = type_notes_[RouteKey(route)];
    std::string_view rest = **text;
    while (!rest.empty()) {
      const size_t nl = rest.find('\n');
      std::string_view line = rest.substr(0, nl);
      rest = nl == std::string_view::npos ? std::string_view() : rest.substr(nl + 1);
      const size_t t1 = line.find('\t'), t2 = t1 == std::string_view::npos ? t1 : line.find('\t', t1 + 1);
      uint64_t seq = 0;
      std::string name, type;
      if (t2 == std::string_view::npos ||
          std::from_chars(line.data(), line.data() + t1, seq).ec != std::errc() ||
          !HexDecode(line.substr(t1 + 1, t2 - t1 - 1), &name) || !HexDecode(line.substr(t2 + 1), &type)) {
        LogWarn("apply", "target {}: ignoring a malformed line of journal meta {}", opts_.target.name,
                NotesKey(opts_.target.name, route));
        continue;
      }
      notes[name].push_back({seq, type});
    }
  }
}

void PgApplierImpl::NoteSchema(uint64_t seq, const RouteConfig& route, const SchemaDiff& diff) {
  auto& notes = type_notes_[RouteKey(route)];
  for (const auto& [column, list] : notes)
    for (const TypeNote& n : list)
      if (n.seq == seq) return;  // read before (a retry, or a run before a restart)
  std::string lines;
  auto note = [&](const std::string& name, const std::string& type) {
    notes[name].push_back({seq, type});
    lines += fmt::format("{}\t{}\t{}\n", seq, HexEncode(name), HexEncode(type));
  };
  for (const Column* c : diff.added) note(c->name, c->data);
  for (const auto& r : diff.retyped) note(r.name, r.new_type);
  for (const auto& name : diff.dropped)
    if (notes.count(name)) note(name, "");
  if (lines.empty()) return;
  const std::string key = NotesKey(opts_.target.name, route);
  auto old = opts_.journal->GetMeta(key);
  Status st = old.ok() ? opts_.journal->PutMeta(key, (old->has_value() ? **old : std::string()) + lines)
                       : old.status();
  if (!st.ok())
    LogWarn("apply", "target {}: cannot note the schema change at seq {} in the journal ({}); a restart before it "
                     "is applied checks its columns' types again only from the event",
            opts_.target.name, seq, st.message());
}

std::string PgApplierImpl::RetypedMismatch(uint64_t seq, const RouteConfig& route, const apply::TableMeta& meta,
                                           const ChangeEvent& ev) {
  if (type_notes_.empty()) return std::string();
  auto it = type_notes_.find(RouteKey(route));
  if (it == type_notes_.end()) return std::string();
  for (const Column& c : ev.after) {
    if (c.kind != Column::Kind::kText) continue;  // NULL and unchanged values fit any column
    auto notes = it->second.find(c.name);
    if (notes == it->second.end()) continue;
    const TypeNote* latest = nullptr;  // the source type this change was written with
    for (const TypeNote& n : notes->second)
      if (n.seq < seq && (latest == nullptr || n.seq > latest->seq)) latest = &n;
    const int idx = meta.Find(c.name);
    if (latest == nullptr || latest->type.empty() || idx < 0 || static_cast<size_t>(idx) >= meta.types.size())
      continue;
    const std::string& target_type = meta.types[idx];
    if (apply::TypeCanHold(target_type, latest->type)) continue;
    return fmt::format("column {} is {} at the source since the schema change at seq {}, and target column {}.{} "
                       "is {}, which cannot hold every value of it; alter the target column (or the source's), then "
                       "`handoff exceptions retry`",
                       c.name, latest->type, latest->seq, meta.Name(), c.name, target_type);
  }
  return std::string();
}

Status PgApplierImpl::Reread(const RouteConfig& route, std::chrono::milliseconds every,
                             std::shared_ptr<const apply::TableMeta>* meta) {
  const std::string table = route.to_schema + "." + route.to_table;
  const auto now = std::chrono::steady_clock::now();
  auto& at = reread_at_[table];
  if (at.time_since_epoch().count() != 0 && now - at < every) return Status::OK();
  at = now;
  apply::TableCatalog fresh;
  auto read = fresh.Get(*conn_, route.to_schema, route.to_table);
  if (!read.ok()) {
    if (read.status().IsUnavailable()) return read.status();
    return Status::OK();  // gone or keyless now: the next change meets it through the catalog
  }
  if (*meta && (*read)->columns == (*meta)->columns && (*read)->types == (*meta)->types && (*read)->pk == (*meta)->pk)
    return Status::OK();
  // Written with the definition they were built for, before it is replaced.
  HANDOFF_RETURN_IF_ERROR(FlushChunk());
  if (*meta) HANDOFF_RETURN_IF_ERROR(AsTransient(writer_->DropStages({*meta})));
  catalog_.Forget(route.to_schema, route.to_table);
  auto again = catalog_.Get(*conn_, route.to_schema, route.to_table);
  if (!again.ok()) return again.status().IsUnavailable() ? again.status() : Status::OK();
  if (*meta && !pauses_.paused())
    LogInfo("apply", "target {}: table {} changed its columns; now writing {} column(s)", opts_.target.name,
            (*again)->Name(), (*again)->columns.size());
  *meta = *again;
  return Status::OK();
}

Status PgApplierImpl::FollowSchema(uint64_t seq, bool boundary, const RouteConfig& route, const ChangeEvent& ev) {
  const std::string table = route.to_schema + "." + route.to_table;
  const SchemaDiff diff = DiffSchema(ev);
  NoteSchema(seq, route, diff);
  HANDOFF_RETURN_IF_ERROR(FlushChunk());  // what came before has the old shape
  auto cached = catalog_.Get(*conn_, route.to_schema, route.to_table);
  if (!cached.ok()) {
    if (cached.status().IsUnavailable()) return cached.status();
    const bool missing = cached.status().code() == StatusCode::kNotFound;
    return Refused(seq, boundary, table, nullptr, ev, missing ? "42P01" : "no_primary_key", cached.status().message());
  }
  std::shared_ptr<const apply::TableMeta> meta = *cached;
  HANDOFF_RETURN_IF_ERROR(Reread(route, std::chrono::milliseconds(0), &meta));
  std::vector<const Column*> missing;
  for (const Column* c : diff.added)
    if (meta->Find(c->name) < 0) missing.push_back(c);
  const std::string what = fmt::format("source {} changed the columns of {}.{} (seq {}): {}", ev.source, ev.schema,
                                       ev.table, seq, DescribeSchemaChange(ev));
  if (missing.empty()) {
    if (!pauses_.paused()) LogInfo("apply", "target {}: {}; {} has every added column", opts_.target.name, what, table);
    CloseNewColumnRecord(seq, "the target table has the column(s) now");
    return Status::OK();
  }
  std::string names;
  for (const Column* c : missing) names += (names.empty() ? "" : ", ") + fmt::format("{} ({})", c->name, c->data);
  switch (route.on_new_column) {
    case NewColumnPolicy::kIgnore:
      CloseNewColumnRecord(seq, "on_new_column is ignore now: applied without the column(s)");
      for (const Column* c : missing) {
        counters_.columns_ignored.fetch_add(1);
        if (ignored_logged_.insert(table + "\t" + c->name).second)
          LogWarn("apply",
                  "target {}: {}; {} has no column {} and the route's on_new_column is ignore: its values are not "
                  "applied (counted in handoff_schema_columns_total{{action=\"ignored\"}})",
                  opts_.target.name, what, table, c->name);
      }
      return Status::OK();
    case NewColumnPolicy::kAdd: {
      HANDOFF_RETURN_IF_ERROR(Begin());
      for (const Column* c : missing) {
        // The type text comes from the source's format_type(); it must name a
        // type here, and a one-statement query cannot carry a second statement.
        PgRows known;
        std::string code, message;
        if (apply::PlainTypeName(c->data)) {
          HANDOFF_RETURN_IF_ERROR(UnderSavepoint(
              [&] { return conn_->Query("SELECT to_regtype($1) IS NOT NULL", {c->data}, &known); }, &code, &message));
        } else {
          code = "42601";
          message = "'" + c->data + "' is not a plain type name";
        }
        if (code.empty() && (known.empty() || !known[0][0] || *known[0][0] != "t")) {
          code = "42704";
          message = "type " + c->data + " does not exist in the target database";
        }
        if (code.empty()) {
          const std::string sql = "ALTER TABLE " + meta->quoted + " ADD COLUMN IF NOT EXISTS " +
                                  QuoteIdent(c->name) + " " + c->data;
          HANDOFF_RETURN_IF_ERROR(UnderSavepoint([&] { return conn_->Query(sql, {}); }, &code, &message));
        }
        if (!code.empty())
          return Refused(seq, boundary, table, meta.get(), ev, code,
                         fmt::format("{}; on_new_column is add, but column {} ({}) cannot be added to {}: {}", what,
                                     c->name, c->data, table, message));
        counters_.columns_added.fetch_add(1);
        LogInfo("apply", "target {}: {}; added column {} {} to {} (on_new_column: add)", opts_.target.name, what,
                c->name, c->data, table);
      }
      CloseNewColumnRecord(seq, "on_new_column is add now: the column(s) were added");
      return Reread(route, std::chrono::milliseconds(0), &meta);
    }
    case NewColumnPolicy::kPark:
      break;
  }
  const std::string from = apply::RouteFrom(route);
  const std::string why = fmt::format(
      "{}; {} has no column {} and the route's on_new_column is park: add the column(s) to the target table, then "
      "`handoff resume --target {} --route {}`; or set the route's on_new_column to add or ignore, `handoff "
      "reload` and resume the route",
      what, table, names, opts_.target.name, from);
  // A replay or a retry of parked entries reports it as a refusal.
  if (pausing() && only_.empty()) return ParkRoute(seq, route, ev, why);
  return Refused(seq, boundary, table, meta.get(), ev, "new_column", why);
}

Status PgApplierImpl::ParkRoute(uint64_t seq, const RouteConfig& route, const ChangeEvent& ev,
                                const std::string& why) {
  const std::string from = apply::RouteFrom(route);
  OperatorHold h;
  h.route = from;
  h.actor = "handoff";
  h.note = "new column at the source (on_new_column: park), see exception " + opts_.target.name + "/" +
           std::to_string(seq);
  h.since_us = NowMicros();
  // The hold is what keeps the route back across restarts: without it, nothing is skipped.
  Status st = PutTargetHold(opts_.journal, opts_.target.name, h);
  if (!st.ok()) return Status::Unavailable("cannot record the hold of route " + from + ": " + st.message());
  auto existing = opts_.journal->GetException(opts_.target.name, seq);
  if (!existing.ok() || !existing->has_value() || (*existing)->state != ExceptionState::kOpen) {
    ExceptionRecord r;
    r.target = opts_.target.name;
    r.seq = seq;
    r.code = "new_column";
    r.reason = why;
    r.new_image = apply::ImageJson(ev.after);
    if (ev.has_before) r.old_image = apply::ImageJson(ev.before);
    r.state = ExceptionState::kOpen;
    r.created_us = r.updated_us = NowMicros();
    st = opts_.journal->PutException(r);
    if (!st.ok()) return Status::Unavailable("cannot record exception " + std::to_string(seq) + ": " + st.message());
    LogWarn("apply", "target {}: route {} held at seq {} [new_column]: {}", opts_.target.name, from, seq, why);
  }
  holds_.Refresh(/*force=*/true);
  behind_[from] = seq - 1;  // the catch-up point; written with the transaction it belongs to
  if (catching_up_) route_parked_ = true;
  return Status::OK();
}

void PgApplierImpl::CloseNewColumnRecord(uint64_t seq, const std::string& how) {
  if (!only_.empty()) return;  // a retry closes it itself
  auto rec = opts_.journal->GetException(opts_.target.name, seq);
  if (!rec.ok() || !rec->has_value() || (*rec)->state != ExceptionState::kOpen || (*rec)->code != "new_column") return;
  ExceptionRecord r = **rec;
  r.state = ExceptionState::kRetried;
  r.actor = "handoff";
  r.note = how;
  r.updated_us = NowMicros();
  Status st = opts_.journal->PutException(r);
  if (!st.ok()) LogWarn("apply", "target {}: cannot close exception {}: {}", opts_.target.name, seq, st.message());
  else LogInfo("apply", "target {}: exception {} [new_column] closed: {}", opts_.target.name, seq, how);
}

}  // namespace handoff::apply
