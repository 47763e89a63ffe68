// PgApplierImpl (pg_applier_impl.h): how a routed change becomes a write.
// Changes are checked against the target table's definition, built into row
// operations and gathered in the chunk; a full chunk is written set-based
// under a savepoint, and when that fails, change by change under savepoints
// of their own, so the one change at fault is parked (or, for a refusal of
// the target, ends the session: see "Pauses" in pg_applier.cc). The members
// of a multi-table truncate are gathered and applied as one statement.
#include "pg_applier_impl.h"

namespace handoff::apply {

Status PgApplierImpl::AddChange(uint64_t seq, bool boundary, const RouteConfig& route, ChangeEvent&& ev) {
  const std::string table = route.to_schema + "." + route.to_table;
  auto meta = catalog_.Get(*conn_, route.to_schema, route.to_table);
  if (!meta.ok()) {
    if (meta.status().IsUnavailable()) return meta.status();
    const bool missing = meta.status().code() == StatusCode::kNotFound;
    HANDOFF_RETURN_IF_ERROR(FlushChunk());  // what came before is written first
    return Refused(seq, boundary, table, nullptr, ev, missing ? "42P01" : "no_primary_key", meta.status().message());
  }
  std::shared_ptr<const apply::TableMeta> current = *meta;
  for (const Column& c : ev.after) {
    if (current->Find(c.name) >= 0) continue;
    // A column the cached definition lacks: the target may have gained it.
    HANDOFF_RETURN_IF_ERROR(Reread(route, kRereadEvery, &current));
    break;
  }
  if (std::string why = RetypedMismatch(seq, route, *current, ev); !why.empty()) {
    HANDOFF_RETURN_IF_ERROR(Reread(route, kRereadMismatch, &current));  // altered since?
    why = RetypedMismatch(seq, route, *current, ev);
    if (!why.empty()) return Park(seq, table, current.get(), ev, "type_changed", why);
  }
  PendingChange change{seq, current, {}, std::move(ev)};
  change.boundary = boundary;
  // Bytes the target cannot hold are parked before anything is sent: never
  // truncated, and a key cut short never reaches another key's row.
  Status storable = apply::CheckStorable(*current, change.event);
  if (!storable.ok()) return Park(seq, table, current.get(), change.event, "invalid_bytes", storable.message());
  Status built = apply::BuildRowOps(*current, change.event, &change.ops);
  if (!built.ok()) return Park(seq, table, current.get(), change.event, "invalid_change", built.message());
  if (change.ops.empty()) return Status::OK();
  const bool direct = std::any_of(change.ops.begin(), change.ops.end(), [](const auto& op) { return op.Direct(); });
  if (direct) {  // a chunk boundary: what came before is written first
    HANDOFF_RETURN_IF_ERROR(FlushChunk());
    HANDOFF_RETURN_IF_ERROR(Begin());
    return ApplyOne(change);
  }
  chunk_.push_back(std::move(change));
  if (chunk_.size() >= kChunkRows) return FlushChunk();
  return Status::OK();
}

Status PgApplierImpl::AddTruncateMember(uint64_t seq, bool boundary, ChangeEvent&& ev) {
  const std::string source = ev.source;
  TruncateGroup& group = truncates_[source];
  if (ev.truncate_index == 0 || ev.truncate_index != group.next || ev.truncate_count != group.count) {
    // A new statement; a group cut short (never expected) is applied as far as it came.
    if (!group.members.empty()) HANDOFF_RETURN_IF_ERROR(FinishTruncate(source));
    TruncateGroup& fresh = truncates_[source];
    fresh.count = ev.truncate_count;
    fresh.next = ev.truncate_index;
  }
  TruncateGroup& g = truncates_[source];
  g.next = ev.truncate_index + 1;
  const bool last = g.next >= g.count;
  auto route = routes_.find({ev.source, ev.schema, ev.table});
  if (route != routes_.end() && !RouteSkipped(seq, route->second)) {
    const RouteConfig& r = route->second;
    auto meta = catalog_.Get(*conn_, r.to_schema, r.to_table);
    if (!meta.ok()) {
      if (meta.status().IsUnavailable()) return meta.status();
      const bool missing = meta.status().code() == StatusCode::kNotFound;
      // A condition of the whole target: the target pauses at the statement's
      // first member, none of it applied (the retry reads the group again).
      const uint64_t first = g.members.empty() ? seq : g.members.front().seq;
      const bool first_boundary = g.members.empty() ? boundary : g.members.front().boundary;
      truncates_.erase(source);
      HANDOFF_RETURN_IF_ERROR(FlushChunk());
      return Refused(first, first_boundary, r.to_schema + "." + r.to_table, nullptr, ev,
                     missing ? "42P01" : "no_primary_key", meta.status().message());
    } else {
      PendingChange change{seq, *meta, {}, std::move(ev)};
      change.boundary = boundary;
      HANDOFF_RETURN_IF_ERROR(apply::BuildRowOps(**meta, change.event, &change.ops));
      g.members.push_back(std::move(change));
    }
  }
  return last ? FinishTruncate(source) : Status::OK();
}

Status PgApplierImpl::FinishTruncate(const std::string& source) {
  auto it = truncates_.find(source);
  if (it == truncates_.end()) return Status::OK();
  std::vector<PendingChange> members = std::move(it->second.members);
  truncates_.erase(it);
  if (members.empty()) return Status::OK();
  HANDOFF_RETURN_IF_ERROR(FlushChunk());
  HANDOFF_RETURN_IF_ERROR(Begin());
  std::string code, message;
  HANDOFF_RETURN_IF_ERROR(UnderSavepoint([&] { return writer_->WriteTruncate(members); }, &code, &message));
  if (code.empty()) {
    txn_rows_ += members.size();
    return Status::OK();
  }
  // The statement failed as a whole: a condition of the target (privilege,
  // a missing table) pauses it at the first member; anything else parks
  // every member with its reason.
  if (IsTargetRefusal(code))
    return Refused(members.front().seq, members.front().boundary, members.front().meta->Name(),
                   members.front().meta.get(), members.front().event, code, message);
  for (const PendingChange& m : members)
    HANDOFF_RETURN_IF_ERROR(Park(m.seq, m.meta->Name(), m.meta.get(), m.event, code, message));
  return Status::OK();
}


Status PgApplierImpl::Begin() {
  if (in_txn_) return Status::OK();
  // Deferred constraints are checked per statement so that savepoints can
  // isolate the change that breaks them.
  HANDOFF_RETURN_IF_ERROR(AsTransient(conn_->Exec("BEGIN; SET CONSTRAINTS ALL IMMEDIATE")));
  in_txn_ = true;
  return Status::OK();
}

Status PgApplierImpl::FlushChunk() {
  if (chunk_.empty()) return Status::OK();
  HANDOFF_RETURN_IF_ERROR(Begin());
  HANDOFF_RETURN_IF_ERROR(AsTransient(conn_->Exec("SAVEPOINT handoff_chunk")));
  Status st = writer_->WriteCollapsed(chunk_);
  if (st.ok()) {
    HANDOFF_RETURN_IF_ERROR(AsTransient(conn_->Exec("RELEASE SAVEPOINT handoff_chunk")));
    txn_rows_ += chunk_.size();
    chunk_.clear();
    return Status::OK();
  }
  if (st.IsUnavailable()) return st;
  if (pauses_.paused()) {  // a retry while paused: the pause has its own log lines
    LogDebug("apply", "target {}: a chunk of {} changes failed ({}); isolating the failing change", opts_.target.name,
             chunk_.size(), st.message());
  } else {
    LogInfo("apply", "target {}: a chunk of {} changes failed ({}); isolating the failing change", opts_.target.name,
            chunk_.size(), st.message());
  }
  HANDOFF_RETURN_IF_ERROR(AsTransient(conn_->Exec("ROLLBACK TO SAVEPOINT handoff_chunk")));
  // The failure may come from a table definition that changed: reload it later.
  std::vector<std::shared_ptr<const apply::TableMeta>> tables;
  for (const auto& c : chunk_) tables.push_back(c.meta);
  HANDOFF_RETURN_IF_ERROR(AsTransient(writer_->DropStages(tables)));
  catalog_.Clear();
  for (const PendingChange& c : chunk_) HANDOFF_RETURN_IF_ERROR(ApplyOne(c));
  HANDOFF_RETURN_IF_ERROR(AsTransient(conn_->Exec("RELEASE SAVEPOINT handoff_chunk")));
  chunk_.clear();
  return Status::OK();
}

Status PgApplierImpl::ApplyOne(const PendingChange& change) {
  std::string code, message;
  HANDOFF_RETURN_IF_ERROR(UnderSavepoint([&] { return writer_->WriteOne(change); }, &code, &message));
  if (code.empty()) {
    ++txn_rows_;
    return Status::OK();
  }
  if (IsTargetRefusal(code))
    return Refused(change.seq, change.boundary, change.meta->Name(), change.meta.get(), change.event, code, message);
  return Park(change.seq, change.meta->Name(), change.meta.get(), change.event, code, message);
}

Status PgApplierImpl::Refused(uint64_t seq, bool boundary, const std::string& table, const apply::TableMeta* meta,
                              const ChangeEvent& ev, const std::string& code, const std::string& message) {
  if (!only_.empty()) return Park(seq, table, meta, ev, code, message);  // a retry reports it as before
  if (!hold_) {
    apply::HoldCause h;
    h.seq = seq;
    h.boundary = boundary;
    h.table = table;
    h.code = code;
    h.message = message;
    h.change = fmt::format("the {} of key {} (source {} at {})", OpName(ev.op), apply::DescribeKey(meta, ev),
                           ev.source, FormatPosition(ev.position));
    if (!ev.after.empty()) h.new_image = apply::ImageJson(ev.after);
    hold_ = std::move(h);
  }
  if (!pausing())
    return Status::Permanent(fmt::format("replay stopped at seq {}: {} refuses changes [{}]: {}", seq, table, code,
                                         message));
  return Status::Unavailable(fmt::format("held at seq {}", seq));  // ends the session; Run() pauses
}

Status PgApplierImpl::Park(uint64_t seq, const std::string& table, const apply::TableMeta* meta,
                           const ChangeEvent& ev, const std::string& code, const std::string& message) {
  ExceptionRecord r;
  r.target = opts_.target.name;
  r.seq = seq;
  r.code = code;
  r.reason = fmt::format("could not apply the {} of {} key {} (source {} at {}) to {}: {}", OpName(ev.op), table,
                         apply::DescribeKey(meta, ev), ev.source, FormatPosition(ev.position), opts_.target.name,
                         message);
  if (ev.has_before) r.old_image = apply::ImageJson(ev.before);
  if (!ev.after.empty()) r.new_image = apply::ImageJson(ev.after);
  r.state = ExceptionState::kOpen;
  r.created_us = r.updated_us = NowMicros();
  // The change may only be skipped once it is safely parked.
  Status st = opts_.journal->PutException(r);
  if (!st.ok()) return Status::Unavailable("cannot park seq " + std::to_string(seq) + ": " + st.message());
  ++txn_exceptions_;
  if (opts_.on_parked) opts_.on_parked(seq, code);
  LogWarn("apply", "target {}: parked seq {} [{}]: {}", opts_.target.name, seq, code, r.reason);
  return Status::OK();
}

}  // namespace handoff::apply
