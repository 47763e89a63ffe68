// EntityState: the canonical state of one entity as the journal keeps it, with
// per-field provenance (which system set the value, at which source commit
// time, from which journal seq). Conflict detection reads it; Decide returns
// the next one.
//
// Thread-safety: plain values.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "handoff/engine/entity_change.h"

namespace handoff::conflict {

// Who set a canonical value, and when (source commit time, not arrival time).
struct FieldProvenance {
  std::string system;
  int64_t source_time_us = 0;
  uint64_t seq = 0;
  bool operator==(const FieldProvenance&) const = default;
};

struct FieldState {
  std::optional<std::string> value;  // nullopt = NULL
  FieldProvenance provenance;
  bool operator==(const FieldState&) const = default;
};

struct EntityState {
  std::string entity;  // "customer"
  std::string key;     // canonical key
  bool exists = false;   // ever inserted (a tombstoned entity still exists)
  bool deleted = false;  // tombstone
  int64_t deleted_at_us = 0;
  FieldProvenance deleted_by;  // who deleted it (when deleted)
  bool locked = false;         // approved / invoiced; sticky once set
  std::map<std::string, FieldState> fields;  // a field absent here was never set
  std::vector<Xref> xrefs;
  // Systems known to hold a row of the entity (it was read there, or derived
  // to them): a later change to them updates that row instead of creating one.
  std::vector<std::string> held_by;
  // The canonical store's routine trace steps of this entity not yet filed
  // as a trace record (opaque here; canonical/canonical_format.md). Copied
  // with the state, so every next state carries them on.
  std::string trace_tail;
  bool operator==(const EntityState&) const = default;

  // True when the entity exists and is not tombstoned.
  bool live() const { return exists && !deleted; }
};

}  // namespace handoff::conflict
