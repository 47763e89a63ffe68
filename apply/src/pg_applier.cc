// PgApplier: the apply loop of one PostgreSQL target.
//
// Transaction shape. The journal interleaves the events of several sources. A
// source transaction runs from its first change to its kCommit entry. The
// applier keeps one target transaction open while any source transaction is
// open (its kCommit not yet read), and commits once none is open and either
// batch_rows changes were written or the journal is caught up. A target commit
// therefore always covers whole source transactions, and the seq it records
// in handoff_applied (in the same transaction) is a point where no source
// transaction is half applied: restarting from seq+1 never splits one.
//
// Memory. Changes are buffered in a chunk of at most kChunkRows; a full chunk
// is written (ChunkWriter, set-based) inside the open transaction, so a source
// transaction of any size needs only one chunk of memory.
//
// Truncates. A TRUNCATE naming several captured tables arrives as a group of
// truncate events (truncate_index 0..count-1, consecutive in their source's
// transaction). The routed members are gathered and applied as one TRUNCATE
// statement with the source's options, so tables tied by a foreign key go
// together (one at a time, the referenced one fails with 0A000).
//
// Failures. Each chunk runs under a savepoint. A permanent error (data,
// constraint) rolls back to it and re-applies the chunk change by change, each
// under its own savepoint; a change that fails is parked in the journal's
// exception queue and the rest commit. A transient error (connection,
// serialization, deadlock, resources) abandons the session: roll back,
// reconnect with backoff, re-read handoff_applied (which also settles a commit
// whose outcome was unknown) and redo from there.
//
// Pauses. A target refusal (a missing table, privilege, ...: sqlstate.h) is
// not the change's fault, and every later change would meet it too. The
// session ends at the first such change S instead: when no source transaction
// was open before S, what came before it is committed with position S - 1
// (the prefix is whole transactions); otherwise the transaction is rolled
// back. Then Run() pauses (PauseRecorder): it retries with its own backoff,
// or at once on `handoff resume`, and the first commit past S resumes it. A
// replay stops at S with an error; a retry of parked entries parks S again.
//
// The class is declared in pg_applier_impl.h; schema changes, holds and the
// way a change becomes a write are in the files that header lists.
#include "pg_applier_impl.h"

#include "handoff/engine/fault.h"

