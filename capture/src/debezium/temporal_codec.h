// Conversions between Debezium's temporal representations (epoch days,
// epoch milli/micro/nanoseconds, ISO-8601 strings) and PostgreSQL text output
// (DateStyle ISO, TimeZone UTC). Exact: fractions keep every digit given.
//
// Thread-safety: pure functions.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace handoff::dbz {

// Days since 1970-01-01 -> "YYYY-MM-DD" ("0044-03-15 BC" before year 1).
void AppendPgDate(int64_t days, std::string* out);
bool ParsePgDate(std::string_view text, int64_t* days);

// Seconds + nanoseconds since the epoch -> "YYYY-MM-DD HH:MM:SS[.fffffffff]"
// (trailing fraction zeros trimmed, as PostgreSQL does), "+00" appended when
// with_tz. False when the year is outside [-4713, 294276].
bool AppendPgTimestamp(int64_t secs, uint32_t nanos, bool with_tz, std::string* out);
// Accepts PostgreSQL ISO output with an optional offset ("+00", "-08",
// "+05:30") and " BC"; an offset is applied (result is UTC).
bool ParsePgTimestamp(std::string_view text, int64_t* secs, uint32_t* nanos);

// Nanoseconds since midnight (0..86400e9) -> "HH:MM:SS[.fffffffff]".
bool AppendPgTime(int64_t nanos, std::string* out);
bool ParsePgTime(std::string_view text, int64_t* nanos);

// ISO-8601 "2018-06-20T13:37:03.123Z" / "...+02:00" -> UTC seconds + nanos.
bool ParseIsoTimestamp(std::string_view text, int64_t* secs, uint32_t* nanos);
// UTC seconds + nanos -> "2018-06-20T13:37:03.123Z" (ZonedTimestamp form).
bool AppendIsoTimestampUtc(int64_t secs, uint32_t nanos, std::string* out);

// Splits an epoch count in units of 10^-digits seconds into secs + nanos
// (floor division, so negative values are right).
void SplitEpoch(int64_t value, int64_t units_per_sec, int64_t* secs, uint32_t* nanos);

}  // namespace handoff::dbz
