// CanonicalRouter: the canonical apply stage. One thread reads the journal in
// order from its own position (meta "canonical.seq"), maps each source row
// change onto its canonical entity (schemas::Model::MapSource), decides it
// against the entity's canonical state (conflict::Decide), and journals the
// derived changes for every other system holding the entity (source
// "canonical.<system>", position (source seq, ordinal)), the corrections back
// to the source system, the new entity state (meta "entity:<key>") and its
// own position, all in ONE LMDB write transaction (Journal::AppendWithMeta):
// a crash never derives a change twice nor loses one. Ignored / kept / parked
// fields are audited under meta "audit:<seq>:<field>" (JSON). A change that
// cannot be mapped, fails validation, conflicts under a parking policy or
// fails a flow's check goes to the exception queue (target "canonical", code
// mapping / missing_reference / validation / conflict / flow) in the same
// transaction; the rest flow on. Every step is filed for `handoff trace`
// under meta "trace:<root key>:<seq>:<n>" (root: the engagement). Its
// read position is also recorded as the applied seq of a reader named
// "canonical", so journal retention keeps what it has not read.
//
// Passes are pipelined: while one pass commits on a second thread, the next is
// routed, reading what the first staged; passes commit one at a time, in
// order, so per-entity order and the one-transaction rule hold.
//
// Thread-safety: Run() / RunOnce() on one thread; Stop() and ConflictCounts() from any.
#pragma once

#include <atomic>
#include <future>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "handoff/canonical/store_keys.h"
#include "handoff/conflict/entity_state.h"
#include "handoff/conflict/ownership_rules.h"
#include "handoff/engine/config.h"
#include "handoff/engine/journal.h"
#include "handoff/engine/status.h"
#include "handoff/schemas/flows.h"
#include "handoff/schemas/model.h"

namespace handoff {

class CanonicalPass;

// A source change mapped ahead of its turn (see CanonicalRouter's read-ahead);
// empty when it must be mapped in order.
using Premapped = std::optional<Result<std::optional<EntityChange>>>;

struct CanonicalRouterOptions {
  Journal* journal = nullptr;
  const schemas::Model* model = nullptr;
  const conflict::OwnershipRules* rules = nullptr;
  // Source names taken as systems (events of other sources are not routed).
  // Empty = every system of the model.
  std::set<std::string> systems;
  // Business flows (closed-won -> project, time posting, billing); none when null.
  const schemas::Flows* flows = nullptr;
  // Tombstones (deleted entities) are kept this long after their delete, so a
  // late update is recognised as update-after-delete; then they are removed.
  int64_t tombstone_retention_us = 30ll * 24 * 3600 * 1000000;
};

class CanonicalRouter {
 public:
  static Result<std::unique_ptr<CanonicalRouter>> Create(CanonicalRouterOptions options);
  ~CanonicalRouter();
  // Routes until Stop().
  Status Run();
  void Stop() { stop_.store(true); }
  // Processes what the journal holds now, then returns (tests, tools).
  Status RunOnce(size_t* processed = nullptr);
  // Removes tombstones deleted before now_us - tombstone_retention_us (Run()
  // does it every few minutes). Returns how many were removed.
  Result<size_t> SweepTombstones(int64_t now_us);
  // Field conflicts decided since start, by outcome (kept_current, parked,
  // merged, ...), counted once durable. Safe from any thread.
  std::map<std::string, uint64_t> ConflictCounts() const;

 private:
  explicit CanonicalRouter(CanonicalRouterOptions o);
  // Routes the next batch in one pass and hands it to the committer. With
  // `pipelined` the commit runs on another thread while the caller goes on
  // to route the next batch (which reads this one's staged state); else it
  // returns once the pass is durable.
  Status Step(bool pipelined, size_t* processed);
  Status Hand(std::unique_ptr<CanonicalPass> pass, bool pipelined);
  // Waits for the pass in flight to be durable and counts its conflicts. On
  // failure the router starts again from the durable position.
  Status Drain();

  // The read-ahead stage: the next batch is read from the journal and its
  // source changes are mapped (Model::MapSource) on another thread while this
  // batch is routed. A mapping that asks for a lookup depends on the state
  // the batches before it leave: it is left to be mapped in order.
  struct ReadAhead {
    Status status = Status::OK();
    std::vector<JournalEntry> entries;
    std::vector<Premapped> mapped;  // one per entry
  };
  static ReadAhead ReadAndMap(const CanonicalRouterOptions& o, uint64_t from);

  CanonicalRouterOptions opts_;
  std::atomic<bool> stop_{false};
  // Router thread only.
  bool position_known_ = false;
  uint64_t done_ = 0;  // last journal seq routed (durable, or in the pass in flight)
  std::unique_ptr<CanonicalPass> inflight_;
  std::future<Status> inflight_done_;
  // The last committed pass: freed on the commit thread of the next one, so
  // the routing thread does not spend its time on it.
  std::unique_ptr<CanonicalPass> retired_;
  std::future<ReadAhead> ahead_;  // the batch from ahead_from_ on
  uint64_t ahead_from_ = 0;
  mutable std::mutex conflicts_mu_;
  std::map<std::string, uint64_t> conflicts_;  // guarded by conflicts_mu_
};

// The implicit routes of canonical mode: every target table of the model, from
// source "canonical.<system>" to target <system> (same schema and table).
std::vector<RouteConfig> CanonicalRoutes(const schemas::Model& model);

}  // namespace handoff
