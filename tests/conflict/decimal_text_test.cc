#include "handoff/conflict/decimal_text.h"

#include <gtest/gtest.h>

namespace handoff::conflict {
namespace {

std::string Add(const char* a, const char* b) { return *AddDecimalText(a, b); }
std::string Sub(const char* a, const char* b) { return *SubtractDecimalText(a, b); }

TEST(DecimalText, Recognises) {
  EXPECT_TRUE(IsDecimalText("0"));
  EXPECT_TRUE(IsDecimalText("-12.50"));
  EXPECT_TRUE(IsDecimalText("+3"));
  EXPECT_FALSE(IsDecimalText(""));
  EXPECT_FALSE(IsDecimalText("-"));
  EXPECT_FALSE(IsDecimalText(".5"));
  EXPECT_FALSE(IsDecimalText("5."));
  EXPECT_FALSE(IsDecimalText("1e3"));
  EXPECT_FALSE(IsDecimalText("1.2.3"));
}

TEST(DecimalText, AddsExactly) {
  EXPECT_EQ(Add("0.1", "0.2"), "0.3");  // a double would say 0.30000000000000004
  EXPECT_EQ(Add("1.50", "2.5"), "4.00");
  EXPECT_EQ(Add("999", "1"), "1000");
  EXPECT_EQ(Add("-5", "3"), "-2");
  EXPECT_EQ(Add("5", "-5.00"), "0.00");
  EXPECT_EQ(Add("-0.5", "0.25"), "-0.25");
  EXPECT_EQ(Add("9007199254740993", "1"), "9007199254740994");  // past 2^53
  EXPECT_EQ(Add("123456789012345678901234567890.12", "0.88"), "123456789012345678901234567891.00");
}

TEST(DecimalText, Subtracts) {
  EXPECT_EQ(Sub("8", "6.5"), "1.5");
  EXPECT_EQ(Sub("6.5", "8"), "-1.5");
  EXPECT_EQ(Sub("-1", "-1"), "0");
  EXPECT_EQ(Sub("0.00", "0.01"), "-0.01");
}

TEST(DecimalText, RejectsNonNumbers) {
  EXPECT_FALSE(AddDecimalText("abc", "1").ok());
  EXPECT_EQ(SubtractDecimalText("1", "1,5").status().code(), StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace handoff::conflict
