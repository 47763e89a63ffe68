// EntityChange: a change expressed in the canonical model (customer,
// engagement, project, time entry, ...), the common currency of schemas/
// (which maps source rows onto it and back) and conflict/ (which decides what
// of it may be applied).
//
// Values are canonical text: exact decimals ("1234.50"), ISO dates
// ("2026-11-30"), UTC instants ("2026-11-30T17:00:00Z"), money as a decimal
// field plus a currency field, ids as decimal or string text. An absent
// optional is NULL.
//
// Thread-safety: plain values.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "handoff/engine/change_event.h"

namespace handoff {

using FieldMap = std::map<std::string, std::optional<std::string>>;

// Where an entity lives in one system: crm/accounts/42.
struct Xref {
  std::string system;
  std::string object;
  std::string id;
  bool operator==(const Xref&) const = default;
};

struct EntityChange {
  std::string entity;  // canonical entity name, e.g. "customer"
  std::string key;     // canonical key (engine id), stable across systems
  std::string system;  // the system the change came from, e.g. "crm"
  Op op = Op::kUpdate;  // kInsert, kUpdate, kDelete (kRead is treated as kInsert)
  int64_t commit_time_us = 0;  // source commit time
  uint64_t seq = 0;            // journal seq of the source change
  bool has_before = false;     // whether `before` holds what the source believed
  FieldMap before;             // canonical fields before the change (when known)
  FieldMap after;              // canonical fields after the change (insert, update)
  std::vector<Xref> xrefs;     // the entity's ids in the source system (and others it names)
  bool operator==(const EntityChange&) const = default;
};

}  // namespace handoff
