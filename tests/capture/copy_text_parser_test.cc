#include "copy_text_parser.h"

#include <gtest/gtest.h>

namespace handoff {
namespace {

using Fields = std::vector<std::optional<std::string>>;

Fields Parse(std::string_view line) {
  Fields f;
  Status st = ParseCopyTextRow(line, &f);
  EXPECT_TRUE(st.ok()) << st.ToString();
  return f;
}

TEST(CopyTextParserTest, SplitsFieldsAndNulls) {
  EXPECT_EQ(Parse("1\tabc\t\\N\n"), (Fields{"1", "abc", std::nullopt}));
  EXPECT_EQ(Parse("\\N"), (Fields{std::nullopt}));
  EXPECT_EQ(Parse(""), (Fields{""}));
  EXPECT_EQ(Parse("a\t\t"), (Fields{"a", "", ""}));
  // \N inside a longer field is not NULL.
  EXPECT_EQ(Parse("\\Nx"), (Fields{"Nx"}));
}

TEST(CopyTextParserTest, UndoesEscapes) {
  EXPECT_EQ(Parse("a\\\\b\\tc\\nd\\re\\bf\\fg\\vh"), (Fields{"a\\b\tc\nd\re\bf\fg\vh"}));
  EXPECT_EQ(Parse("\\101\\7\\0x"), (Fields{std::string("A\7\0x", 4)}));
  EXPECT_EQ(Parse("\\x41\\x4g\\xz"), (Fields{"A\x04gxz"}));
  EXPECT_EQ(Parse("Zo\xc3\xab \\\"q\\\""), (Fields{"Zo\xc3\xab \"q\""}));
}

TEST(CopyTextParserTest, DanglingBackslashIsCorruption) {
  Fields f;
  EXPECT_EQ(ParseCopyTextRow("abc\\", &f).code(), StatusCode::kCorruption);
}

}  // namespace
}  // namespace handoff
