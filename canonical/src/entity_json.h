// JSON of canonical values, as exceptions and `handoff trace` show them.
//
// Internal to canonical/.
#pragma once

#include <string>

#include "handoff/conflict/decision.h"
#include "handoff/conflict/entity_state.h"

namespace handoff {

// {"field": "value" | null, ...}
std::string FieldMapJson(const FieldMap& m);
// {"key": ..., "deleted": ..., "locked": ..., "fields": {...}}: the current image of a parked change.
std::string EntityStateJson(const conflict::EntityState& s);
// One field decision that did not apply (record "audit:<seq>:<field>").
std::string AuditJson(const conflict::AuditRecord& a);

}  // namespace handoff
