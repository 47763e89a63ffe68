// FieldCodec: converts raw values (PostgreSQL text, canonical text) to a
// field's canonical form and back to PostgreSQL text; compares values of one
// type exactly (decimals as Decimal, instants as microseconds).
//
// Thread-safety: stateless functions.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "handoff/engine/status.h"
#include "handoff/schemas/entity_def.h"

namespace handoff::schemas {

class FieldCodec {
 public:
  // Canonical form of `text` for `field` (type, scale, enum values). The
  // error message says what is wrong with the value, without the field name.
  static Result<std::string> ToCanonical(const FieldDef& field, std::string_view text);
  // Canonical form for a bare type (no scale, no enum list).
  static Result<std::string> ToCanonical(FieldType type, std::string_view text);
  // Canonical text -> PostgreSQL input text of the same type.
  static Result<std::string> ToPg(FieldType type, std::string_view canonical);
  // ToPg of a value already in canonical form for `type` (the output of
  // ToCanonical for a field of that type): converts without checking again.
  static std::string CanonicalToPg(FieldType type, std::string_view canonical);
  static uint32_t PgOid(FieldType type);
  // Whether values of `type` have an order (ranges apply).
  static bool Ordered(FieldType type);
  // -1/0/1 for two canonical values of an ordered type. REQUIRES: both valid.
  static int Compare(FieldType type, const std::string& a, const std::string& b);
  // Number of UTF-8 code points; -1 when `text` is not valid UTF-8.
  static long Utf8Length(std::string_view text);
};

}  // namespace handoff::schemas
