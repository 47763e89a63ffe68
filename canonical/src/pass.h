// CanonicalPass: one read batch of the canonical router. Everything a pass
// decides (entity states, derived changes, audit and trace records,
// exceptions, its read position) is staged here and written by Commit() in ONE
// LMDB write transaction, so a crash never leaves half of it.
//
// Internal to canonical/: router.cc drives it, flows/ holds the business flows
// (closed-won -> project, time posting, billing close, billing status), which
// use the same staging.
//
// Thread-safety: one pass on one thread.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "handoff/canonical/router.h"
#include "handoff/conflict/decision.h"
#include "handoff/conflict/entity_state.h"
#include "handoff/schemas/flows.h"
#include "handoff/schemas/model.h"
#include "trace_record.h"

namespace handoff {

class CanonicalPass {
 public:
  // `prior`, when set, is the pass before this one, sealed and being committed
  // on another thread: what it staged is read as if it were in the journal.
  // It must outlive this pass's routing (Process/Retry), not its Commit.
  CanonicalPass(const CanonicalRouterOptions& opts, uint64_t done, const CanonicalPass* prior = nullptr);

  // Routes one journal entry. Problems of the change itself (cannot map,
  // fails validation, a flow's check) park it in the exception queue; an
  // error return is an infrastructure failure (the pass is abandoned).
  // `premapped`, when it holds a result, is MapSource of the entry done
  // ahead (it asked for no lookup); it is used instead of mapping again.
  Status Process(const JournalEntry& e, Premapped* premapped = nullptr);
  // Whether Process maps `ev` as a source change of a system (the others are
  // requests, the router's own output, markers, or not mapped).
  static bool Routed(const CanonicalRouterOptions& opts, const ChangeEvent& ev);
  // Re-runs a parked entry (exceptions retry); `actor` closes the record on
  // success, otherwise the record stays open with the new reason.
  Status Retry(const JournalEntry& e, const std::string& actor, const std::string& request_key);
  // Ends the pass: stages the router position `last` and encodes the entity
  // states. After Seal the pass is read-only (a later pass reads it as its
  // prior while Commit runs on another thread).
  void Seal(uint64_t last);
  // Closes the pass's read snapshot of the journal (Seal does too); call it
  // before waiting for a commit when the pass is abandoned.
  void EndReads() { reader_.reset(); }
  // Writes everything staged in ONE journal transaction.
  Status Commit();

  // --- staging used by the flows ---
  Result<std::optional<conflict::EntityState>> Load(const std::string& key);
  // Load without a copy: the state staged in this pass or the prior one, or
  // as the journal holds it (decoded once per pass); nullptr when unknown.
  // Valid until this pass stores `key` again.
  Result<const conflict::EntityState*> Peek(const std::string& key);
  void Store(const conflict::EntityState& s);
  // Store without a copy; returns the stored state (valid until this pass
  // stores that key again).
  const conflict::EntityState& Store(conflict::EntityState&& s);
  std::optional<std::string> Meta(const std::string& key);
  void PutMeta(const std::string& key, const std::string& value);
  // Every record under `prefix` (journal, the prior pass and this one staged), in key order.
  Status ScanMeta(const std::string& prefix, const std::function<void(const std::string&, const std::string&)>& f);
  // Every live state of `entity` (journal plus staged), in key order.
  Status Scan(const std::string& entity, const std::function<void(const conflict::EntityState&)>& f);
  // Derived change of `state` for `system`: an upsert of `fields` (all held
  // fields when the system does not hold the entity yet) or a delete.
  void Emit(const conflict::EntityState& state, FieldMap fields, const std::string& system, Op op,
            const std::string& origin_system);
  // Sets `fields` on an entity as `system` would (provenance), stores it and
  // sends the changed fields to every other system holding them.
  Status SetFields(const std::string& key, const FieldMap& fields, const std::string& system,
                   const std::string& why);
  // Parks the current entry. `waits_on` names what has not arrived yet (a
  // canonical key, or canonical_key::LookupValue of a lookup the flows
  // declare, e.g. a rate card's code): when it is stored, the entry
  // is retried by itself (journal order across systems is not causal order).
  void Park(const std::string& code, const std::string& reason, const std::string& entity, const std::string& key,
            const std::string& system, const std::vector<std::string>& waits_on = {});
  void Trace(TraceStep step);
  // A step about entity `s` (filed under its root), from `system`.
  void Trace(const char* step, const conflict::EntityState& s, const std::string& system, std::string detail);
  std::string RootOf(const conflict::EntityState& s);
  const schemas::LookupFn& lookup() const { return lookup_; }
  const schemas::Model& model() const { return *opts_.model; }
  const JournalEntry& entry() const { return *entry_; }
  const schemas::Flows* flows() const { return opts_.flows; }
  // Field conflicts decided in this pass, by outcome.
  const std::map<std::string, uint64_t>& conflict_counts() const { return conflict_counts_; }

