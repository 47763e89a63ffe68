#include "handoff/engine/decimal.h"

#include <gtest/gtest.h>

namespace handoff {
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

TEST(DecimalTest, SignsAndZero) {
  EXPECT_EQ(D("-0"), "0");
  EXPECT_EQ(D("+0.000"), "0.000");
  EXPECT_EQ(D("-12.5"), "-12.5");
  EXPECT_FALSE(Decimal::Parse("-0").value().negative());
  EXPECT_TRUE(Decimal::Parse("-0.01")->negative());
  EXPECT_TRUE(Decimal::Parse("0.00")->IsZero());
  for (const char* bad : {"+", "--1", "+-1", "1-", " 1", "1 ", "1,5", "0x10", "1_000", "."}) {
    auto r = Decimal::Parse(bad);
    ASSERT_FALSE(r.ok()) << bad;
    EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument) << bad;
  }
  // Signs of products and differences.
  auto d = [](const char* t) { return *Decimal::Parse(t); };
  EXPECT_EQ(d("-2").Multiply(d("-3")).ToString(), "6");
  EXPECT_EQ(d("-2").Multiply(d("0")).ToString(), "0");
  EXPECT_EQ(d("0.5").Subtract(d("0.75")).ToString(), "-0.25");
}

TEST(DecimalTest, ScaleIsKeptAsWritten) {
  EXPECT_EQ(Decimal::Parse("1.50")->scale(), 2);
  EXPECT_EQ(Decimal::Parse("15")->scale(), 0);
  EXPECT_EQ(Decimal::Parse("5.")->ToString(), "5");
  EXPECT_EQ(Decimal::Parse("1.5")->Add(*Decimal::Parse("2.125")).scale(), 3);
  EXPECT_EQ(Decimal::Parse("1.5")->Multiply(*Decimal::Parse("2.25")).ToString(), "3.375");
  EXPECT_EQ(Decimal::Parse("0")->Rescale(3, Decimal::Rounding::kExact)->ToString(), "0.000");
  EXPECT_FALSE(Decimal::Parse("1")->Rescale(-1, Decimal::Rounding::kExact).ok());
}

TEST(DecimalTest, RoundsAtEveryPosition) {
  auto round = [](const char* t, int scale) {
    return Decimal::Parse(t)->Rescale(scale, Decimal::Rounding::kHalfAwayFromZero)->ToString();
  };
  EXPECT_EQ(round("2.5", 0), "3");
  EXPECT_EQ(round("-2.5", 0), "-3");
  EXPECT_EQ(round("2.4999", 0), "2");
  EXPECT_EQ(round("0.5", 0), "1");
  EXPECT_EQ(round("-0.4", 0), "0");  // never "-0"
  EXPECT_EQ(round("999.995", 2), "1000.00");
  EXPECT_EQ(round("0.0049", 2), "0.00");
  EXPECT_EQ(round("0.005", 2), "0.01");
}

TEST(DecimalTest, DigitsBeyondTheLimitAreRefused) {
  const std::string most(1000, '9');
  ASSERT_TRUE(Decimal::Parse(most).ok());
  auto too_long = Decimal::Parse(most + "9");
  ASSERT_FALSE(too_long.ok());
  EXPECT_NE(too_long.status().message().find("too long"), std::string::npos);
  // Within the limit nothing overflows: 10^999 - 1 squared is exact.
  auto big = Decimal::Parse(std::string(999, '9'));
  std::string square = big->Multiply(*big).ToString();
  EXPECT_EQ(square, std::string(998, '9') + "8" + std::string(998, '0') + "1");
  EXPECT_EQ(big->Add(*Decimal::Parse("1")).ToString(), "1" + std::string(999, '0'));
}

}  // namespace
}  // namespace handoff
