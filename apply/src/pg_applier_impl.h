// PgApplierImpl: the writer of one PostgreSQL target (handoff/apply/pg_applier.h).
// Private to apply; one declaration here, the definitions in files by job:
//   pg_applier.cc          the loop: sessions, connecting, handoff_applied, entries, commit
//   pg_applier_changes.cc  changes into writes: chunks, truncate groups, savepoints, parking
//   pg_applier_schema.cc   following source schema changes and target DDL
//   pg_applier_holds.cc    operator holds of the target and of single routes, catch-up
// Each file's head explains the part of the design it holds.
//
// Thread-safety: Run() on one thread; Stop() and counters() from any.
#pragma once

#include <fmt/format.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <tuple>
#include <vector>

#include "applier_loop.h"
#include "chunk_writer.h"
#include "handoff/apply/pg_applier.h"
#include "handoff/apply/target_pause.h"
#include "handoff/engine/clock.h"
#include "handoff/engine/log.h"
#include "handoff/engine/retry_loop.h"
#include "handoff/engine/schema_change.h"
#include "handoff/engine/text_codec.h"
#include "hold_watch.h"
#include "pause_recorder.h"
#include "target_connection.h"
#include "row_op.h"
#include "table_catalog.h"
#include "type_fit.h"

namespace handoff::apply {

inline constexpr size_t kChunkRows = 5000;      // changes per set-based write
inline constexpr size_t kReadBatch = 2000;      // journal entries per read
inline constexpr std::chrono::milliseconds kPoll{100};  // WaitFor timeout: bounds Stop() latency
// How often a table's definition is re-read for a change naming a column it
// lacks. A change whose column type does not fit re-reads it every time: it
// is parked otherwise, which costs more than the catalog query.
inline constexpr std::chrono::milliseconds kRereadEvery{5000};
inline constexpr std::chrono::milliseconds kRereadMismatch{0};

// Whether `ev` belongs to a source transaction that ends with a kCommit entry.
// Snapshot rows and messages never do; webhook-style sources without a
// transaction id are applied on their own.
inline bool IsTransactional(const ChangeEvent& ev) {
  if (ev.op == Op::kRead || ev.op == Op::kMessage || ev.op == Op::kCommit) return false;
  return ev.source_kind == SourceKind::kPostgres || ev.xid != 0;
}

inline Status AsTransient(Status st) {
  if (st.ok() || st.IsUnavailable()) return st;
  return Status::Unavailable(st.message());
}

// source.schema.table of a route.
inline std::string RouteKey(const RouteConfig& r) { return r.from_source + "." + r.from_schema + "." + r.from_table; }

class PgApplierImpl final : public PgApplier {
 public:
  explicit PgApplierImpl(PgApplierOptions o)
      : opts_(std::move(o)),
        loop_(ApplierLoopOptions(opts_.target.name, opts_.min_backoff, opts_.max_backoff, &counters_.health), &stop_),
        pauses_(opts_.journal, opts_.target.name, &counters_,
                [this](const ChangeEvent& ev) { return routes_.count({ev.source, ev.schema, ev.table}) > 0; }),
        holds_(opts_.journal, opts_.target.name) {
    for (const RouteConfig& r : opts_.routes)
      if (r.to_target == opts_.target.name) routes_[{r.from_source, r.from_schema, r.from_table}] = r;
    only_ = opts_.only_seqs;
    if (opts_.only_seq) only_.insert(*opts_.only_seq);
  }

  Status Run() override;
  void Stop() override { stop_.RequestStop(); }
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
  // A change met a target refusal: see "Pauses" in pg_applier.cc.
  Status Refused(uint64_t seq, bool boundary, const std::string& table, const apply::TableMeta* meta,
                 const ChangeEvent& ev, const std::string& code, const std::string& message);
  // After a session ended at hold_: commits the whole transactions before it.
  void CommitBeforeHold();
  // Waits out one pause delay; returns early on Stop() or `handoff resume`.
  void WaitPaused();
  // Runs one session for loop_ and classifies how it ended.
  SessionEnd Session();
  // Schema changes (pg_applier_schema.cc).
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
  bool stopping() const { return stop_.stop_requested(); }

  PgApplierOptions opts_;
  ApplyCounters counters_;
  std::map<std::tuple<std::string, std::string, std::string>, RouteConfig> routes_;

  StopToken stop_;
  // Reconnects with backoff (reset by each commit); the first failure of a
  // cause and a summary per doubling of the tries are logged (RetryLog).
  RetryLoop loop_;
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
  // Routes left behind (see "Route holds" in pg_applier_holds.cc): from -> catch-up seq, as in the
  // open transaction and as committed (the target's rows).
  std::map<std::string, uint64_t> behind_;
  std::map<std::string, uint64_t> behind_committed_;
  bool catching_up_ = false;  // a route's catch-up has the open transaction

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

}  // namespace handoff::apply
