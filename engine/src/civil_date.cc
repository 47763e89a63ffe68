#include "handoff/engine/civil_date.h"

#include <chrono>

namespace handoff {
namespace {

namespace chr = std::chrono;

constexpr int64_t kDaysPerCycle = 146097;  // days in 400 Gregorian years
constexpr int64_t kCycleBase = 2000;       // cycle that <chrono> computes in

int64_t FloorDiv(int64_t a, int64_t b) { return a / b - ((a % b != 0) && ((a < 0) != (b < 0))); }

// The year of the same place in the cycle 2000..2399, and how many cycles
// `year` lies after that one.
chr::year InBaseCycle(int64_t year, int64_t* cycles) {
  const int64_t c = FloorDiv(year, 400);
  *cycles = c - kCycleBase / 400;
  return chr::year(static_cast<int>(year - c * 400 + kCycleBase));
}

}  // namespace

bool IsLeapYear(int64_t year) {
  int64_t cycles;
  return InBaseCycle(year, &cycles).is_leap();
}

unsigned DaysInMonth(int64_t year, unsigned month) {
  int64_t cycles;
  return static_cast<unsigned>((InBaseCycle(year, &cycles) / chr::month(month) / chr::last).day());
}

bool IsValidDate(int64_t year, unsigned month, unsigned day) {
  int64_t cycles;
  return day <= 31 && (InBaseCycle(year, &cycles) / chr::month(month) / chr::day(day)).ok();
}

int64_t DaysFromCivil(int64_t year, unsigned month, unsigned day) {
  int64_t cycles;
  // A year_month_day whose day is past the month's end converts to the
  // days that follow the month (the standard's rule), as the callers expect.
  const chr::sys_days d{InBaseCycle(year, &cycles) / chr::month(month) / chr::day(day)};
  return d.time_since_epoch().count() + cycles * kDaysPerCycle;
}

CivilDate CivilFromDays(int64_t days) {
  // Days since 2000-01-01 stay in one cycle; 1970 + 30 years = 10957 days.
  constexpr int64_t kBaseEpoch = 10957;
  const int64_t from_base = days - kBaseEpoch;
  const int64_t cycles = FloorDiv(from_base, kDaysPerCycle);
  const chr::year_month_day ymd{chr::sys_days{chr::days(from_base - cycles * kDaysPerCycle + kBaseEpoch)}};
  return CivilDate{static_cast<int>(ymd.year()) + cycles * 400, static_cast<unsigned>(ymd.month()),
                   static_cast<unsigned>(ymd.day())};
}

}  // namespace handoff
