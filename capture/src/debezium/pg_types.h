// PostgreSQL built-in type names as Debezium reports them in
// "__debezium.source.column.type" (upper case, arrays with a leading '_'); the
// OIDs are handoff/engine/pg_types.h.
//
// Thread-safety: pure functions over constant tables.
#pragma once

#include <cstdint>
#include <string_view>

#include "handoff/engine/pg_types.h"

namespace handoff::dbz {

// 0 when unknown. Case-insensitive; accepts "INT4", "int4", "_INT4", "VARCHAR".
uint32_t OidForTypeName(std::string_view name);
// nullptr when unknown.
const char* TypeNameForOid(uint32_t oid);
// Element OID of a known array type, else 0.
uint32_t ArrayElementOid(uint32_t array_oid);
// Array OID for a known element type, else 0.
uint32_t ArrayOidForElement(uint32_t element_oid);

}  // namespace handoff::dbz
