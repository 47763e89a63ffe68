// PgText: exact conversions between PostgreSQL text output and canonical text.
//
// Canonical forms (see engine/entity_change.h): dates "2026-10-31", instants
// in UTC "2026-10-31T21:59:59.123456Z" (fraction without trailing zeros,
// omitted when zero), booleans "true"/"false", int64 as decimal digits.
//
// Thread-safety: stateless functions.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "handoff/engine/pg_types.h"
#include "handoff/engine/status.h"

namespace handoff::schemas {

class PgText {
 public:
  // timestamptz / timestamp text ("2026-10-31 23:59:59.123456+02", also ISO
  // "T" and "Z" forms, offsets ±HH[:MM[:SS]]) -> canonical UTC instant. A
  // value without an offset (PostgreSQL `timestamp`) is taken as UTC.
  static Result<std::string> ToInstant(std::string_view text);
  // Instant as microseconds since the Unix epoch (for comparisons).
  static Result<int64_t> InstantMicros(std::string_view text);
  // Canonical instant -> PostgreSQL timestamptz text "2026-10-31 21:59:59.123456+00".
  static Result<std::string> InstantToPg(std::string_view canonical);
  // date text "2026-10-31" (a real calendar day; BC and infinity rejected).
  static Result<std::string> ToDate(std::string_view text);
  // t/f, true/false, yes/no, on/off, 1/0 (any case) -> "true"/"false".
  static Result<std::string> ToBool(std::string_view text);
  // Canonical bool -> PostgreSQL "t"/"f".
  static std::string BoolToPg(std::string_view canonical);
  // Signed 64-bit integer text -> canonical digits (no leading '+' or zeros).
  static Result<std::string> ToInt64(std::string_view text);
  // Microseconds since the epoch -> canonical UTC instant.
  static std::string FormatInstant(int64_t micros);
};

}  // namespace handoff::schemas
