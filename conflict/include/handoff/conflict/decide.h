// Decide: the ownership and conflict decision for one incoming change.
//
// For each field the source changed (with a before-image: before != after;
// without one: every field in after):
//  1. Ownership. A system that does not own the field (FieldRule::owners, or
//     the LockRule owners once locked) gets its non_owner action: ignore
//     (audited; the canonical value goes back to the source in corrections)
//     or park (exception). An edit of a locked entity by any other system is
//     the kLockedEdit case.
//  2. Detection (docs/DOMAIN.md §2). The field conflicts when its canonical value
//     was set by another system and the source did not see it: with a
//     before-image, before != canonical; without one, the canonical value's
//     source time is later than the change's commit time.
//  3. Resolution by policy. owner_wins: the owners' latest write (by source
//     commit time) stands; last_writer_wins: the later (commit time, then
//     system name sorting first, then seq) stands; first_writer_wins: on
//     conflict the canonical value stands; manual: on conflict the field is
//     parked; delta: canonical += after - before (exact decimal text).
//     An owner's change older than the canonical value it already set is stale
//     and kept out (so reordered deliveries converge).
// Named cases (insert_exists, update_missing, delete_missing,
// update_after_delete) follow EntityRules::OutcomeFor and are reported in
// Decision::named_case. An entity without rules is parked whole.
//
// Pure and deterministic: no clock, no I/O; the same inputs give the same
// Decision. Thread-safety: reentrant; rules and state are only read.
#pragma once

#include "handoff/conflict/decision.h"
#include "handoff/conflict/entity_state.h"
#include "handoff/conflict/ownership_rules.h"
#include "handoff/engine/entity_change.h"

namespace handoff::conflict {

// REQUIRES: incoming.entity/key name the same entity as `current` (when current.exists).
Decision Decide(const OwnershipRules& rules, const EntityState& current,
                const EntityChange& incoming);

}  // namespace handoff::conflict
