// The HTTP edges through the real binary: a signed webhook delivery reaches a
// PostgreSQL target and a REST target (one request, an idempotency key, the
// origin header); a bad signature journals nothing; /metrics moves.
#include <openssl/hmac.h>
#include <signal.h>

#include <fstream>
#include <sstream>
#include <thread>

#include "fake_api.h"
#include "handoff/capture/debezium.h"
#include "spine_fixture.h"

namespace handoff::testing {
namespace {

constexpr auto kCatchUp = std::chrono::seconds(60);

std::string HexHmac(const std::string& key, const std::string& data) {
  unsigned char md[32];
  unsigned int n = 0;
  HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()), reinterpret_cast<const unsigned char*>(data.data()),
       data.size(), md, &n);
  static const char* hex = "0123456789abcdef";
  std::string out;
  for (unsigned i = 0; i < n; ++i) out += {hex[md[i] >> 4], hex[md[i] & 15]};
  return out;
}


class EdgesE2ETest : public SpineTest {};

TEST_F(EdgesE2ETest, SignedDeliveryReachesDatabaseAndRestTargets) {
  CreateDatabases(name_);
  FakeApi api;
  const int hook_port = FreeTcpPort();
  int admin_port = FreeTcpPort();
  while (admin_port == hook_port) admin_port = FreeTcpPort();
  std::ostringstream c;
  c << "journal: { path: " << dir_ << "/journal }\n"
    << "sources:\n  - { name: hooks, kind: webhook, listen: \"127.0.0.1:" << hook_port
    << "\", path: /hooks/crm, format: debezium, signature: stripe, secrets: [old-secret, s3cret] }\n"
    << "targets:\n  - { name: erp, kind: postgres, dsn: \"" << server_->Dsn(dst_db_) << "\" }\n"
    << "  - { name: crm_api, kind: http, url: \"" << api.base_url() << "\", timeout: 5s }\n"
    << "routes:\n  - { from: hooks.public.consultants, to: erp.public.consultants }\n"
    << "  - { from: hooks.public.consultants, to: crm_api.consultants }\n"
    << "admin: { listen: \"127.0.0.1:" << admin_port << "\" }\n";
  config_ = dir_ + "/handoff.yaml";
  std::ofstream(config_) << c.str();
  StartEngine();

  ChangeEvent e;
  e.source = "crm";
  e.source_kind = SourceKind::kDebezium;
  e.position = {100, 1};
  e.schema = "public";
  e.table = "consultants";
  e.op = Op::kInsert;
  e.key_columns = {"email"};
  e.after = {{"email", 25, Column::Kind::kText, "zoe@example.com"},
             {"name", 25, Column::Kind::kText, "Zoë Ångström"},
             {"rate", 1700, Column::Kind::kText, "123.4567"},
             {"active", 16, Column::Kind::kText, "t"},
             {"small", 21, Column::Kind::kNull, ""}};
  DebeziumEncodeOptions o;
  o.include_transaction_block = false;
  const std::string body = EncodeDebezium(e, o);
  auto post = [&](const std::string& secret, const std::string& payload) {
    httplib::Client cli("127.0.0.1", hook_port);
    cli.set_connection_timeout(2);
    std::string t = std::to_string(time(nullptr));
    httplib::Headers h{{"Stripe-Signature", "t=" + t + ",v1=" + HexHmac(secret, t + "." + payload)}};
    return cli.Post("/hooks/crm", h, payload, "application/json");
  };
  // The engine's HTTP server comes up with the engine, and answers 503 until its
  // engine session is up: retry the first post briefly, as a webhook sender would.
  httplib::Result r = post("s3cret", body);
  for (int i = 0; i < 200 && (!r || r->status == 503); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    r = post("s3cret", body);
  }
  ASSERT_TRUE(r) << LogTail();
  EXPECT_EQ(r->status, 200) << r->body;
  EXPECT_EQ(post("wrong", body)->status, 401);
  EXPECT_EQ(post("s3cret", "{\"payload\": [")->status, 400);

  auto deadline = std::chrono::steady_clock::now() + kCatchUp;
  const std::string want = "zoe@example.com|Zoë Ångström|123.4567|t\n";
  while (server_->Dump(dst_db_, "SELECT email, name, rate, active FROM consultants") != want) {
    ASSERT_LT(std::chrono::steady_clock::now(), deadline) << LogTail();
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  ASSERT_TRUE(api.WaitForRequests(1, std::chrono::seconds(30))) << LogTail();
  auto reqs = api.requests();
  ASSERT_EQ(reqs.size(), 1u);
  EXPECT_EQ(reqs[0].method, "PUT");
  EXPECT_EQ(reqs[0].path, "/api/consultants");
  EXPECT_EQ(reqs[0].origin, "handoff");
  EXPECT_EQ(reqs[0].idempotency_key.size(), 64u);
  EXPECT_NE(reqs[0].body.find("\"rate\":\"123.4567\""), std::string::npos) << reqs[0].body;

  // The same delivery again is a duplicate: 200, nothing new anywhere.
  EXPECT_EQ(post("s3cret", body)->status, 200);
  httplib::Client admin("127.0.0.1", admin_port);
  auto m = admin.Get("/metrics");
  ASSERT_TRUE(m);
  EXPECT_NE(m->body.find("handoff_captured_changes_total{source=\"hooks\"} 1"), std::string::npos) << m->body;
  EXPECT_NE(m->body.find("handoff_applied_rows_total{target=\"crm_api\"} 1"), std::string::npos) << m->body;
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  EXPECT_EQ(api.requests().size(), 1u);
  EXPECT_EQ(StopEngine(SIGTERM), 0);
}

}  // namespace
}  // namespace handoff::testing
