#include "handoff/engine/text_codec.h"

#include <gtest/gtest.h>

namespace handoff {
namespace {

TEST(TextCodecTest, Base64KnownVectors) {
  // RFC 4648 section 10.
  const std::pair<const char*, const char*> kVectors[] = {{"", ""},         {"f", "Zg=="},         {"fo", "Zm8="},
                                                          {"foo", "Zm9v"},  {"foob", "Zm9vYg=="},  {"fooba", "Zm9vYmE="},
                                                          {"foobar", "Zm9vYmFy"}};
  for (const auto& [plain, b64] : kVectors) {
    EXPECT_EQ(Base64Encode(plain), b64);
    std::string out = "junk";
    ASSERT_TRUE(Base64Decode(b64, &out)) << b64;
    EXPECT_EQ(out, plain);
  }
  std::string all;
  for (int i = 0; i < 256; ++i) all.push_back(static_cast<char>(i));
  std::string out;
  ASSERT_TRUE(Base64Decode(Base64Encode(all), &out));
  EXPECT_EQ(out, all);
  EXPECT_EQ(Base64Encode("\xfb\xff"), "+/8=");
  std::string appended = "x:";
  AppendBase64(&appended, "foob");
  EXPECT_EQ(appended, "x:Zm9vYg==");
}

TEST(TextCodecTest, Base64RejectsWhatIsNotStrict) {
  std::string out;
  for (const char* bad : {"Zg", "Zg=", "Z===", "====", "Zm9v\n", " Zm9v", "Zm-v", "Zm_v", "Zg=a", "Z=g=", "Zm9vY"})
    EXPECT_FALSE(Base64Decode(bad, &out)) << bad;
}

TEST(TextCodecTest, Hex) {
  EXPECT_EQ(HexEncode(std::string("\x00\x0a\xff", 3)), "000aff");
  std::string out;
  ASSERT_TRUE(HexDecode("000aFF", &out));
  EXPECT_EQ(out, std::string("\x00\x0a\xff", 3));
  ASSERT_TRUE(HexDecode("", &out));
  EXPECT_EQ(out, "");
  EXPECT_FALSE(HexDecode("abc", &out));
  EXPECT_FALSE(HexDecode("0g", &out));
  EXPECT_FALSE(HexDecode("+1", &out));
}

TEST(TextCodecTest, Sha256Hex) {
  EXPECT_EQ(Sha256Hex(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(Sha256Hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

}  // namespace
}  // namespace handoff
