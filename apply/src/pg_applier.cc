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
// Schema changes. A schema event (Op::kSchema) of a routed table ends the
// chunk, re-reads the target table's definition and settles the columns the
// source added that the target lacks, by the route's on_new_column: `add`
// adds them (ALTER TABLE in the open transaction), `ignore` goes on without
// their values (counted, logged once), `park` holds the route at the event
// (an operator hold by "handoff", see "Route holds", with one new_column
// exception record) until it is resumed with the target having them or the
// policy changed; the record closes when the event goes through. Columns the source added or retyped are noted with the
// event's seq (meta "schema_notes:<target>:<source>.<schema>.<table>", so a
// restart knows them); a later change whose value is in such a column is
// parked as `type_changed` when the target column's type cannot hold the
// source's (type_fit.h). A dropped column simply stops coming: absent
// columns keep their target values. A change naming a column the cached
// definition lacks re-reads it (at most every kRereadEvery per table), and so
// does each change with a type mismatch, so target DDL is followed without a
// restart.
//
// Operator holds (`handoff pause`, HoldWatch). The running writer checks them
// before each entry where no source transaction is open: on a whole-target
// hold it commits what it consumed (position: the entry before) and waits
// until the hold is gone; the next session starts from handoff_applied + 1.
//
// Route holds. A held route R is left behind while the target's other routes
// go on. At R's first change S the writer starts skipping R's changes and
// records R's catch-up point, S - 1, as a second handoff_applied row (journal
// id "<journal id>/route:<R's from>") in the same target transaction as the
// data around it: R's changes up to the row's seq are applied, those after it
// up to the main position are not. The row never moves while R is held. Once
// the hold is gone the writer, at the next point where no source transaction
// is open, commits what it consumed and catches R up: it reads the journal
// from the row's seq + 1 to the main position, applies only R's changes, and
// moves the row with each commit of that data; the commit that reaches the
// main position deletes the row. Only then does it read on, so R's changes
// keep their order. Every step commits the row with the data it covers, so a
// restart (at any point: the rows are read back with the position) neither
// loses nor repeats a change. A source transaction that touched R and other
// routes is applied in two parts then; that is what pausing a route means.
// While a route is behind, the journal keeps everything from its catch-up
// point (the applied seq published for retention and lag is the lower one).
// Replays and retries of parked entries ignore holds (they are operator
// actions themselves).
#include "handoff/apply/pg_applier.h"

#include <fmt/format.h>

#include <algorithm>
#include <charconv>
#include <condition_variable>
#include <map>
#include <mutex>
#include <random>
#include <set>
#include <string>
#include <tuple>

#include "chunk_writer.h"
#include "hold_watch.h"
#include "handoff/apply/target_pause.h"
#include "handoff/engine/clock.h"
#include "handoff/engine/fault.h"
#include "handoff/engine/log.h"
#include "handoff/engine/retry_log.h"
#include "pause_recorder.h"
#include "pg_connection.h"
#include "row_op.h"
#include "table_catalog.h"
#include "type_fit.h"
#include "handoff/engine/schema_change.h"
#include "handoff/engine/text_codec.h"

