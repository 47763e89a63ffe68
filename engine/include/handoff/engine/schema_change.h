// SchemaDiff: what a schema event (Op::kSchema) changed, column by column.
//
// Thread-safety: plain values and stateless functions.
#pragma once

#include <string>
#include <vector>

#include "handoff/engine/change_event.h"

namespace handoff {

struct SchemaDiff {
  struct Retyped {
    std::string name;
    std::string old_type, new_type;  // as the source formats them
    uint32_t new_oid = 0;
  };
  std::vector<const Column*> added;  // from the event's after list: name, type OID, type text
  std::vector<std::string> dropped;
  std::vector<Retyped> retyped;
  bool empty() const { return added.empty() && dropped.empty() && retyped.empty(); }
};

// The difference between a schema event's before and after columns. The
// result points into `event`, which must outlive it.
SchemaDiff DiffSchema(const ChangeEvent& event);

// "added billable (boolean); dropped notes; hours is now numeric(12,4) (was numeric(10,2))".
std::string DescribeSchemaChange(const ChangeEvent& event);

}  // namespace handoff
