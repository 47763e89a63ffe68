// SignatureVerifier against the project's own test vectors (one per scheme,
// tests/data/webhooks/signature-*.txt, computed with openssl), the published
// vectors of the external corpus when it is present, plus the failure cases
// (changed byte, wrong secret, stale timestamp) and secret rotation.
#include "signature_verifier.h"

#include <gtest/gtest.h>

#include <fstream>
#include <map>
#include <sstream>

#include "test_data.h"

namespace handoff::webhook {
namespace {

// A file of the project's own webhook test data.
std::string OwnFile(const std::string& name) {
  std::string text = testing::ReadDataFile(testing::OwnDataDir("webhooks") / name);
  EXPECT_FALSE(text.empty()) << name;
  return text;
}

// A file of the external corpus (tests calling it skip first when absent).
std::string CorpusFile(const std::string& name) {
  return testing::ReadDataFile(testing::ExternalCorpusDir("webhooks") / name);
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

StandardVector LoadOwnStandard() {
  std::string t = OwnFile("signature-standard.txt");
  StandardVector v{Field(t, "secret"), Field(t, "webhook-id"),        Field(t, "webhook-timestamp"),
                   Field(t, "body"),   Field(t, "webhook-signature"), 0};
  v.now = std::stoll(v.ts);
  return v;
}

// Own vectors -----------------------------------------------------------------

TEST(SignatureVerifierTest, StandardOwnVectorVerifies) {
  StandardVector v = LoadOwnStandard();
  ASSERT_EQ(v.body, R"({"type":"invoice.sent","invoice":4711,"amount":"987.65"})");
  auto h = Headers({{"webhook-id", v.id}, {"webhook-timestamp", v.ts}, {"webhook-signature", v.sig}});
  EXPECT_TRUE(Make("standard", {v.secret}).Verify(v.body, h, v.now).ok());
  // Several signatures, space-separated, one of them valid (and a v1a one ignored).
  auto h2 = Headers({{"webhook-id", v.id}, {"webhook-timestamp", v.ts},
                     {"webhook-signature", "v1a,AAAA v1,Zm9vYmFy " + v.sig}});
  EXPECT_TRUE(Make("standard", {v.secret}).Verify(v.body, h2, v.now).ok());
}

TEST(SignatureVerifierTest, HmacSha256OwnVectorVerifies) {
  std::string t = OwnFile("signature-hmac-sha256.txt");
  std::string body = Field(t, "body");
  ASSERT_EQ(body, "Deliveries are signed over the raw body.");
  std::string sig = Field(t, "X-Hub-Signature-256");
  ASSERT_TRUE(sig.starts_with("sha256="));
  auto v = Make("hmac-sha256", {Field(t, "secret")}, "X-Hub-Signature-256");
  EXPECT_TRUE(v.Verify(body, Headers({{"x-hub-signature-256", sig}}), 0).ok());
  // Without the "sha256=" prefix too.
  EXPECT_TRUE(v.Verify(body, Headers({{"X-Hub-Signature-256", sig.substr(7)}}), 0).ok());
}

TEST(SignatureVerifierTest, TogglStyleOwnVectorVerifies) {
  std::string t = OwnFile("signature-hmac-sha256-toggl.txt");
  std::string body = OwnFile(Field(t, "body file"));
  auto v = Make("hmac-sha256", {Field(t, "secret")}, "X-Webhook-Signature-256");
  EXPECT_TRUE(v.Verify(body, Headers({{"X-Webhook-Signature-256", Field(t, "X-Webhook-Signature-256")}}), 0).ok());
  EXPECT_FALSE(
      v.Verify(body + "\n", Headers({{"X-Webhook-Signature-256", Field(t, "X-Webhook-Signature-256")}}), 0).ok());
}

TEST(SignatureVerifierTest, StripeOwnVectorVerifies) {
  std::string t = OwnFile("signature-stripe.txt");
  auto v = Make("stripe", {Field(t, "secret")});
  EXPECT_TRUE(v.Verify(Field(t, "body"), Headers({{"Stripe-Signature", Field(t, "Stripe-Signature")}}),
                       std::stoll(Field(t, "t")))
                  .ok());
  // Several v1 entries (rotation on the sender's side): any match is enough.
  std::string header = Field(t, "Stripe-Signature");
  std::string both =
      header.substr(0, header.find(",v1=")) + ",v1=" + std::string(64, '0') + header.substr(header.find(",v1="));
  EXPECT_TRUE(v.Verify(Field(t, "body"), Headers({{"Stripe-Signature", both}}), std::stoll(Field(t, "t"))).ok());
}

// Published vectors from the external corpus (skipped when absent) ----------

TEST(SignatureVerifierCorpusTest, StandardWebhooksVectorVerifies) {
  HANDOFF_SKIP_WITHOUT_CORPUS("webhooks");
  std::string t = CorpusFile("standard-webhooks-test-vector.txt");
  std::string secret = FirstToken(Field(t, "secret")), ts = Field(t, "webhook-timestamp");
  auto h = Headers({{"webhook-id", Field(t, "webhook-id")},
                    {"webhook-timestamp", ts},
                    {"webhook-signature", Field(t, "webhook-signature")}});
  EXPECT_TRUE(Make("standard", {secret}).Verify(Field(t, "body (raw)"), h, std::stoll(ts)).ok());
}

TEST(SignatureVerifierCorpusTest, GithubVectorVerifies) {
  HANDOFF_SKIP_WITHOUT_CORPUS("webhooks");
  std::string t = CorpusFile("github-x-hub-signature-256-test-vector.txt");
  std::string body = Field(t, "payload (raw body, no trailing newline)");
  auto v = Make("hmac-sha256", {Field(t, "secret")}, "X-Hub-Signature-256");
  EXPECT_TRUE(v.Verify(body, Headers({{"x-hub-signature-256", Field(t, "X-Hub-Signature-256")}}), 0).ok());
}

TEST(SignatureVerifierCorpusTest, StripeVectorVerifies) {
  HANDOFF_SKIP_WITHOUT_CORPUS("webhooks");
  std::string t = CorpusFile("stripe-signature-scheme-vector.txt");
  std::string header = Field(t, "header");
  ASSERT_TRUE(header.starts_with("Stripe-Signature: "));
  auto v = Make("stripe", {Field(t, "secret")});
  EXPECT_TRUE(
      v.Verify(Field(t, "body"), Headers({{"Stripe-Signature", header.substr(18)}}), std::stoll(Field(t, "t"))).ok());
}

// Failures ------------------------------------------------------------------

TEST(SignatureVerifierTest, ChangedByteFails) {
  StandardVector v = LoadOwnStandard();
  auto h = Headers({{"webhook-id", v.id}, {"webhook-timestamp", v.ts}, {"webhook-signature", v.sig}});
  std::string body = v.body;
  body[3] ^= 1;
  EXPECT_FALSE(Make("standard", {v.secret}).Verify(body, h, v.now).ok());
  // A changed id is a changed signed content too.
  auto h2 = Headers({{"webhook-id", v.id + "x"}, {"webhook-timestamp", v.ts}, {"webhook-signature", v.sig}});
  EXPECT_FALSE(Make("standard", {v.secret}).Verify(v.body, h2, v.now).ok());
}

TEST(SignatureVerifierTest, WrongSecretFails) {
  StandardVector v = LoadOwnStandard();
  auto h = Headers({{"webhook-id", v.id}, {"webhook-timestamp", v.ts}, {"webhook-signature", v.sig}});
  EXPECT_FALSE(Make("standard", {"whsec_" + Base64Encode("another key")}).Verify(v.body, h, v.now).ok());
  std::string t = OwnFile("signature-stripe.txt");
  auto s = Make("stripe", {"whsec_wrong"});
  EXPECT_FALSE(s.Verify(Field(t, "body"), Headers({{"Stripe-Signature", Field(t, "Stripe-Signature")}}),
                        std::stoll(Field(t, "t")))
                   .ok());
  std::string hv = OwnFile("signature-hmac-sha256.txt");
  auto g = Make("hmac-sha256", {"not the secret"}, "X-Hub-Signature-256");
  EXPECT_FALSE(
      g.Verify(Field(hv, "body"), Headers({{"X-Hub-Signature-256", Field(hv, "X-Hub-Signature-256")}}), 0).ok());
}

TEST(SignatureVerifierTest, StaleOrFutureTimestampFails) {
  StandardVector v = LoadOwnStandard();
  auto h = Headers({{"webhook-id", v.id}, {"webhook-timestamp", v.ts}, {"webhook-signature", v.sig}});
  auto ver = Make("standard", {v.secret});
  EXPECT_TRUE(ver.Verify(v.body, h, v.now + 300).ok());
  Status st = ver.Verify(v.body, h, v.now + 301);
  EXPECT_FALSE(st.ok());
  EXPECT_NE(st.message().find("tolerance"), std::string::npos);
  EXPECT_FALSE(ver.Verify(v.body, h, v.now - 301).ok());
}

TEST(SignatureVerifierTest, SecondSecretVerifiesDuringRotation) {
  StandardVector v = LoadOwnStandard();
  auto h = Headers({{"webhook-id", v.id}, {"webhook-timestamp", v.ts}, {"webhook-signature", v.sig}});
  auto ver = Make("standard", {"whsec_" + Base64Encode("new key"), v.secret});
  EXPECT_TRUE(ver.Verify(v.body, h, v.now).ok());
}

TEST(SignatureVerifierTest, MissingHeadersFail) {
  StandardVector v = LoadOwnStandard();
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