namespace handoff {
namespace {

using apply::ChunkWriter;
using apply::PendingChange;
using apply::PgConnection;
using apply::PgRows;

constexpr size_t kChunkRows = 5000;      // changes per set-based write
constexpr size_t kReadBatch = 2000;      // journal entries per read
constexpr std::chrono::milliseconds kPoll{100};  // WaitFor timeout: bounds Stop() latency
// How often a table's definition is re-read for a change naming a column it
// lacks. A change whose column type does not fit re-reads it every time: it
// is parked otherwise, which costs more than the catalog query.
constexpr std::chrono::milliseconds kRereadEvery{5000};
constexpr std::chrono::milliseconds kRereadMismatch{0};

// Whether `ev` belongs to a source transaction that ends with a kCommit entry.
// Snapshot rows and messages never do; webhook-style sources without a
// transaction id are applied on their own.
bool IsTransactional(const ChangeEvent& ev) {
  if (ev.op == Op::kRead || ev.op == Op::kMessage || ev.op == Op::kCommit) return false;
  return ev.source_kind == SourceKind::kPostgres || ev.xid != 0;
}

Status AsTransient(Status st) {
  if (st.ok() || st.IsUnavailable()) return st;
  return Status::Unavailable(st.message());
}

// The replication origin of a target: <prefix>_<target>, cut to PostgreSQL's
// 512-byte limit on origin names.
std::string OriginOf(const PgApplierOptions& o) {
  std::string prefix = !o.origin.empty() ? o.origin : "handoff_" + o.journal->id().substr(0, 16);
  return (prefix + "_" + o.target.name).substr(0, 500);
}

class PgApplierImpl final : public PgApplier {
 public:
  explicit PgApplierImpl(PgApplierOptions o)
      : opts_(std::move(o)),
        rng_(std::random_device{}()),
        pauses_(opts_.journal, opts_.target.name, &counters_,
                [this](const ChangeEvent& ev) { return routes_.count({ev.source, ev.schema, ev.table}) > 0; }),
        holds_(opts_.journal, opts_.target.name) {
    for (const RouteConfig& r : opts_.routes)
      if (r.to_target == opts_.target.name) routes_[{r.from_source, r.from_schema, r.from_table}] = r;
    only_ = opts_.only_seqs;
    if (opts_.only_seq) only_.insert(*opts_.only_seq);
  }

  Status Run() override;
  void Stop() override {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
    cv_.notify_all();
  }
  const ApplyCounters& counters() const override { return counters_; }

 private:
  // One connected session. OK when stopped or replay is done; kUnavailable to
  // reconnect and retry; anything else ends Run().
  Status RunSession();
  Status Connect();
  template <typename Setup>
  Status PrepareAppliedTable(const Setup& setup);
  Status ReadAppliedPosition();
  // Takes this journal's route catch-up rows (journal_id, seq) as behind_.
  void LoadRouteRows(const std::vector<std::pair<std::string, uint64_t>>& rows);
  Status ApplyEntry(JournalEntry& entry);
  Status AddChange(uint64_t seq, bool boundary, const RouteConfig& route, ChangeEvent&& ev);
  // Gathers a member of a multi-table truncate; applies the group once complete.
  Status AddTruncateMember(uint64_t seq, bool boundary, ChangeEvent&& ev);
  // Applies what was gathered of `source`'s truncate group, if any.
  Status FinishTruncate(const std::string& source);
  template <typename Write>
  Status UnderSavepoint(const Write& write, std::string* code, std::string* message);
  Status Begin();
  Status FlushChunk();
  Status ApplyOne(const PendingChange& change);
  Status Commit();
  void Rollback();
  Status Park(uint64_t seq, const std::string& table, const apply::TableMeta* meta, const ChangeEvent& ev,
              const std::string& code, const std::string& message);
  // A change met a target refusal: see "Pauses" above.
  Status Refused(uint64_t seq, bool boundary, const std::string& table, const apply::TableMeta* meta,
                 const ChangeEvent& ev, const std::string& code, const std::string& message);
  // After a session ended at hold_: commits the whole transactions before it.
  void CommitBeforeHold();
  // Waits out one pause delay; returns early on Stop() or `handoff resume`.
  void WaitPaused();
  std::chrono::milliseconds NextBackoff();
  // Schema changes (see "Schema changes" above).
  Status FollowSchema(uint64_t seq, bool boundary, const RouteConfig& route, const ChangeEvent& ev);
  // Re-reads the definition of the route's target table unless that was done
  // less than `every` ago; when it changed, what the chunk holds is written first.
  Status Reread(const RouteConfig& route, std::chrono::milliseconds every,
                std::shared_ptr<const apply::TableMeta>* meta);
  // Why `ev` cannot be written to `meta`: a column retyped at the source to a
  // type the target column cannot hold. Empty when it can.
  std::string RetypedMismatch(uint64_t seq, const RouteConfig& route, const apply::TableMeta& meta,
                              const ChangeEvent& ev);
  void LoadSchemaNotes();
  void NoteSchema(uint64_t seq, const RouteConfig& route, const SchemaDiff& diff);
  // on_new_column park while running: holds the route from the schema event
  // at `seq` (an operator hold by "handoff", so the other routes go on) with
  // one exception record saying why.
  Status ParkRoute(uint64_t seq, const RouteConfig& route, const ChangeEvent& ev, const std::string& why);
  // The schema event at `seq` went through: closes its new_column record.
  void CloseNewColumnRecord(uint64_t seq, const std::string& how);
  bool route_parked_ = false;  // set by ParkRoute during a catch-up: it stops there
  // Whether a whole-target hold stops the session before the next entry.
  bool TargetHeldHere();
  // Ends the session at an operator hold; with `commit`, what was consumed
  // (through last_seq_) is committed first.
  Status StopForHold(const OperatorHold& hold, bool commit);
  // Waits until the hold that ended the session is gone, or Stop().
  void WaitHeld();
  // Whether the change of `route` at `seq` waits for its route (held, or
  // behind and not caught up yet); records the catch-up point on the first.
  bool RouteSkipped(uint64_t seq, const RouteConfig& route);
  // Health while applying: its reason names the routes held (once this
  // writer has taken their holds), empty when none is.
  void NoteRouteHolds();
  // Whether a route that is behind is no longer held (and the session is at
  // a point where no source transaction is open).
  bool RouteCatchUpDue();
  // Commits what was consumed, then catches up each route that is behind and
  // no longer held, through the main position.
  Status CatchUpRoutes();
  Status CatchUp(const std::string& from);
  // handoff_applied's journal_id for the catch-up row of route `from`.
  std::string RouteRowId(const std::string& from) const { return applied_journal_id_ + "/route:" + from; }
  // The lowest seq through which everything routed here is applied: the main
  // position, or a lagging route's catch-up point (what retention must keep).
  uint64_t AppliedFloor() const;
  bool pausing() const { return !opts_.replay_from_seq.has_value(); }
  bool stopping() const { return stop_.load(std::memory_order_relaxed); }

