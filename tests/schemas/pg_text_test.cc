#include "handoff/schemas/pg_text.h"

#include <gtest/gtest.h>

namespace handoff::schemas {
namespace {

TEST(PgTextTest, TimestamptzToUtcInstant) {
  EXPECT_EQ(*PgText::ToInstant("2026-10-31 23:59:59.123456+02"), "2026-10-31T21:59:59.123456Z");
  EXPECT_EQ(*PgText::ToInstant("2026-10-31 17:00:00+01"), "2026-10-31T16:00:00Z");
  EXPECT_EQ(*PgText::ToInstant("2026-11-01 00:30:00.5-05:30"), "2026-11-01T06:00:00.5Z");
  EXPECT_EQ(*PgText::ToInstant("2024-02-29 23:00:00-02"), "2024-03-01T01:00:00Z");
  EXPECT_EQ(*PgText::ToInstant("2026-01-01T00:00:00Z"), "2026-01-01T00:00:00Z");
  EXPECT_EQ(*PgText::ToInstant("1969-12-31 23:59:59.999999+00"), "1969-12-31T23:59:59.999999Z");
  EXPECT_EQ(*PgText::ToInstant("2026-10-31 12:00:00"), "2026-10-31T12:00:00Z");  // timestamp: taken as UTC
  for (const char* bad : {"infinity", "2026-02-30 00:00:00+00", "2026-10-31", "2026-10-31 25:00:00+00",
                          "2026-10-31 10:00:00.1234567+00", "2026-10-31 10:00:00+02 BC"}) {
    EXPECT_FALSE(PgText::ToInstant(bad).ok()) << bad;
  }
}

TEST(PgTextTest, InstantBackToPostgres) {
  EXPECT_EQ(*PgText::InstantToPg("2026-10-31T21:59:59.123456Z"), "2026-10-31 21:59:59.123456+00");
  EXPECT_EQ(*PgText::InstantToPg("2026-10-31T16:00:00Z"), "2026-10-31 16:00:00+00");
}

TEST(PgTextTest, DatesBoolsIntegers) {
  EXPECT_EQ(*PgText::ToDate("2026-10-31"), "2026-10-31");
  EXPECT_FALSE(PgText::ToDate("2026-13-01").ok());
  EXPECT_FALSE(PgText::ToDate("2025-02-29").ok());
  EXPECT_EQ(*PgText::ToDate("2024-02-29"), "2024-02-29");
  EXPECT_EQ(*PgText::ToBool("t"), "true");
  EXPECT_EQ(*PgText::ToBool("FALSE"), "false");
  EXPECT_FALSE(PgText::ToBool("maybe").ok());
  EXPECT_EQ(PgText::BoolToPg("true"), "t");
  EXPECT_EQ(*PgText::ToInt64("9007199254740993"), "9007199254740993");  // > 2^53, exact
  EXPECT_EQ(*PgText::ToInt64("-42"), "-42");
  EXPECT_FALSE(PgText::ToInt64("9223372036854775808").ok());
  EXPECT_FALSE(PgText::ToInt64("1.5").ok());
}

TEST(PgTextTest, FormatInstantEdges) {
  EXPECT_EQ(PgText::FormatInstant(0), "1970-01-01T00:00:00Z");
  EXPECT_EQ(PgText::FormatInstant(1500000), "1970-01-01T00:00:01.5Z");
  EXPECT_EQ(PgText::FormatInstant(-1), "1969-12-31T23:59:59.999999Z");
  EXPECT_EQ(PgText::FormatInstant(1798761599000001), "2026-12-31T23:59:59.000001Z");
  auto back = PgText::InstantMicros("2026-12-31T23:59:59.000001Z");
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(*back, 1798761599000001);
  auto date = PgText::ToDate("0001-01-01");
  ASSERT_TRUE(date.ok());
  EXPECT_EQ(*date, "0001-01-01");
}

}  // namespace
}  // namespace handoff::schemas