 private:
  // The journal's meta store as this pass reads it: one snapshot, opened at
  // the first read (it sees every pass but the prior one, read from prior_).
  Result<std::optional<std::string>> JournalMeta(const std::string& key);
  Status JournalScan(const std::string& prefix, const std::function<bool(std::string_view, std::string_view)>& f);
  bool Holds(const std::string& system, const std::string& key);
  // Queues a retry of every entry waiting on `what`.
  Status Wake(const std::string& what);
  void MarkHeld(const std::string& system, const std::string& key);
  Status Route(const JournalEntry& e, Premapped* premapped = nullptr);
  // Moves the routine steps the current entry staged from traces_ into the
  // trace tails of their root states (trace_record.h), from traces_[first] on.
  void FoldRoutine(size_t first);
  // Flows (flows/). Return false to keep the generic emission
  // of the change to `system` from happening (the flow decided otherwise).
  Status FlowsBeforeEmit(const EntityChange& change, conflict::Decision* d, std::set<std::string>* suppress);
  Status FlowsAfterStore(const EntityChange& change, const conflict::EntityState& state);
  Status ClosedWon(const conflict::EntityState& engagement);
  Status PostTime(const EntityChange& change, conflict::Decision* d, std::set<std::string>* suppress);
  Status BillingStatus(const conflict::EntityState& s);
  Status BillingClose(const std::string& period);

  const CanonicalRouterOptions& opts_;
  Journal* j_;
  uint64_t done_;
  const CanonicalPass* prior_;
  std::unique_ptr<MetaReader> reader_;
  uint64_t last_ = 0;
  const JournalEntry* entry_ = nullptr;
  uint64_t ordinal_ = 0;
  SourcePosition base_;  // position of derived changes: (base_.lsn, base_.ordinal + ordinal_)
  std::map<std::string, conflict::EntityState> states_;  // by canonical key
  std::map<std::string, std::optional<conflict::EntityState>> loaded_;  // read from the journal by Peek
  std::map<std::string, std::optional<std::string>> meta_;  // staged puts (nullopt = delete)
  std::map<std::string, AppendBatch> batches_;
  std::vector<ExceptionRecord> exceptions_;
  std::vector<TraceStep> traces_;
  // <n> of this pass's trace records: 0, or for a retry a number of its own,
  // so the retry's steps are filed beside those of the first routing.
  int trace_n_base_ = 0;
  schemas::LookupFn lookup_;
  int parked_ = 0;  // exceptions raised by the current entry
  std::string parked_reason_;
  std::map<std::string, uint64_t> conflict_counts_;
  bool waits_checked_ = false, waits_exist_ = false;  // any "wait:" key in the journal or staged
  // Id of this pass in the trace ("trace_pass:<id>"): the first seq it reads.
  uint64_t pass_id_;
  bool folded_ = false;  // some steps were kept in trace tails: the pass record is written
};

// "time_entry" -> "time entry".
inline std::string HumanEntity(std::string name) {
  for (char& c : name)
    if (c == '_') c = ' ';
  return name.empty() ? "change" : name;
}

}  // namespace handoff