  PgApplierOptions opts_;
  ApplyCounters counters_;
  std::map<std::tuple<std::string, std::string, std::string>, RouteConfig> routes_;

  std::atomic<bool> stop_{false};
  std::mutex mu_;  // with cv_: interruptible backoff sleeps
  std::condition_variable cv_;
  std::mt19937_64 rng_;
  int attempt_ = 0;  // consecutive transient failures
  std::set<uint64_t> only_;  // retry of parked entries: only these seqs (empty: all)

  // Pause state (apply thread only).
  apply::PauseRecorder pauses_;
  std::optional<apply::HoldCause> hold_;  // the refusal that ended the session
  int pause_attempt_ = 0;                 // retries of the current pause
  std::string resume_actor_;              // who asked for the running retry (`handoff resume`)
  apply::HoldWatch holds_;
  std::optional<OperatorHold> held_by_;   // the operator hold that ended the session

  // Session state (apply thread only).
  std::unique_ptr<PgConnection> conn_;
  std::unique_ptr<ChunkWriter> writer_;
  apply::TableCatalog catalog_;
  uint64_t db_applied_ = 0;     // the target's handoff_applied seq for this journal
  // The journal_id our handoff_applied row carries: the journal's id, or ''
  // for a legacy journal adopting the row written before journal ids.
  std::string applied_journal_id_;
  bool foreign_reported_ = false;
  uint64_t committed_seq_ = 0;  // last seq committed by this run (replay: of the replay)
  uint64_t next_seq_ = 1;       // next journal seq to read
  uint64_t last_seq_ = 0;       // last seq consumed into the open transaction
  bool replay_started_ = false;
  uint64_t replay_end_ = 0;

  // Open target transaction.
  bool in_txn_ = false;
  std::set<std::string> open_sources_;  // sources with a transaction whose kCommit is unread
  std::vector<PendingChange> chunk_;
  struct TruncateGroup {
    uint32_t count = 0;  // tables of the statement
    uint32_t next = 0;   // index of the next member expected
    std::vector<PendingChange> members;  // the routed ones
  };
  std::map<std::string, TruncateGroup> truncates_;  // per source: a group being gathered
  uint64_t txn_rows_ = 0;
  uint64_t txn_exceptions_ = 0;
  // Routes left behind (see "Route holds"): from -> catch-up seq, as in the
  // open transaction and as committed (the target's rows).
  std::map<std::string, uint64_t> behind_;
  std::map<std::string, uint64_t> behind_committed_;
  bool catching_up_ = false;  // a route's catch-up has the open transaction
  RetryLog retry_log_;  // summarises repeated connection and apply failures

