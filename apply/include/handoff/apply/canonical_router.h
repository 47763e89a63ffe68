// CanonicalRouter: the canonical apply stage. One thread reads the journal in
// order from its own position (meta "canonical.seq"), maps each source row
// change onto its canonical entity (schemas::Model::MapSource), decides it
// against the entity's canonical state (conflict::Decide), and journals the
// derived changes for every other system holding the entity (source
// "canonical.<system>", position (source seq, ordinal)), the corrections back
// to the source system, the new entity state (meta "entity:<key>") and its
// own position, all in ONE LMDB write transaction (Journal::AppendWithMeta):
// a crash never derives a change twice nor loses one. Ignored / kept / parked
// fields are audited under meta "audit:<seq>:<field>" (JSON); parked changes
// also go to the exception queue (target "canonical", code "conflict"). Its
// read position is also recorded as the applied seq of a reader named
// "canonical", so journal retention keeps what it has not read.
//
// Thread-safety: Run() on one thread; Stop() and ConflictCounts() from any.
#pragma once

#include <atomic>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "handoff/conflict/entity_state.h"
#include "handoff/conflict/ownership_rules.h"
#include "handoff/engine/config.h"
#include "handoff/engine/journal.h"
#include "handoff/engine/status.h"
#include "handoff/schemas/model.h"

namespace handoff {

inline constexpr const char* kCanonicalSourcePrefix = "canonical.";
inline constexpr const char* kCanonicalSeqKey = "canonical.seq";

struct CanonicalRouterOptions {
  Journal* journal = nullptr;
  const schemas::Model* model = nullptr;
  const conflict::OwnershipRules* rules = nullptr;
  // Source names taken as systems (events of other sources are not routed).
  // Empty = every system of the model.
  std::set<std::string> systems;
};

// Opaque encoding of an EntityState (meta "entity:<key>").
std::string EncodeEntityState(const conflict::EntityState& s);
bool DecodeEntityState(const std::string& data, conflict::EntityState* s);

class CanonicalRouter {
 public:
  static Result<std::unique_ptr<CanonicalRouter>> Create(CanonicalRouterOptions options);
  // Routes until Stop().
  Status Run();
  void Stop() { stop_.store(true); }
  // Processes what the journal holds now, then returns (tests, tools).
  Status RunOnce(size_t* processed = nullptr);
  // Field conflicts decided since start, by outcome (kept_current, parked,
  // merged, ...). Safe from any thread.
  std::map<std::string, uint64_t> ConflictCounts() const;

 private:
  explicit CanonicalRouter(CanonicalRouterOptions o) : opts_(std::move(o)) {}
  CanonicalRouterOptions opts_;
  std::atomic<bool> stop_{false};
  mutable std::mutex conflicts_mu_;
  std::map<std::string, uint64_t> conflicts_;  // guarded by conflicts_mu_
};

// The implicit routes of canonical mode: every target table of the model, from
// source "canonical.<system>" to target <system> (same schema and table).
std::vector<RouteConfig> CanonicalRoutes(const schemas::Model& model);

}  // namespace handoff
