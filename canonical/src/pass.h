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
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "handoff/canonical/router.h"
#include "handoff/conflict/decision.h"
#include "handoff/conflict/entity_state.h"
#include "handoff/schemas/flows.h"
#include "handoff/schemas/model.h"

namespace handoff {

// One line of an engagement's trace (meta "trace:<root key>:<seq>:<n>").
struct TraceStep {
  uint64_t seq = 0;    // journal seq of the change being routed
  std::string root;    // canonical key the step is filed under
  std::string step;    // captured, decided, derived, exception, flow
  std::string entity, key, system;
  std::string detail;  // a sentence
  // Derived change: target system, table and key columns, and where it sits in
  // the staged batches (its seq is known once appended).
  std::string target_system, target_table, target_key;
  int batch = -1;
  int index = -1;
};

class CanonicalPass {
 public:
  CanonicalPass(const CanonicalRouterOptions& opts, uint64_t done);

  // Routes one journal entry. Problems of the change itself (cannot map,
  // fails validation, a flow's check) park it in the exception queue; an
  // error return is an infrastructure failure (the pass is abandoned).
  Status Process(const JournalEntry& e);
  // Re-runs a parked entry (exceptions retry); `actor` closes the record on
  // success, otherwise the record stays open with the new reason.
  Status Retry(const JournalEntry& e, const std::string& actor, const std::string& request_key);
  // Writes everything staged and the router position `last`.
  Status Commit(uint64_t last);

  // --- staging used by the flows ---
  Result<std::optional<conflict::EntityState>> Load(const std::string& key);
  void Store(const conflict::EntityState& s);
  std::optional<std::string> Meta(const std::string& key);
  void PutMeta(const std::string& key, const std::string& value);
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
  bool Holds(const std::string& system, const std::string& key);
  // Queues a retry of every entry waiting on `what`.
  Status Wake(const std::string& what);
  void MarkHeld(const std::string& system, const std::string& key);
  Status Route(const JournalEntry& e);
  // Flows (flows/). Return false to keep the generic emission
  // of the change to `system` from happening (the flow decided otherwise).
  Status FlowsBeforeEmit(const EntityChange& change, conflict::Decision* d, std::set<std::string>* suppress);
  Status FlowsAfterStore(const EntityChange& change, const conflict::Decision& d);
  Status ClosedWon(const conflict::EntityState& engagement);
  Status PostTime(const EntityChange& change, conflict::Decision* d, std::set<std::string>* suppress);
  Status BillingStatus(const conflict::EntityState& s);
  Status BillingClose(const std::string& period);

  const CanonicalRouterOptions& opts_;
  Journal* j_;
  uint64_t done_;
  const JournalEntry* entry_ = nullptr;
  uint64_t ordinal_ = 0;
  SourcePosition base_;  // position of derived changes: (base_.lsn, base_.ordinal + ordinal_)
  std::map<std::string, conflict::EntityState> states_;
  std::map<std::string, std::optional<std::string>> meta_;  // staged puts (nullopt = delete)
  std::map<std::string, AppendBatch> batches_;
  std::vector<ExceptionRecord> exceptions_;
  std::vector<TraceStep> traces_;
  std::map<std::string, int> trace_n_;  // per root:seq
  schemas::LookupFn lookup_;
  int parked_ = 0;  // exceptions raised by the current entry
  std::string parked_reason_;
  std::map<std::string, uint64_t> conflict_counts_;
  bool waits_checked_ = false, waits_exist_ = false;  // any "wait:" key in the journal or staged
};

// "time_entry" -> "time entry".
inline std::string HumanEntity(std::string name) {
  for (char& c : name)
    if (c == '_') c = ' ';
  return name.empty() ? "change" : name;
}

}  // namespace handoff
