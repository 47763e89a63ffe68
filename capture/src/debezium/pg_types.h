// PostgreSQL built-in type OIDs and names as Debezium reports them in
// "__debezium.source.column.type" (upper case, arrays with a leading '_').
//
// Thread-safety: pure functions over constant tables.
#pragma once

#include <cstdint>
#include <string_view>

namespace handoff::dbz {

namespace oid {
inline constexpr uint32_t kBool = 16, kBytea = 17, kChar = 18, kName = 19, kInt8 = 20, kInt2 = 21, kInt4 = 23,
                          kText = 25, kOid = 26, kJson = 114, kXml = 142, kFloat4 = 700, kFloat8 = 701,
                          kMoney = 790, kBpchar = 1042, kVarchar = 1043, kDate = 1082, kTime = 1083,
                          kTimestamp = 1114, kTimestamptz = 1184, kInterval = 1186, kTimetz = 1266, kBit = 1560,
                          kVarbit = 1562, kNumeric = 1700, kUuid = 2950, kJsonb = 3802;
}

// 0 when unknown. Case-insensitive; accepts "INT4", "int4", "_INT4", "VARCHAR".
uint32_t OidForTypeName(std::string_view name);
// nullptr when unknown.
const char* TypeNameForOid(uint32_t oid);
// Element OID of a known array type, else 0.
uint32_t ArrayElementOid(uint32_t array_oid);
// Array OID for a known element type, else 0.
uint32_t ArrayOidForElement(uint32_t element_oid);

}  // namespace handoff::dbz