  // Schema changes: per route (source.schema.table), per column, the source
  // type from each schema event that added or retyped it ("" once dropped).
  struct TypeNote {
    uint64_t seq = 0;
    std::string type;
  };
  std::map<std::string, std::map<std::string, std::vector<TypeNote>>> type_notes_;
  std::map<std::string, std::chrono::steady_clock::time_point> reread_at_;  // per target table
  std::set<std::string> ignored_logged_;  // target table + column, logged once
};

std::string RouteKey(const RouteConfig& r) { return r.from_source + "." + r.from_schema + "." + r.from_table; }

Status PgApplierImpl::Run() {
  if (pausing()) pauses_.Load();
  while (!stopping()) {
    hold_.reset();
    held_by_.reset();
    Status st = RunSession();
    if (hold_ && pausing()) CommitBeforeHold();
    Rollback();
    if (st.ok() || stopping()) break;
    conn_.reset();
    writer_.reset();
    if (held_by_) {
      WaitHeld();
      continue;
    }
    if (!st.IsUnavailable()) {
      counters_.health.Set(HealthState::kFailed, st.message());
      LogError("apply", "target {}: {}; apply stopped", opts_.target.name, st.message());
      return st;
    }
    if (hold_ || pauses_.paused()) {
      // Paused: one log line per change of state (PauseRecorder), none per retry.
      if (hold_) pauses_.Hold(*hold_, committed_seq_ + 1);
      else pauses_.Tried();
      if (hold_) {
        LogDebug("apply", "target {}: attempt {} held at seq {}", opts_.target.name, pause_attempt_, hold_->seq);
      } else {
        LogDebug("apply", "target {}: retry while paused failed: {}", opts_.target.name, st.message());
      }
      resume_actor_.clear();
      WaitPaused();
      continue;
    }
    pause_attempt_ = 0;
    counters_.retries.fetch_add(1);
    const auto delay = NextBackoff();
    counters_.health.Set(HealthState::kRetrying, st.message());
    // The first failure of a cause and a summary per doubling of the tries.
    if (auto line = retry_log_.Failed(st.message()))
      LogWarn("apply", "target {}: {}; retrying in {} ms", opts_.target.name, *line, delay.count());
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait_for(lock, delay, [this] { return stopping(); });
  }
  conn_.reset();
  writer_.reset();
  counters_.health.Set(HealthState::kStopped);
  return Status::OK();
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
  std::unique_lock<std::mutex> lock(mu_);
  while (!stopping()) {
    lock.unlock();
    const bool resume = pauses_.TakeResumeRequest(&resume_actor_);
    if (std::chrono::steady_clock::now() >= next_count) {
      pauses_.CountHeld();
      next_count = std::chrono::steady_clock::now() + std::chrono::seconds(1);
    }
    lock.lock();
    if (resume) {
      LogInfo("apply", "target {}: resume requested by {}; retrying now", opts_.target.name, resume_actor_);
      return;
    }
    const auto left = deadline - std::chrono::steady_clock::now();
    if (left <= std::chrono::milliseconds(0)) return;
    cv_.wait_for(lock, std::min<std::chrono::steady_clock::duration>(left, std::chrono::milliseconds(200)),
                 [this] { return stopping(); });
  }
}

bool PgApplierImpl::TargetHeldHere() {
  if (!pausing() || !only_.empty() || !open_sources_.empty() || !truncates_.empty()) return false;
  holds_.Refresh();
  return holds_.target_hold() != nullptr;
}

Status PgApplierImpl::StopForHold(const OperatorHold& hold, bool commit) {
  held_by_ = hold;
  if (commit && (last_seq_ > committed_seq_ || !chunk_.empty())) HANDOFF_RETURN_IF_ERROR(Commit());
  return Status::Unavailable("held: " + apply::HoldWatch::Describe(hold));
}

void PgApplierImpl::WaitHeld() {
  const std::string& name = opts_.target.name;
  std::unique_lock<std::mutex> lock(mu_);
  while (!stopping()) {
    lock.unlock();
    holds_.Refresh(true);
    const OperatorHold* h = holds_.target_hold();
    if (h != nullptr && counters_.health.Set(HealthState::kPaused, apply::HoldWatch::Describe(*h)))
      LogInfo("apply", "target {}: {}; nothing from seq {} on is applied until `handoff resume`", name,
              apply::HoldWatch::Describe(*h), committed_seq_ + 1);
    lock.lock();
    if (h == nullptr) break;
    cv_.wait_for(lock, apply::kHoldRefresh, [this] { return stopping(); });
  }
  if (!stopping()) LogInfo("apply", "target {}: operator hold lifted; applying from seq {}", name, committed_seq_ + 1);
}

bool PgApplierImpl::RouteSkipped(uint64_t seq, const RouteConfig& route) {
  if (!pausing() || !only_.empty() || catching_up_) return false;
  if (behind_.empty() && !holds_.any_route_held()) return false;
  const std::string from = apply::RouteFrom(route);
  if (behind_.count(from)) return true;
  const OperatorHold* h = holds_.route_hold(from);
  if (h == nullptr) return false;
  behind_[from] = seq - 1;
  LogInfo("apply", "target {}: {}; its changes from seq {} on wait, the other routes go on", opts_.target.name,
          apply::HoldWatch::Describe(*h, true), seq);
  return true;
}

void PgApplierImpl::NoteRouteHolds() {
  if (!pausing() || !only_.empty() || pauses_.paused()) return;
  holds_.Refresh();
  std::string reason;
  for (const OperatorHold& h : holds_.route_holds())
    reason += (reason.empty() ? "" : "; ") + apply::HoldWatch::Describe(h, true);
  if (!reason.empty()) reason += "; the other routes go on";
  counters_.health.Set(HealthState::kApplying, reason);
}

bool PgApplierImpl::RouteCatchUpDue() {
  if (behind_.empty() || !pausing() || !only_.empty() || !open_sources_.empty() || !truncates_.empty()) return false;
  holds_.Refresh();
  for (const auto& [from, seq] : behind_)
    if (holds_.route_hold(from) == nullptr) return true;
  return false;
}

Status PgApplierImpl::CatchUpRoutes() {
  if (last_seq_ > committed_seq_ || !chunk_.empty()) HANDOFF_RETURN_IF_ERROR(Commit());
  std::vector<std::string> due;
  for (const auto& [from, seq] : behind_)
    if (holds_.route_hold(from) == nullptr) due.push_back(from);
  for (const std::string& from : due) {
    if (stopping()) break;
    HANDOFF_RETURN_IF_ERROR(CatchUp(from));
  }
  return Status::OK();
}

// REQUIRES: nothing consumed is uncommitted (last_seq_ == committed_seq_).
// The main position stays where it is; only the route's row moves.
Status PgApplierImpl::CatchUp(const std::string& from) {
  const std::string& name = opts_.target.name;
  const uint64_t end = committed_seq_;
  uint64_t next = behind_[from] + 1;
  LogInfo("apply", "target {}: route {} resumed; catching up its changes from seq {} through seq {}", name, from,
          next, end);
  catching_up_ = true;
  std::set<std::string> open;  // source transactions open at the catch-up's cursor
  std::vector<JournalEntry> entries;
  while (next <= end && !stopping()) {
    entries.clear();
    HANDOFF_RETURN_IF_ERROR(opts_.journal->Read(next, kReadBatch, &entries));
    if (entries.empty() || entries.front().seq != next)
      return Status::Permanent(fmt::format("route {} cannot catch up: the journal no longer has seq {}", from, next));
    for (JournalEntry& e : entries) {
      if (e.seq > end || stopping()) break;
      next = e.seq + 1;
      ChangeEvent& ev = e.event;
      if (ev.op == Op::kCommit) {
        open.erase(ev.source);
      } else if (ev.op != Op::kMessage) {
        auto it = routes_.find({ev.source, ev.schema, ev.table});
        if (it != routes_.end() && apply::RouteFrom(it->second) == from) {
          if (IsTransactional(ev)) open.insert(ev.source);
          // A member of a multi-table truncate goes on its own: the other
          // tables' members were applied when the route was held.
          if (ev.op == Op::kSchema) {
            HANDOFF_RETURN_IF_ERROR(FollowSchema(e.seq, false, it->second, ev));
            if (route_parked_) {  // still lacking its new column: behind from here again
              route_parked_ = false;
              catching_up_ = false;
              HANDOFF_RETURN_IF_ERROR(Commit());
              LogInfo("apply", "target {}: route {} held again at seq {}", name, from, e.seq);
              return Status::OK();
            }
          } else {
            HANDOFF_RETURN_IF_ERROR(AddChange(e.seq, false, it->second, std::move(ev)));
          }
        }
      }
      behind_[from] = e.seq;
      if (!open.empty()) continue;
      if (txn_rows_ + chunk_.size() >= opts_.target.batch_rows) {
        HANDOFF_RETURN_IF_ERROR(Commit());
        holds_.Refresh();
        if (holds_.route_hold(from) != nullptr) {  // held again: it stays behind from here
          catching_up_ = false;
          LogInfo("apply", "target {}: route {} held again at seq {}", name, from, e.seq);
          return Status::OK();
        }
      }
    }
  }
  if (stopping()) return Status::OK();  // Run() rolls back; the row says where to go on
  // Through the main position: the route is whole again; its row goes with the last of its data.
  behind_.erase(from);
  HANDOFF_RETURN_IF_ERROR(Commit());
  catching_up_ = false;
  LogInfo("apply", "target {}: route {} caught up through seq {}", name, from, end);
  return Status::OK();
}

uint64_t PgApplierImpl::AppliedFloor() const {
  uint64_t floor = db_applied_;
  for (const auto& [from, seq] : behind_committed_) floor = std::min(floor, seq);
  return floor;
}

std::chrono::milliseconds PgApplierImpl::NextBackoff() {
  const int64_t lo = std::max<int64_t>(1, opts_.min_backoff.count());
  const int64_t hi = std::max<int64_t>(lo, opts_.max_backoff.count());
  int64_t d = lo;
  for (int i = 0; i < attempt_ && d < hi; ++i) d *= 2;
  d = std::min(d, hi);
  ++attempt_;
  std::uniform_int_distribution<int64_t> jitter(std::max(lo, d / 2), d);  // "equal jitter"
  return std::chrono::milliseconds(jitter(rng_));
}

Status PgApplierImpl::Connect() {
  const std::string& name = opts_.target.name;
  auto conn = PgConnection::Connect(opts_.target.dsn, "handoff apply " + name);
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
    if (auto line = retry_log_.Succeeded()) LogInfo("apply", "target {}: {}", name, *line);
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

// The journal meta key of a target's schema notes for one route. Its value
// has one line per noted column: "seq<TAB>hex(name)<TAB>hex(type)".
std::string NotesKey(const std::string& target, const RouteConfig& r) {
  return "schema_notes:" + target + ":" + RouteKey(r);
}

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
                                  apply::QuoteIdent(c->name) + " " + c->data;
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

// Runs `write` under a savepoint. OK with *code empty: it was written; OK
// with *code set: the statement failed with that SQLSTATE (rolled back to the
// savepoint, the transaction goes on); an error: the session is lost.
template <typename Write>
Status PgApplierImpl::UnderSavepoint(const Write& write, std::string* code, std::string* message) {
  code->clear();
  HANDOFF_RETURN_IF_ERROR(AsTransient(conn_->Exec("SAVEPOINT handoff_change")));
  Status st = write();
  if (st.ok()) return AsTransient(conn_->Exec("RELEASE SAVEPOINT handoff_change"));
  if (st.IsUnavailable()) return st;
  *code = conn_->last_sqlstate();
  *message = conn_->last_message();
  if (code->empty()) *code = "XX000";  // refused without a SQLSTATE: still the statement's failure
  return AsTransient(conn_->Exec("ROLLBACK TO SAVEPOINT handoff_change; RELEASE SAVEPOINT handoff_change"));
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
  attempt_ = 0;
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

}  // namespace

Result<std::unique_ptr<PgApplier>> PgApplier::Create(PgApplierOptions options) {
  if (options.journal == nullptr) return Status::InvalidArgument("PgApplier needs a journal");
  if (options.target.name.empty()) return Status::InvalidArgument("PgApplier needs a target name");
  if (options.target.dsn.empty())
    return Status::InvalidArgument("target " + options.target.name + " has no dsn");
  if (options.target.batch_rows == 0) options.target.batch_rows = 1;
  return std::unique_ptr<PgApplier>(new PgApplierImpl(std::move(options)));
}

}  // namespace handoff
