// SignatureVerifier against the published test vectors in the shared corpus,
// plus the failure cases (changed byte, wrong secret, stale timestamp) and
// secret rotation.
#include "signature_verifier.h"

#include <gtest/gtest.h>

#include <fstream>
#include <map>
#include <sstream>

namespace handoff::webhook {
namespace {

const std::string kCorpus = HANDOFF_SOURCE_DIR "/../shared/corpus/webhooks/";

std::string ReadFile(const std::string& name) {
  std::ifstream in(kCorpus + name, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// The value after "key:" on the first non-comment line starting with key.
std::string Field(const std::string& text, const std::string& key) {
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    if (line.starts_with("#") || !line.starts_with(key + ":")) continue;
    std::string v = line.substr(key.size() + 1);
    size_t b = v.find_first_not_of(' ');
    v = b == std::string::npos ? "" : v.substr(b);
    while (!v.empty() && (v.back() == ' ' || v.back() == '\r')) v.pop_back();
    return v;
  }
  ADD_FAILURE() << "no " << key << " in vector";
  return {};
}

std::string FirstToken(const std::string& s) { return s.substr(0, s.find(' ')); }

HeaderLookup Headers(std::map<std::string, std::string> h) {
  return [h](const std::string& name) {
    for (const auto& [k, v] : h)
      if (strcasecmp(k.c_str(), name.c_str()) == 0) return v;
    return std::string();
  };
}

SignatureVerifier Make(const std::string& scheme, std::vector<std::string> secrets, const std::string& header = "") {
  auto v = SignatureVerifier::Create(scheme, header, secrets, 300000000);
  EXPECT_TRUE(v.ok()) << v.status().ToString();
  return std::move(v).value();
}

struct StandardVector {
  std::string secret, id, ts, body, sig;
  int64_t now;
};
StandardVector LoadStandard() {
  std::string t = ReadFile("standard-webhooks-test-vector.txt");
  StandardVector v{FirstToken(Field(t, "secret")), Field(t, "webhook-id"), Field(t, "webhook-timestamp"),
                   Field(t, "body (raw)"), Field(t, "webhook-signature"), 0};
  v.now = std::stoll(v.ts);
  return v;
}

TEST(SignatureVerifierTest, StandardWebhooksCorpusVectorVerifies) {
  StandardVector v = LoadStandard();
  ASSERT_EQ(v.body, "{\"test\": 2432232314}");
  auto h = Headers({{"webhook-id", v.id}, {"webhook-timestamp", v.ts}, {"webhook-signature", v.sig}});
  EXPECT_TRUE(Make("standard", {v.secret}).Verify(v.body, h, v.now).ok());
  // Several signatures, space-separated, one of them valid (and a v1a one ignored).
  auto h2 = Headers({{"webhook-id", v.id}, {"webhook-timestamp", v.ts},
                     {"webhook-signature", "v1a,AAAA v1,Zm9vYmFy " + v.sig}});
  EXPECT_TRUE(Make("standard", {v.secret}).Verify(v.body, h2, v.now).ok());
}

TEST(SignatureVerifierTest, GithubCorpusVectorVerifies) {
  std::string t = ReadFile("github-x-hub-signature-256-test-vector.txt");
  std::string body = Field(t, "payload (raw body, no trailing newline)");
  ASSERT_EQ(body, "Hello, World!");
  auto v = Make("hmac-sha256", {Field(t, "secret")}, "X-Hub-Signature-256");
  EXPECT_TRUE(v.Verify(body, Headers({{"x-hub-signature-256", Field(t, "X-Hub-Signature-256")}}), 0).ok());
  // Without the "sha256=" prefix too.
  std::string hex = Field(t, "X-Hub-Signature-256").substr(7);
  EXPECT_TRUE(v.Verify(body, Headers({{"X-Hub-Signature-256", hex}}), 0).ok());
}

TEST(SignatureVerifierTest, StripeCorpusVectorVerifies) {
  std::string t = ReadFile("stripe-signature-scheme-vector.txt");
  std::string header = Field(t, "header");
  ASSERT_TRUE(header.starts_with("Stripe-Signature: "));
  header = header.substr(18);
  auto v = Make("stripe", {Field(t, "secret")});
  EXPECT_TRUE(v.Verify(Field(t, "body"), Headers({{"Stripe-Signature", header}}), std::stoll(Field(t, "t"))).ok());
}

TEST(SignatureVerifierTest, TogglStyleHeaderVerifies) {
  std::string body = ReadFile("toggl-webhook-time_entry-created.json");
  std::string sig = "sha256=" + HexEncode(HmacSha256("toggl-secret", {}, body));
  auto v = Make("hmac-sha256", {"toggl-secret"}, "X-Webhook-Signature-256");
  EXPECT_TRUE(v.Verify(body, Headers({{"X-Webhook-Signature-256", sig}}), 0).ok());
}

TEST(SignatureVerifierTest, ChangedByteFails) {
  StandardVector v = LoadStandard();
  auto h = Headers({{"webhook-id", v.id}, {"webhook-timestamp", v.ts}, {"webhook-signature", v.sig}});
  std::string body = v.body;
  body[3] ^= 1;
  EXPECT_FALSE(Make("standard", {v.secret}).Verify(body, h, v.now).ok());
  // A changed id is a changed signed content too.
  auto h2 = Headers({{"webhook-id", v.id + "x"}, {"webhook-timestamp", v.ts}, {"webhook-signature", v.sig}});
  EXPECT_FALSE(Make("standard", {v.secret}).Verify(v.body, h2, v.now).ok());
}

TEST(SignatureVerifierTest, WrongSecretFails) {
  StandardVector v = LoadStandard();
  auto h = Headers({{"webhook-id", v.id}, {"webhook-timestamp", v.ts}, {"webhook-signature", v.sig}});
  EXPECT_FALSE(Make("standard", {"whsec_" + Base64Encode("another key")}).Verify(v.body, h, v.now).ok());
  std::string t = ReadFile("stripe-signature-scheme-vector.txt");
  auto s = Make("stripe", {"whsec_wrong"});
  EXPECT_FALSE(s.Verify(Field(t, "body"), Headers({{"Stripe-Signature", Field(t, "header").substr(18)}}),
                        std::stoll(Field(t, "t")))
                   .ok());
}

TEST(SignatureVerifierTest, StaleOrFutureTimestampFails) {
  StandardVector v = LoadStandard();
  auto h = Headers({{"webhook-id", v.id}, {"webhook-timestamp", v.ts}, {"webhook-signature", v.sig}});
  auto ver = Make("standard", {v.secret});
  EXPECT_TRUE(ver.Verify(v.body, h, v.now + 300).ok());
  Status st = ver.Verify(v.body, h, v.now + 301);
  EXPECT_FALSE(st.ok());
  EXPECT_NE(st.message().find("tolerance"), std::string::npos);
  EXPECT_FALSE(ver.Verify(v.body, h, v.now - 301).ok());
}

TEST(SignatureVerifierTest, SecondSecretVerifiesDuringRotation) {
  StandardVector v = LoadStandard();
  auto h = Headers({{"webhook-id", v.id}, {"webhook-timestamp", v.ts}, {"webhook-signature", v.sig}});
  auto ver = Make("standard", {"whsec_" + Base64Encode("new key"), v.secret});
  EXPECT_TRUE(ver.Verify(v.body, h, v.now).ok());
}

TEST(SignatureVerifierTest, MissingHeadersFail) {
  StandardVector v = LoadStandard();
  EXPECT_FALSE(Make("standard", {v.secret}).Verify(v.body, Headers({}), v.now).ok());
  EXPECT_FALSE(Make("stripe", {"x"}).Verify(v.body, Headers({}), v.now).ok());
  EXPECT_FALSE(Make("hmac-sha256", {"x"}, "X-Sig").Verify(v.body, Headers({}), v.now).ok());
}

TEST(SignatureVerifierTest, BadConfigurationIsRejected) {
  EXPECT_FALSE(SignatureVerifier::Create("md5", "", {"x"}, 1).ok());
  EXPECT_FALSE(SignatureVerifier::Create("standard", "", {}, 1).ok());
  EXPECT_FALSE(SignatureVerifier::Create("standard", "", {"whsec_%%%"}, 1).ok());
  EXPECT_FALSE(SignatureVerifier::Create("hmac-sha256", "", {"x"}, 1).ok());
}

TEST(SignatureVerifierTest, Base64RoundTripsAndRejectsGarbage) {
  std::string out;
  for (std::string s : {"", "a", "ab", "abc", "abcd", "\xff\x00\x10"}) {
    ASSERT_TRUE(Base64Decode(Base64Encode(s), &out));
    EXPECT_EQ(out, s);
  }
  EXPECT_FALSE(Base64Decode("abc", &out));
  EXPECT_FALSE(Base64Decode("a=bc", &out));
  EXPECT_FALSE(Base64Decode("ab!c", &out));
}

}  // namespace
}  // namespace handoff::webhook
