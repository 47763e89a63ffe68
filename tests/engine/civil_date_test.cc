#include "handoff/engine/civil_date.h"

#include <gtest/gtest.h>

namespace handoff {
namespace {

TEST(CivilDateTest, EpochAndKnownDays) {
  EXPECT_EQ(DaysFromCivil(1970, 1, 1), 0);
  EXPECT_EQ(DaysFromCivil(1969, 12, 31), -1);
  EXPECT_EQ(DaysFromCivil(2000, 1, 1), 10957);
  EXPECT_EQ(DaysFromCivil(2000, 3, 1), 11017);  // 2000 is a leap year: Feb has 29 days
  EXPECT_EQ(DaysFromCivil(2100, 3, 1) - DaysFromCivil(2100, 2, 28), 1);  // 2100 is not
  EXPECT_EQ(DaysFromCivil(2038, 1, 19), 24855);
  EXPECT_EQ(DaysFromCivil(1, 1, 1), -719162);
  EXPECT_EQ(DaysFromCivil(0, 3, 1), -719468);  // 1 BC, PostgreSQL's year 0
}

TEST(CivilDateTest, LeapYears) {
  for (int64_t y : {1600, 2000, 2004, 2024, 2400, 0, -4}) EXPECT_TRUE(IsLeapYear(y)) << y;
  for (int64_t y : {1700, 1900, 1970, 2023, 2100, 2200, -1, -100}) EXPECT_FALSE(IsLeapYear(y)) << y;
  EXPECT_EQ(DaysInMonth(2024, 2), 29u);
  EXPECT_EQ(DaysInMonth(2100, 2), 28u);
  EXPECT_EQ(DaysInMonth(2000, 2), 29u);
  EXPECT_EQ(DaysInMonth(1970, 4), 30u);
  EXPECT_EQ(DaysInMonth(1970, 12), 31u);
  EXPECT_TRUE(IsValidDate(2000, 2, 29));
  EXPECT_FALSE(IsValidDate(2100, 2, 29));
  EXPECT_FALSE(IsValidDate(2023, 4, 31));
  EXPECT_FALSE(IsValidDate(2023, 1, 0));
  EXPECT_FALSE(IsValidDate(2023, 13, 1));
}

TEST(CivilDateTest, RoundTripsAcrossCenturiesAndFarYears) {
  for (int64_t y : {-4713, -1, 0, 1, 1899, 1969, 1970, 1999, 2000, 2099, 2100, 2101, 9999, 32767, 32768, 294276,
                    5874897}) {
    for (unsigned m = 1; m <= 12; ++m) {
      for (unsigned d : {1u, 28u, DaysInMonth(y, m)}) {
        CivilDate c = CivilFromDays(DaysFromCivil(y, m, d));
        EXPECT_EQ(c.year, y);
        EXPECT_EQ(c.month, m);
        EXPECT_EQ(c.day, d) << y << "-" << m;
      }
    }
  }
  // Consecutive days stay consecutive over the leap days of 2000 and 2100.
  for (int64_t z = DaysFromCivil(1999, 12, 1); z < DaysFromCivil(2000, 4, 1); ++z) {
    CivilDate a = CivilFromDays(z), b = CivilFromDays(z + 1);
    EXPECT_EQ(DaysFromCivil(b.year, b.month, b.day) - DaysFromCivil(a.year, a.month, a.day), 1);
  }
  CivilDate leap = CivilFromDays(DaysFromCivil(2000, 2, 28) + 1);
  EXPECT_EQ(leap.month, 2u);
  EXPECT_EQ(leap.day, 29u);
  CivilDate not_leap = CivilFromDays(DaysFromCivil(2100, 2, 28) + 1);
  EXPECT_EQ(not_leap.month, 3u);
  EXPECT_EQ(not_leap.day, 1u);
}

TEST(CivilDateTest, DayPastTheMonthCountsOn) {
  EXPECT_EQ(DaysFromCivil(2023, 2, 31), DaysFromCivil(2023, 3, 3));
  EXPECT_EQ(DaysFromCivil(2024, 2, 31), DaysFromCivil(2024, 3, 2));
}

}  // namespace
}  // namespace handoff
