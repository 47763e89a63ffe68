#include "handoff/engine/json_text.h"

#include <gtest/gtest.h>

namespace handoff {
namespace {

TEST(JsonTextTest, EscapesQuotesBackslashesAndControls) {
  EXPECT_EQ(JsonString(""), "\"\"");
  EXPECT_EQ(JsonString("plain"), "\"plain\"");
  EXPECT_EQ(JsonString("a\"b\\c"), "\"a\\\"b\\\\c\"");
  EXPECT_EQ(JsonString("l1\nl2\r\t"), "\"l1\\nl2\\r\\t\"");
  EXPECT_EQ(JsonString(std::string("\x00\x01\x1f\x7f", 4)), "\"\\u0000\\u0001\\u001f\x7f\"");
  std::string out = "[";
  AppendJsonString(&out, "x");
  EXPECT_EQ(out, "[\"x\"");
}

TEST(JsonTextTest, InvalidUtf8IsReplacedOrKept) {
  EXPECT_EQ(JsonString("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80"), "\"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80\"");
  EXPECT_EQ(JsonString("a\xff" "b\xc3"), "\"a\\ufffdb\\ufffd\"");
  EXPECT_EQ(JsonString("a\xff\"", InvalidUtf8::kKeep), "\"a\xff\\\"\"");
}

TEST(JsonTextTest, Integers) {
  std::string out;
  AppendJsonInt(&out, int64_t{-9223372036854775807 - 1});
  out.push_back(',');
  AppendJsonInt(&out, uint64_t{18446744073709551615u});
  EXPECT_EQ(out, "-9223372036854775808,18446744073709551615");
}

}  // namespace
}  // namespace handoff
