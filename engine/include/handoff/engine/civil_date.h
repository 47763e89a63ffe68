// Civil (proleptic Gregorian) dates as days since 1970-01-01, on <chrono>'s
// calendar. Years are int64: std::chrono::year stops at ±32767, PostgreSQL
// dates do not, so each year is taken into one 400-year cycle (the calendar
// repeats every 146097 days) and the cycles are added back.
//
// Thread-safety: pure functions.
#pragma once

#include <cstdint>

namespace handoff {

struct CivilDate {
  int64_t year = 1970;
  unsigned month = 1;  // 1..12
  unsigned day = 1;    // 1..31
};

bool IsLeapYear(int64_t year);
// REQUIRES: 1 <= month <= 12.
unsigned DaysInMonth(int64_t year, unsigned month);
// True when `day` exists in that month of that year (2024-02-29 does, 2100-02-29 does not).
bool IsValidDate(int64_t year, unsigned month, unsigned day);
// Days since 1970-01-01 (negative before). REQUIRES: 1 <= month <= 12 and
// day <= 31; a day past the month's end counts on into the next month.
int64_t DaysFromCivil(int64_t year, unsigned month, unsigned day);
CivilDate CivilFromDays(int64_t days);

}  // namespace handoff
