// Kafka Connect schemas as the Debezium JSON converter writes them
// ({"type","optional","field","name","parameters","fields","items"}), parsed
// into FieldSchema trees with the PostgreSQL type OID each field maps to, and
// cached by their exact JSON text (a Debezium stream repeats one schema per
// table, so the common case is a memcmp, not a parse).
//
// Thread-safety: ConnectSchemaCache is not thread-safe (one per decoder).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "handoff/engine/status.h"

namespace handoff::dbz {

enum class ConnectType : uint8_t { kUnknown, kInt8, kInt16, kInt32, kInt64, kFloat32, kFloat64, kBoolean,
                                   kString, kBytes, kArray, kMap, kStruct };

// The logical ("name") types that change how a value is read.
enum class Semantic : uint8_t {
  kNone, kDate, kTimeMillis, kTimeMicros, kTimeNanos, kTimestampMillis, kTimestampMicros, kTimestampNanos,
  kZonedTimestamp, kZonedTime, kDecimal, kVariableScaleDecimal, kJson, kUuid, kXml, kMicroDuration, kInterval,
  kOther
};

struct FieldSchema {
  std::string field;  // member name ("field")
  std::string name;   // logical type name ("name"), may be empty
  ConnectType type = ConnectType::kUnknown;
  Semantic semantic = Semantic::kNone;
  int32_t scale = 0;     // Decimal "scale" parameter
  uint32_t oid = 0;      // PostgreSQL type OID this field maps to
  bool binary = false;   // parameter "__handoff.kind" = "binary": a Column::Kind::kBinary value
  std::vector<FieldSchema> children;  // struct fields, or array items (children[0])

  // Child by member name; *hint is the next index to try first (payload
  // members usually follow schema order).
  const FieldSchema* Find(std::string_view member, size_t* hint) const;
};

// OID for a schema (semantic first, then Connect type); items for arrays.
uint32_t DefaultOid(const FieldSchema& f);

// Parses and caches schemas by their JSON text.
class ConnectSchemaCache {
 public:
  ConnectSchemaCache();
  ~ConnectSchemaCache();
  // The schema for `json` (the raw text of a "schema" object). The pointer
  // stays valid until the cache is destroyed. Errors: kInvalidArgument.
  Status Get(std::string_view json, const FieldSchema** out);

 private:
  struct Parser;
  std::unique_ptr<Parser> parser_;
  std::unordered_map<std::string, std::unique_ptr<FieldSchema>> cache_;
  std::string_view last_text_;
  const FieldSchema* last_ = nullptr;
};

}  // namespace handoff::dbz
