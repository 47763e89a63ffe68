// The stored form of a canonical entity state (record "entity:<key>", see
// canonical/canonical_format.md).
//
// Thread-safety: pure functions.
#pragma once

#include <string>

#include "handoff/conflict/entity_state.h"

namespace handoff {

std::string EncodeEntityState(const conflict::EntityState& s);
// False when `data` is not a well-formed state record (nothing is set then).
bool DecodeEntityState(const std::string& data, conflict::EntityState* s);

}  // namespace handoff