namespace handoff {
namespace apply {
namespace {

// The replication origin of a target: <prefix>_<target>, cut to PostgreSQL's
// 512-byte limit on origin names.
std::string OriginOf(const PgApplierOptions& o) {
  std::string prefix = !o.origin.empty() ? o.origin : "handoff_" + o.journal->id().substr(0, 16);
  return (prefix + "_" + o.target.name).substr(0, 500);
}

}  // namespace

Status PgApplierImpl::Run() {
  if (pausing()) pauses_.Load();
  Status st = loop_.Run([this] { return Session(); });
  conn_.reset();
  writer_.reset();
  if (!st.ok()) return st;  // failed, with its reason (RetryLoop)
  counters_.health.Set(HealthState::kStopped);
  return Status::OK();
}

// One session and what its end means: a hold or a pause waits here (handled),
// kUnavailable is retried with backoff, anything else stops the worker.
SessionEnd PgApplierImpl::Session() {
  hold_.reset();
  held_by_.reset();
  SessionEnd end;
  end.status = RunSession();
  if (hold_ && pausing()) CommitBeforeHold();
  Rollback();
  if (end.status.ok() || stopping()) return end;
  conn_.reset();
  writer_.reset();
  if (held_by_) {
    WaitHeld();
    end.failure = FailureClass::kHandled;
    return end;
  }
  if (!end.status.IsUnavailable()) {
    end.failure = FailureClass::kFatal;
    return end;
  }
  if (hold_ || pauses_.paused()) {
    // Paused: one log line per change of state (PauseRecorder), none per retry.
    if (hold_) pauses_.Hold(*hold_, committed_seq_ + 1);
    else pauses_.Tried();
    if (hold_) {
      LogDebug("apply", "target {}: attempt {} held at seq {}", opts_.target.name, pause_attempt_, hold_->seq);
    } else {
      LogDebug("apply", "target {}: retry while paused failed: {}", opts_.target.name, end.status.message());
    }
    resume_actor_.clear();
    WaitPaused();
    end.failure = FailureClass::kHandled;
    return end;
  }
  pause_attempt_ = 0;
  counters_.retries.fetch_add(1);
  end.failure = FailureClass::kTransient;  // retrying: the first failure of a cause and a summary per doubling
  return end;
}

void PgApplierImpl::CommitBeforeHold() {
  if (!hold_->boundary || !in_txn_ || !conn_ || !conn_->alive() || hold_->seq <= committed_seq_ + 1) return;
  if (catching_up_) return;  // its row would not cover the prefix: the catch-up is redone
  chunk_.clear();  // changes at and after the held one; those before are written
  open_sources_.clear();
  last_seq_ = hold_->seq - 1;
  // A route left behind after the held change: behind from there on, as
  // nothing of the rolled-off part is written.
  for (auto& [from, seq] : behind_) seq = std::min(seq, last_seq_);
  Status st = Commit();
  if (!st.ok()) LogDebug("apply", "target {}: cannot commit before seq {}: {}", opts_.target.name, hold_->seq,
                         st.message());
}

void PgApplierImpl::WaitPaused() {
  const int64_t lo = std::max<int64_t>(1, opts_.pause_min_backoff.count());
  const int64_t hi = std::max<int64_t>(lo, opts_.pause_max_backoff.count());
  int64_t d = lo;
  for (int i = 0; i < pause_attempt_ && d < hi; ++i) d *= 2;
  ++pause_attempt_;
  const auto now = std::chrono::steady_clock::now();
  const auto deadline = now + std::chrono::milliseconds(std::min(d, hi));
  auto next_count = now + std::chrono::seconds(1);
  while (!stopping()) {
    const bool resume = pauses_.TakeResumeRequest(&resume_actor_);
    if (std::chrono::steady_clock::now() >= next_count) {
      pauses_.CountHeld();
      next_count = std::chrono::steady_clock::now() + std::chrono::seconds(1);
    }
    if (resume) {
      LogInfo("apply", "target {}: resume requested by {}; retrying now", opts_.target.name, resume_actor_);
      return;
    }
    const auto left = deadline - std::chrono::steady_clock::now();
    if (left <= std::chrono::milliseconds(0)) return;
    stop_.WaitFor(std::min(std::chrono::duration_cast<std::chrono::milliseconds>(left), std::chrono::milliseconds(200)));
  }
}

void PgApplierImpl::WaitHeld() {
  const std::string& name = opts_.target.name;
  while (!stopping()) {
    holds_.Refresh(true);
    const OperatorHold* h = holds_.target_hold();
    if (h != nullptr && counters_.health.Set(HealthState::kPaused, apply::HoldWatch::Describe(*h)))
      LogInfo("apply", "target {}: {}; nothing from seq {} on is applied until `handoff resume`", name,
              apply::HoldWatch::Describe(*h), committed_seq_ + 1);
    if (h == nullptr) break;
    stop_.WaitFor(apply::kHoldRefresh);
  }
  if (!stopping()) LogInfo("apply", "target {}: operator hold lifted; applying from seq {}", name, committed_seq_ + 1);
}

Status PgApplierImpl::Connect() {
  const std::string& name = opts_.target.name;
  auto conn = ConnectTarget(opts_.target.dsn, "handoff apply " + name);
  if (!conn.ok()) return Status::Unavailable("cannot connect: " + conn.status().message());
  conn_ = std::move(conn).value();
  writer_ = std::make_unique<ChunkWriter>(conn_.get());
  catalog_.Clear();
  // Concurrent workers may race on the IF NOT EXISTS: a duplicate is retried.
  auto setup = [&](const std::string& sql) {
    Status st = conn_->Exec(sql);
    if (!st.ok() && (conn_->last_sqlstate() == "23505" || conn_->last_sqlstate() == "42P07"))
      return Status::Unavailable(st.message());
    return st;
  };
  HANDOFF_RETURN_IF_ERROR(PrepareAppliedTable(setup));
  // Replication origins are cluster-wide and, on PostgreSQL 15, held by one
  // session at a time: each pipeline's target (and a replay) gets its own.
  // Every name starts with "handoff" so capture recognises each as an
  // engine's write (see OriginOf).
  std::string origin = OriginOf(opts_) + (opts_.replay_from_seq ? "_replay" : "");
  PgRows ignored;
  Status origin_st = conn_->Query(
      "SELECT pg_replication_origin_create($1) WHERE pg_replication_origin_oid($1) IS NULL", {origin}, &ignored);
  if (!origin_st.ok() && conn_->last_sqlstate() == "23505") return Status::Unavailable(origin_st.message());
  HANDOFF_RETURN_IF_ERROR(origin_st);
  Status setup_st = conn_->Query("SELECT pg_replication_origin_session_setup($1)", {origin}, &ignored);
  if (!setup_st.ok() && conn_->last_sqlstate() == "55006")  // origin in use by another session
    return Status::Unavailable(setup_st.message());
  HANDOFF_RETURN_IF_ERROR(setup_st);
  HANDOFF_RETURN_IF_ERROR(ReadAppliedPosition());
  if (opts_.replay_from_seq) {
    if (!replay_started_) {
      replay_started_ = true;
      replay_end_ = !only_.empty() ? *only_.rbegin() : opts_.journal->LastSeq();
      committed_seq_ = *opts_.replay_from_seq > 0 ? *opts_.replay_from_seq - 1 : 0;
    }
  } else {
    committed_seq_ = db_applied_;
  }
  next_seq_ = last_seq_ = committed_seq_;
  ++next_seq_;
  LoadSchemaNotes();
  counters_.applied_seq.store(AppliedFloor());
  if (pauses_.paused()) {  // a retry: quiet, the pause has its own log lines
    LogDebug("apply", "target {}: connected (backend {}), retrying from seq {}", name, conn_->backend_pid(), next_seq_);
  } else {
    LogInfo("apply", "target {}: connected (backend {}), applying from seq {}", name, conn_->backend_pid(), next_seq_);
    loop_.Succeeded();
    counters_.health.Set(HealthState::kApplying);
  }
  return Status::OK();
}

// handoff_applied(target, journal_id, seq): one row per (target, journal).
// A table of the shape before journal ids (key: target alone) is migrated in
// place; its rows get journal_id '' (a position of an unknown journal).
template <typename Setup>
Status PgApplierImpl::PrepareAppliedTable(const Setup& setup) {
  HANDOFF_RETURN_IF_ERROR(setup(
      "CREATE TABLE IF NOT EXISTS handoff_applied(target text NOT NULL, journal_id text NOT NULL DEFAULT '',"
      " seq bigint NOT NULL, updated_at timestamptz NOT NULL DEFAULT now(), PRIMARY KEY (target, journal_id))"));
  PgRows rows;
  const char* kHasColumn =
      "SELECT 1 FROM pg_attribute WHERE attrelid = 'handoff_applied'::regclass AND attname = 'journal_id'"
      " AND NOT attisdropped";
  HANDOFF_RETURN_IF_ERROR(conn_->Query(kHasColumn, {}, &rows));
  if (!rows.empty()) return Status::OK();
  HANDOFF_RETURN_IF_ERROR(conn_->Exec("BEGIN"));
  Status st = conn_->Exec("LOCK TABLE handoff_applied IN ACCESS EXCLUSIVE MODE");
  if (st.ok()) st = conn_->Query(kHasColumn, {}, &rows);  // another worker may have done it
  if (st.ok() && rows.empty()) {
    st = conn_->Exec(
        "ALTER TABLE handoff_applied ADD COLUMN journal_id text NOT NULL DEFAULT '',"
        " DROP CONSTRAINT IF EXISTS handoff_applied_pkey, ADD PRIMARY KEY (target, journal_id)");
    if (st.ok()) LogInfo("apply", "target {}: handoff_applied now keys positions by journal id", opts_.target.name);
  }
  if (st.ok()) return AsTransient(conn_->Exec("COMMIT"));
  (void)conn_->Exec("ROLLBACK");
  return st;
}

// Reads this journal's position in the target. A position another journal
// recorded is never used: this journal is applied from its start (every
// write is an idempotent upsert, delete or truncate), and that is logged.
Status PgApplierImpl::ReadAppliedPosition() {
  const std::string& name = opts_.target.name;
  const std::string& id = opts_.journal->id();
  PgRows rows;
  HANDOFF_RETURN_IF_ERROR(
      conn_->Query("SELECT journal_id, seq FROM handoff_applied WHERE target = $1 ORDER BY updated_at DESC",
                   {name}, &rows));
  applied_journal_id_ = id;
  db_applied_ = 0;
  std::optional<uint64_t> legacy;
  std::string foreign;
  uint64_t foreign_seq = 0;
  std::vector<std::pair<std::string, uint64_t>> route_rows;  // "<journal id>/route:<from>" rows
  bool found = false;
  for (const auto& row : rows) {
    const std::string jid = row[0] ? *row[0] : std::string();
    uint64_t seq = row[1] ? std::strtoull(row[1]->c_str(), nullptr, 10) : 0;
    if (jid.find("/route:") != std::string::npos) {
      route_rows.emplace_back(jid, seq);
      continue;
    }
    if (found) continue;
    if (jid == id) {
      db_applied_ = seq;
      found = true;
      continue;
    }
    if (jid.empty()) legacy = seq;
    if (foreign.empty()) foreign = jid.empty() ? "(written before journal ids)" : jid, foreign_seq = seq;
  }
  if (!found && legacy && opts_.journal->legacy_id()) {
    // Both predate journal ids: the target's row is this journal's.
    applied_journal_id_.clear();
    db_applied_ = *legacy;
    found = true;
  }
  LoadRouteRows(route_rows);
  if (found) return Status::OK();
  if (!foreign.empty() && !foreign_reported_ && !opts_.replay_from_seq) {
    foreign_reported_ = true;
    LogWarn("apply",
            "target {}: handoff_applied holds seq {} of journal {}, not of this engine's journal {}; that position "
            "is not used, this journal is applied from its start (idempotent)",
            name, foreign_seq, foreign, id);
  }
  return Status::OK();
}

void PgApplierImpl::LoadRouteRows(const std::vector<std::pair<std::string, uint64_t>>& rows) {
  behind_.clear();
  const std::string prefix = applied_journal_id_ + "/route:";
  for (const auto& [jid, seq] : rows) {
    if (jid.compare(0, prefix.size(), prefix) != 0) continue;  // another journal's
    const std::string from = jid.substr(prefix.size());
    bool configured = false;
    for (const auto& [key, r] : routes_) configured = configured || apply::RouteFrom(r) == from;
    if (!configured) {
      LogWarn("apply", "target {}: handoff_applied has a catch-up point (seq {}) of route {}, which is no route of "
                       "it any more; it is ignored", opts_.target.name, seq, from);
      continue;
    }
    behind_[from] = seq;
  }
  behind_committed_ = behind_;
}

Status PgApplierImpl::RunSession() {
  HANDOFF_RETURN_IF_ERROR(Connect());
  const bool replay = opts_.replay_from_seq.has_value();
  std::vector<JournalEntry> entries;
  while (!stopping()) {
    if (TargetHeldHere()) return StopForHold(*holds_.target_hold(), true);
    NoteRouteHolds();
    if (RouteCatchUpDue()) HANDOFF_RETURN_IF_ERROR(CatchUpRoutes());
    if (replay && next_seq_ > replay_end_ && open_sources_.empty()) {
      if (last_seq_ > committed_seq_ || !chunk_.empty()) HANDOFF_RETURN_IF_ERROR(Commit());
      LogInfo("apply", "target {}: replay done through seq {}", opts_.target.name, committed_seq_);
      return Status::OK();
    }
    entries.clear();
    HANDOFF_RETURN_IF_ERROR(opts_.journal->Read(next_seq_, kReadBatch, &entries));
    if (entries.empty()) {
      if (open_sources_.empty() && last_seq_ > committed_seq_) {
        HANDOFF_RETURN_IF_ERROR(Commit());
        continue;
      }
      opts_.journal->WaitFor(next_seq_, kPoll);
      continue;
    }
    for (JournalEntry& e : entries) {
      if (stopping()) break;
      if (replay && e.seq > replay_end_ && open_sources_.empty()) break;
      if (TargetHeldHere()) return StopForHold(*holds_.target_hold(), true);
      if (RouteCatchUpDue()) HANDOFF_RETURN_IF_ERROR(CatchUpRoutes());
      if (stopping()) break;
      HANDOFF_RETURN_IF_ERROR(ApplyEntry(e));
      if (open_sources_.empty() && txn_rows_ + chunk_.size() >= opts_.target.batch_rows)
        HANDOFF_RETURN_IF_ERROR(Commit());
    }
    const bool caught_up = entries.size() < kReadBatch;
    if (!stopping() && caught_up && open_sources_.empty() && last_seq_ > committed_seq_)
      HANDOFF_RETURN_IF_ERROR(Commit());
  }
  return Status::OK();
}

Status PgApplierImpl::ApplyEntry(JournalEntry& entry) {
  ChangeEvent& ev = entry.event;
  if (entry.seq < next_seq_) return Status::OK();  // defensive: never apply twice in a run
  if (pausing() && only_.empty()) holds_.Refresh();
  next_seq_ = entry.seq + 1;
  last_seq_ = entry.seq;
  const bool grouped = ev.op == Op::kTruncate && ev.truncate_count > 1 && only_.empty();
  if (!grouped && !truncates_.empty()) HANDOFF_RETURN_IF_ERROR(FinishTruncate(ev.source));
  if (ev.op == Op::kCommit) {
    open_sources_.erase(ev.source);
    return Status::OK();
  }
  if (ev.op == Op::kMessage) return Status::OK();
  const bool boundary = open_sources_.empty();  // every source transaction before this entry is whole
  if (IsTransactional(ev)) open_sources_.insert(ev.source);
  if (!only_.empty()) {  // a retried member of a truncate group is applied on its own
    if (only_.count(entry.seq) == 0) return Status::OK();
    if (opts_.replacement) ev = *opts_.replacement;
  }
  if (grouped) return AddTruncateMember(entry.seq, boundary, std::move(ev));
  auto it = routes_.find({ev.source, ev.schema, ev.table});
  if (it == routes_.end()) return Status::OK();  // not for this target
  if (RouteSkipped(entry.seq, it->second)) return Status::OK();
  if (ev.op == Op::kSchema) return FollowSchema(entry.seq, boundary, it->second, ev);
  return AddChange(entry.seq, boundary, it->second, std::move(ev));
}


Status PgApplierImpl::Commit() {
  HANDOFF_RETURN_IF_ERROR(FlushChunk());
  HANDOFF_RETURN_IF_ERROR(Begin());
  // GREATEST: a replay of older entries never moves the position back.
  HANDOFF_RETURN_IF_ERROR(AsTransient(conn_->Query(
      "INSERT INTO handoff_applied (target, journal_id, seq) VALUES ($1, $2, $3)"
      " ON CONFLICT (target, journal_id) DO UPDATE"
      " SET seq = GREATEST(handoff_applied.seq, EXCLUDED.seq), updated_at = now()",
      {opts_.target.name, applied_journal_id_, std::to_string(last_seq_)})));
  // Route rows: in the same transaction as the data they account for.
  for (const auto& [from, seq] : behind_) {
    auto was = behind_committed_.find(from);
    if (was != behind_committed_.end() && was->second == seq) continue;
    HANDOFF_RETURN_IF_ERROR(AsTransient(conn_->Query(
        "INSERT INTO handoff_applied (target, journal_id, seq) VALUES ($1, $2, $3)"
        " ON CONFLICT (target, journal_id) DO UPDATE SET seq = EXCLUDED.seq, updated_at = now()",
        {opts_.target.name, RouteRowId(from), std::to_string(seq)})));
  }
  for (const auto& [from, seq] : behind_committed_)
    if (behind_.count(from) == 0)
      HANDOFF_RETURN_IF_ERROR(AsTransient(conn_->Query(
          "DELETE FROM handoff_applied WHERE target = $1 AND journal_id = $2", {opts_.target.name, RouteRowId(from)})));
  // Written but not committed: a crash here must leave the target untouched.
  CrashPoint("apply.before_commit");
  // A failure here leaves the outcome unknown; the next session reads handoff_applied.
  HANDOFF_RETURN_IF_ERROR(AsTransient(conn_->Exec("COMMIT")));
  in_txn_ = false;
  committed_seq_ = last_seq_;
  db_applied_ = std::max(db_applied_, last_seq_);
  behind_committed_ = behind_;
  // Closed before the new position is published: whoever sees it sees the pause over.
  if (pauses_.paused() && committed_seq_ >= pauses_.seq()) {
    pauses_.Resumed(resume_actor_);
    resume_actor_.clear();
    pause_attempt_ = 0;
  }
  counters_.rows.fetch_add(txn_rows_);
  counters_.exceptions.fetch_add(txn_exceptions_);
  counters_.transactions.fetch_add(1);
  counters_.applied_seq.store(AppliedFloor());
  txn_rows_ = txn_exceptions_ = 0;
  loop_.backoff().Reset();
  catalog_.ForgetMissing();
  Status st = opts_.journal->SetTargetApplied(opts_.target.name, AppliedFloor());
  if (!st.ok()) LogWarn("apply", "target {}: cannot record applied seq in the journal: {}", opts_.target.name,
                        st.message());
  return Status::OK();
}

void PgApplierImpl::Rollback() {
  if (in_txn_ && conn_ && conn_->alive()) (void)conn_->Exec("ROLLBACK");
  in_txn_ = false;
  chunk_.clear();
  truncates_.clear();
  open_sources_.clear();
  txn_rows_ = txn_exceptions_ = 0;
  last_seq_ = committed_seq_;
  next_seq_ = committed_seq_ + 1;
  behind_ = behind_committed_;
  catching_up_ = false;
}

}  // namespace apply

Result<std::unique_ptr<PgApplier>> PgApplier::Create(PgApplierOptions options) {
  if (options.journal == nullptr) return Status::InvalidArgument("PgApplier needs a journal");
  if (options.target.name.empty()) return Status::InvalidArgument("PgApplier needs a target name");
  if (options.target.dsn.empty())
    return Status::InvalidArgument("target " + options.target.name + " has no dsn");
  if (options.target.batch_rows == 0) options.target.batch_rows = 1;
  return std::unique_ptr<PgApplier>(new apply::PgApplierImpl(std::move(options)));
}

}  // namespace handoff
