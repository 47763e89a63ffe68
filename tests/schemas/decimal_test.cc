#include "handoff/schemas/decimal.h"

#include <gtest/gtest.h>

namespace handoff::schemas {
namespace {

std::string D(const char* s) { return Decimal::Parse(s)->ToString(); }

TEST(DecimalTest, ParsesAndFormatsExactly) {
  EXPECT_EQ(D("1234.50"), "1234.50");
  EXPECT_EQ(D("-0.00"), "0.00");
  EXPECT_EQ(D("+007.10"), "7.10");
  EXPECT_EQ(D("12345678901234567890.123456789"), "12345678901234567890.123456789");
  EXPECT_EQ(D(".5"), "0.5");
  for (const char* bad : {"", "NaN", "Infinity", "1e5", "1.2.3", "abc", "-"}) {
    EXPECT_FALSE(Decimal::Parse(bad).ok()) << bad;
  }
}

TEST(DecimalTest, RescaleExactRefusesToLoseDigits) {
  auto d = *Decimal::Parse("1234.5");
  EXPECT_EQ(d.Rescale(2, Decimal::Rounding::kExact)->ToString(), "1234.50");
  EXPECT_EQ(Decimal::Parse("1.500")->Rescale(2, Decimal::Rounding::kExact)->ToString(), "1.50");
  auto lossy = Decimal::Parse("1.005")->Rescale(2, Decimal::Rounding::kExact);
  ASSERT_FALSE(lossy.ok());
  EXPECT_NE(lossy.status().message().find("more than 2 decimal places"), std::string::npos);
}

TEST(DecimalTest, RoundsHalfAwayFromZero) {
  EXPECT_EQ(Decimal::Parse("1.005")->Rescale(2, Decimal::Rounding::kHalfAwayFromZero)->ToString(), "1.01");
  EXPECT_EQ(Decimal::Parse("-1.005")->Rescale(2, Decimal::Rounding::kHalfAwayFromZero)->ToString(), "-1.01");
  EXPECT_EQ(Decimal::Parse("9.995")->Rescale(2, Decimal::Rounding::kHalfAwayFromZero)->ToString(), "10.00");
  EXPECT_EQ(Decimal::Parse("0.004")->Rescale(2, Decimal::Rounding::kHalfAwayFromZero)->ToString(), "0.00");
}

TEST(DecimalTest, MultipliesExactly) {
  // 0.1 * 0.2 is 0.02 exactly, not 0.020000000000000004.
  EXPECT_EQ(Decimal::Parse("0.1")->Multiply(*Decimal::Parse("0.2")).ToString(), "0.02");
  EXPECT_EQ(Decimal::Parse("7.25")->Multiply(*Decimal::Parse("123.45")).ToString(), "895.0125");
  EXPECT_EQ(Decimal::Parse("-2")->Multiply(*Decimal::Parse("0.5")).ToString(), "-1.0");
  EXPECT_EQ(Decimal::Parse("99999999999999999999")->Multiply(*Decimal::Parse("99999999999999999999")).ToString(),
            "9999999999999999999800000000000000000001");
}

TEST(DecimalTest, AddsAndSubtractsExactly) {
  auto d = [](const char* t) { return *Decimal::Parse(t); };
  EXPECT_EQ(d("0.1").Add(d("0.2")).ToString(), "0.3");
  EXPECT_EQ(d("999.99").Add(d("0.01")).ToString(), "1000.00");
  EXPECT_EQ(d("7.5").Add(d("-10")).ToString(), "-2.5");
  EXPECT_EQ(d("-7.5").Add(d("10")).ToString(), "2.5");
  EXPECT_EQ(d("1.25").Subtract(d("1.25")).ToString(), "0.00");
  EXPECT_EQ(d("100").Subtract(d("0.005")).ToString(), "99.995");
  EXPECT_EQ(d("-1").Subtract(d("-1.5")).ToString(), "0.5");
  EXPECT_EQ(d("12345678901234567890.12").Add(d("87654321098765432109.88")).ToString(),
            "100000000000000000000.00");
}

TEST(DecimalTest, ComparesByValue) {
  EXPECT_EQ(Decimal::Parse("1.50")->Compare(*Decimal::Parse("1.5")), 0);
  EXPECT_EQ(Decimal::Parse("-3")->Compare(*Decimal::Parse("2")), -1);
  EXPECT_EQ(Decimal::Parse("-3")->Compare(*Decimal::Parse("-2.5")), -1);
  EXPECT_EQ(Decimal::Parse("24.01")->Compare(*Decimal::Parse("24")), 1);
  EXPECT_EQ(Decimal::Parse("0")->Compare(*Decimal::Parse("-0.0")), 0);
}

}  // namespace
}  // namespace handoff::schemas
