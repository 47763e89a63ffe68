// PostgreSQL built-in type OIDs (pg_type.oid), as a ChangeEvent's columns
// carry them. The one list every component uses.
//
// Thread-safety: constants.
#pragma once

#include <cstdint>

namespace handoff::pg_oid {

inline constexpr uint32_t kBool = 16, kBytea = 17, kChar = 18, kName = 19, kInt8 = 20, kInt2 = 21, kInt4 = 23,
                          kText = 25, kOid = 26, kJson = 114, kXml = 142, kFloat4 = 700, kFloat8 = 701,
                          kMoney = 790, kBpchar = 1042, kVarchar = 1043, kDate = 1082, kTime = 1083,
                          kTimestamp = 1114, kTimestamptz = 1184, kInterval = 1186, kTimetz = 1266, kBit = 1560,
                          kVarbit = 1562, kNumeric = 1700, kUuid = 2950, kJsonb = 3802;

}  // namespace handoff::pg_oid
