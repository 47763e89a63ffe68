// End to end: a real HTTP client posts signed deliveries of the project's own
// sample payloads (tests/data/) to the webhook agent, which journals them
// through a real intake into a real LMDB journal; the journal is read back to
// check what was kept. The captured payloads of the external corpus are
// posted too when it is present.
#include "handoff/capture/webhook_source.h"

#include <gtest/gtest.h>
#include <httplib.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include "signature_verifier.h"
#include "test_data.h"

namespace handoff {
namespace {

using webhook::HmacSha256;

constexpr int64_t kNow = 1718900000;  // the agent's frozen clock
const std::string kStdSecret = "whsec_d2ViaG9vayBzb3VyY2UgdGVzdCBrZXkgMDE=";

// A file under tests/data/ ("debezium/...", "webhooks/...").
std::string ReadFile(const std::string& rel) {
  std::string text = testing::ReadDataFile(testing::OwnDataDir("") / rel);
  EXPECT_FALSE(text.empty()) << rel;
  return text;
}

// A file of the external corpus (tests calling it skip first when absent).
std::string ReadCorpusFile(const std::string& rel) {
  std::string text = testing::ReadDataFile(testing::ExternalCorpusDir("") / rel);
  EXPECT_FALSE(text.empty()) << rel;
  return text;
}

std::atomic<int> endpoint_counter{0};

class WebhookSourceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/handoff-webhook-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    JournalOptions o;
    o.path = dir_;
    journal_ = std::move(Journal::Open(o)).value();
    ctx_ = TransportContext::Create();
    endpoint_ = "inproc://webhook-test-" + std::to_string(endpoint_counter++);
  }
  void TearDown() override {
    StopAgent();
    StopIntake();
    journal_.reset();
    std::filesystem::remove_all(dir_);
  }

  void StartIntake() {
    IntakeOptions o;
    o.endpoints = {endpoint_};
    intake_ = std::move(IntakeServer::Create(ctx_, journal_.get(), o)).value();
    intake_thread_ = std::thread([this] { EXPECT_TRUE(intake_->Run().ok()); });
  }
  void StopIntake() {
    if (!intake_) return;
    intake_->Stop();
    intake_thread_.join();
    intake_.reset();
  }

  static WebhookSourceConfig Config(const std::string& format, const std::string& signature,
                                    std::vector<std::string> secrets) {
    WebhookSourceConfig s;
    s.name = "wh";
    s.kind = "webhook";
    s.listen = "127.0.0.1:0";
    s.path = "/hooks";
    s.format = format;
    s.signature = signature;
    s.secrets = std::move(secrets);
    return s;
  }
  void StartAgent(WebhookSourceConfig cfg, std::chrono::milliseconds ack_timeout = std::chrono::milliseconds(5000)) {
    WebhookSourceOptions o;
    o.source = std::move(cfg);
    o.context = ctx_;
    o.intake_endpoint = endpoint_;
    o.ack_timeout = ack_timeout;
    o.source.http.threads = 8;
    o.now_unix_seconds = [] { return kNow; };
    auto a = WebhookSourceAgent::Create(std::move(o));
    ASSERT_TRUE(a.ok()) << a.status().ToString();
    agent_ = std::move(a).value();
    ASSERT_GT(agent_->port(), 0);
    agent_thread_ = std::thread([this] { EXPECT_TRUE(agent_->Run().ok()); });
    client_ = std::make_unique<httplib::Client>("127.0.0.1", agent_->port());
    client_->set_read_timeout(std::chrono::seconds(10));
  }
  void StopAgent() {
    if (!agent_) return;
    agent_->Stop();
    agent_thread_.join();
    agent_.reset();
    client_.reset();
  }

  // Posts until the agent has its engine session (503 while it has none).
  httplib::Result Post(const std::string& body, const httplib::Headers& headers, const std::string& path = "/hooks") {
    for (int i = 0;; ++i) {
      auto r = client_->Post(path, headers, body, "application/json");
      if (!r || r->status != 503 || i > 100 || !intake_) return r;
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
  }
  static httplib::Headers StandardHeaders(const std::string& id, const std::string& body, int64_t ts = kNow,
                                          const std::string& secret = kStdSecret) {
    std::string key;
    EXPECT_TRUE(Base64Decode(secret.substr(6), &key));
    std::string sig = Base64Encode(HmacSha256(key, id + "." + std::to_string(ts) + ".", body));
    return {{"webhook-id", id}, {"webhook-timestamp", std::to_string(ts)}, {"webhook-signature", "v1," + sig}};
  }
  static httplib::Headers HmacHeaders(const std::string& header, const std::string& secret, const std::string& body) {
    return {{header, "sha256=" + HexEncode(HmacSha256(secret, {}, body))}};
  }

  std::vector<JournalEntry> ReadAll() {
    std::vector<JournalEntry> out;
    EXPECT_TRUE(journal_->Read(1, 100000, &out).ok());
    return out;
  }

  std::string dir_;
  std::unique_ptr<Journal> journal_;
  std::shared_ptr<TransportContext> ctx_;
  std::string endpoint_;
  std::unique_ptr<IntakeServer> intake_;
  std::thread intake_thread_;
  std::unique_ptr<WebhookSourceAgent> agent_;
  std::thread agent_thread_;
  std::unique_ptr<httplib::Client> client_;
};

const char kDbzUpdate[] = "debezium/pg_update_account_payload_only.json";

TEST_F(WebhookSourceTest, StandardDebeziumDeliveryIsJournaledOnceWithAudit) {
  StartIntake();
  StartAgent(Config("debezium", "standard", {kStdSecret}));
  std::string body = ReadFile(kDbzUpdate);
  auto headers = StandardHeaders("msg_1", body);
  headers.emplace("Authorization", "Bearer secret-token");
  auto r = Post(body, headers);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200) << r->body;
  EXPECT_NE(r->body.find("journaled"), std::string::npos);
  // The same delivery again: 200, nothing new.
  auto again = Post(body, headers);
  ASSERT_TRUE(again);
  EXPECT_EQ(again->status, 200);
  EXPECT_NE(again->body.find("duplicate"), std::string::npos);

  auto entries = ReadAll();
  ASSERT_EQ(entries.size(), 2u);
  const ChangeEvent& audit = entries[0].event;
  EXPECT_EQ(audit.op, Op::kMessage);
  EXPECT_EQ(audit.schema, "webhook");
  EXPECT_EQ(audit.table, "debezium");
  EXPECT_EQ(audit.delivery_id, "msg_1");
  ASSERT_EQ(audit.after.size(), 2u);
  EXPECT_EQ(audit.after[0].name, "body");
  EXPECT_EQ(audit.after[0].type_oid, 25u);
  EXPECT_EQ(audit.after[0].data, body);
  EXPECT_EQ(audit.after[1].name, "headers");
  EXPECT_EQ(audit.after[1].type_oid, 114u);
  EXPECT_NE(audit.after[1].data.find("webhook-id"), std::string::npos);
  EXPECT_EQ(audit.after[1].data.find("Bearer"), std::string::npos);
  const ChangeEvent& change = entries[1].event;
  EXPECT_EQ(change.op, Op::kUpdate);
  EXPECT_EQ(change.source, "wh");
  EXPECT_EQ(change.source_kind, SourceKind::kWebhook);
  EXPECT_EQ(change.delivery_id, "msg_1");
  EXPECT_EQ(change.xid, 0u);
  EXPECT_EQ(change.position.lsn, audit.position.lsn);
  EXPECT_EQ(agent_->counters().accepted.load(), 1u);
  EXPECT_EQ(agent_->counters().duplicates.load(), 1u);
}

TEST_F(WebhookSourceTest, EchoOfTheEnginesOwnWriteIsAcknowledgedNotJournaled) {
  StartIntake();
  StartAgent(Config("debezium", "standard", {kStdSecret}));
  std::string body = ReadFile(kDbzUpdate);
  httplib::Headers echo = StandardHeaders("msg_echo", body);
  echo.emplace("X-Handoff-Origin", "handoff");
  auto r = Post(body, echo);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_NE(r->body.find("echo"), std::string::npos);
  // Still signed: a forged echo marker without a valid signature is refused.
  httplib::Headers forged = StandardHeaders("msg_forged", body, kNow, "whsec_" + Base64Encode("wrong key"));
  forged.emplace("X-Handoff-Origin", "handoff");
  EXPECT_EQ(Post(body, forged)->status, 401);
  ASSERT_EQ(Post(body, StandardHeaders("msg_real", body))->status, 200);
  auto entries = ReadAll();
  ASSERT_EQ(entries.size(), 2u) << "only the real delivery (audit + change)";
  EXPECT_EQ(entries[0].event.delivery_id, "msg_real");
  EXPECT_EQ(agent_->counters().echoes.load(), 1u);
}

TEST_F(WebhookSourceTest, RedeliveryToARestartedAgentIsDeduplicatedByTheJournal) {
  StartIntake();
  StartAgent(Config("debezium", "standard", {kStdSecret}));
  std::string body = ReadFile(kDbzUpdate);
  ASSERT_EQ(Post(body, StandardHeaders("msg_r", body))->status, 200);
  StopAgent();  // forgets its in-memory ids
  StartAgent(Config("debezium", "standard", {kStdSecret}));
  ASSERT_EQ(Post(body, StandardHeaders("msg_r", body))->status, 200);
  std::string other = ReadFile("debezium/pg_delete_time_entry_no_schema.json");
  ASSERT_EQ(Post(other, StandardHeaders("msg_s", other))->status, 200);
  auto entries = ReadAll();
  ASSERT_EQ(entries.size(), 4u);
  EXPECT_EQ(entries[0].event.delivery_id, "msg_r");
  EXPECT_EQ(entries[2].event.delivery_id, "msg_s");
  EXPECT_EQ(entries[3].event.op, Op::kDelete);
}

TEST_F(WebhookSourceTest, BadSignaturesGet401AndJournalNothing) {
  StartIntake();
  StartAgent(Config("debezium", "standard", {kStdSecret}));
  std::string body = ReadFile(kDbzUpdate);
  std::string changed = body;
  changed[10] ^= 1;
  EXPECT_EQ(Post(changed, StandardHeaders("m1", body))->status, 401);
  EXPECT_EQ(Post(body, StandardHeaders("m2", body, kNow, "whsec_" + Base64Encode("wrong key")))->status, 401);
  EXPECT_EQ(Post(body, StandardHeaders("m3", body, kNow - 301))->status, 401);
  EXPECT_EQ(Post(body, StandardHeaders("m4", body, kNow + 301))->status, 401);
  EXPECT_EQ(Post(body, {})->status, 401);
  EXPECT_EQ(agent_->counters().bad_signature.load(), 5u);
  // A good one goes through afterwards, so the journal was reachable all along.
  EXPECT_EQ(Post(body, StandardHeaders("m5", body))->status, 200);
  auto entries = ReadAll();
  ASSERT_EQ(entries.size(), 2u);
  EXPECT_EQ(entries[0].event.delivery_id, "m5");
}

TEST_F(WebhookSourceTest, SecretRotationAcceptsEitherSecret) {
  StartIntake();
  const std::string next = "whsec_" + Base64Encode("the next key, 32 bytes long!!!!!");
  StartAgent(Config("debezium", "standard", {kStdSecret, next}));
  std::string body = ReadFile(kDbzUpdate);
  EXPECT_EQ(Post(body, StandardHeaders("old", body, kNow, kStdSecret))->status, 200);
  EXPECT_EQ(Post(body, StandardHeaders("new", body, kNow, next))->status, 200);
  EXPECT_EQ(ReadAll().size(), 4u);
}

TEST_F(WebhookSourceTest, MalformedBodyGets400WithReasonAndJournalsNothing) {
  StartIntake();
  StartAgent(Config("debezium", "standard", {kStdSecret}));
  std::string bad = "{\"payload\": {\"op\": \"u\", ";
  auto r = Post(bad, StandardHeaders("bad", bad));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 400);
  EXPECT_NE(r->body.find("\"error\""), std::string::npos) << r->body;
  EXPECT_EQ(agent_->counters().malformed.load(), 1u);
  EXPECT_TRUE(ReadAll().empty());
}

TEST_F(WebhookSourceTest, OversizedBodyGets413) {
  StartIntake();
  WebhookSourceConfig cfg = Config("debezium", "standard", {kStdSecret});
  cfg.max_body = 512;
  StartAgent(cfg);
  std::string body = ReadFile(kDbzUpdate);
  ASSERT_GT(body.size(), 512u);
  auto r = Post(body, StandardHeaders("big", body));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 413);
  EXPECT_EQ(agent_->counters().too_large.load(), 1u);
  EXPECT_TRUE(ReadAll().empty());
}

TEST_F(WebhookSourceTest, OtherPathsAndMethodsGet404) {
  StartIntake();
  StartAgent(Config("debezium", "none", {}));
  EXPECT_EQ(client_->Post("/elsewhere", "{}", "application/json")->status, 404);
  EXPECT_EQ(client_->Get("/hooks")->status, 404);
}

TEST_F(WebhookSourceTest, MixedDeliveriesJournalExactlyTheValidOnesOnce) {
  StartIntake();
  StartAgent(Config("salesforce", "stripe", {"whsec_mixed_delivery_secret"}));
  auto sign = [](const std::string& body) {
    std::string t = std::to_string(kNow);
    return httplib::Headers{
        {"Stripe-Signature", "t=" + t + ",v1=" + HexEncode(HmacSha256("whsec_mixed_delivery_secret", t + ".", body))}};
  };
  std::string create = ReadFile("webhooks/salesforce-cdc-create-engagement.json");
  std::string update = ReadFile("webhooks/salesforce-cdc-update-engagement.json");
  std::string del = ReadFile("webhooks/salesforce-cdc-delete-engagement.json");
  EXPECT_EQ(Post(create, sign(create))->status, 200);
  EXPECT_EQ(Post(create, sign(create))->status, 200);                  // duplicate (same replayId)
  EXPECT_EQ(Post(update, sign(create))->status, 401);                  // signature of another body
  EXPECT_EQ(Post("{\"data\": 1}", sign("{\"data\": 1}"))->status, 400);  // not a CDC event
  EXPECT_EQ(Post(update, sign(update))->status, 200);
  EXPECT_EQ(Post(del, sign(del))->status, 200);
  EXPECT_EQ(Post(update, sign(update))->status, 200);  // duplicate

  auto entries = ReadAll();
  ASSERT_EQ(entries.size(), 6u);  // three deliveries: audit + one change each
  std::vector<Op> ops;
  for (const auto& e : entries)
    if (e.event.schema == "salesforce") ops.push_back(e.event.op);
  EXPECT_EQ(ops, (std::vector<Op>{Op::kInsert, Op::kUpdate, Op::kDelete}));
  const ChangeEvent& c = entries[1].event;
  EXPECT_EQ(c.table, "Engagement__c");
  EXPECT_EQ(c.delivery_id, "salesforce:replayId:51000101");
  EXPECT_EQ(c.key_columns, std::vector<std::string>{"Id"});
  ASSERT_NE(c.FindAfter("Id"), nullptr);
  EXPECT_EQ(c.FindAfter("Id")->data, "a0R7Q00000HdFfLUAV");
  ASSERT_NE(c.FindAfter("Budget_Hours__c"), nullptr);
  EXPECT_EQ(c.FindAfter("Budget_Hours__c")->data, "120");
  EXPECT_EQ(c.FindAfter("Budget_Hours__c")->type_oid, 20u);
  ASSERT_NE(c.FindAfter("Rate__c"), nullptr);
  EXPECT_EQ(c.FindAfter("Rate__c")->data, "145.50");  // the JSON literal, never a double
  EXPECT_EQ(c.FindAfter("Rate__c")->type_oid, 1700u);
  ASSERT_NE(c.FindAfter("Active__c"), nullptr);
  EXPECT_EQ(c.FindAfter("Active__c")->data, "t");
  EXPECT_EQ(c.commit_time_us, 1718800000000000);
  const ChangeEvent& u = entries[3].event;
  EXPECT_EQ(u.delivery_id, "salesforce:replayId:51000188");
  ASSERT_NE(u.FindAfter("Budget_Hours__c"), nullptr);
  EXPECT_EQ(u.FindAfter("Budget_Hours__c")->data, "160");
  ASSERT_NE(u.FindAfter("Rate__c"), nullptr);
  EXPECT_TRUE(u.FindAfter("Rate__c")->is_null());  // nulledFields
  EXPECT_EQ(u.FindAfter("Name"), nullptr) << "only the fields sent";
  EXPECT_EQ(entries[5].event.before.at(0).data, "a0R7Q00000HdFfLUAV");
}

std::string SalesforceEvent(const std::string& change_type, const std::string& record_ids, const std::string& extra) {
  return R"({"data":{"schema":"x","payload":{"ChangeEventHeader":{"entityName":"ServiceAppointment","changeType":")" +
         change_type + R"(","changedFields":["Status"],"recordIds":[)" + record_ids +
         R"(],"commitTimestamp":1694000000000,"transactionKey":"tk-1","sequenceNumber":3,)" +
         R"("commitNumber":1725357365187780609}, "Status":"Scheduled")" + extra +
         R"(},"event":{"replayId":)" + std::to_string(std::hash<std::string>{}(change_type + record_ids) % 100000) +
         "}},\"channel\":\"/data/ServiceAppointmentChangeEvent\"}";
}

TEST_F(WebhookSourceTest, SalesforceMultiRecordAndGapEvents) {
  StartIntake();
  StartAgent(Config("salesforce", "hmac-sha256", {"sf"}));
  std::string multi = SalesforceEvent("UPDATE", R"("08p1","08p2","08p3")", R"(,"Amount__c":12345678901234567890.25)");
  ASSERT_EQ(Post(multi, HmacHeaders("X-Hub-Signature-256", "sf", multi))->status, 200);
  std::string gap = SalesforceEvent("GAP_UPDATE", R"("08p9")", "");
  ASSERT_EQ(Post(gap, HmacHeaders("X-Hub-Signature-256", "sf", gap))->status, 200);
  std::string overflow = SalesforceEvent("GAP_OVERFLOW", "", "");
  ASSERT_EQ(Post(overflow, HmacHeaders("X-Hub-Signature-256", "sf", overflow))->status, 200);
  std::string unknown = SalesforceEvent("MERGE", R"("08p1")", "");
  ASSERT_EQ(Post(unknown, HmacHeaders("X-Hub-Signature-256", "sf", unknown))->status, 400);

  auto entries = ReadAll();
  ASSERT_EQ(entries.size(), 1u + 3u + 1u + 1u + 1u + 1u);
  for (int i = 1; i <= 3; ++i) {
    const ChangeEvent& e = entries[i].event;
    EXPECT_EQ(e.op, Op::kUpdate);
    EXPECT_EQ(e.FindAfter("Id")->data, "08p" + std::to_string(i));
    EXPECT_EQ(e.FindAfter("Status")->data, "Scheduled");
    EXPECT_EQ(e.FindAfter("Amount__c")->data, "12345678901234567890.25");  // exact, never a double
    EXPECT_EQ(e.FindAfter("Amount__c")->type_oid, 1700u);
    EXPECT_EQ(e.correlation_id, "tk-1#3@1725357365187780609");  // commitNumber > 2^53, exact
    EXPECT_EQ(e.position.lsn, entries[0].event.position.lsn);
  }
  const ChangeEvent& g = entries[5].event;
  EXPECT_EQ(g.op, Op::kMessage);
  EXPECT_EQ(g.table, "ServiceAppointment");
  ASSERT_NE(g.FindAfter("refetch_needed"), nullptr);
  EXPECT_EQ(g.FindAfter("refetch_needed")->data, "t");
  EXPECT_EQ(g.FindAfter("change_type")->data, "GAP_UPDATE");
  EXPECT_EQ(g.FindAfter("Id")->data, "08p9");
  const ChangeEvent& o = entries[7].event;
  EXPECT_EQ(o.op, Op::kMessage);
  EXPECT_EQ(o.FindAfter("change_type")->data, "GAP_OVERFLOW");
  EXPECT_TRUE(o.FindAfter("Id")->is_null());
}

TEST_F(WebhookSourceTest, TogglPingHandshakeAndTimeEntries) {
  StartIntake();
  WebhookSourceConfig cfg = Config("toggl", "hmac-sha256", {"toggl-secret"});
  StartAgent(cfg);  // header defaults to X-Webhook-Signature-256 for toggl
  std::string ping = ReadFile("webhooks/toggl-ping.json");
  auto r = Post(ping, HmacHeaders("X-Webhook-Signature-256", "toggl-secret", ping));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->body, R"({"validation_code":"5f0c2a9be14d47d3a8e6b0c91d2f7a44"})");
  EXPECT_TRUE(ReadAll().empty());
  EXPECT_EQ(Post(ping, HmacHeaders("X-Webhook-Signature-256", "wrong", ping))->status, 401);

  std::string created = ReadFile("webhooks/toggl-time_entry-created.json");
  std::string updated = ReadFile("webhooks/toggl-time_entry-updated.json");
  EXPECT_EQ(Post(created, HmacHeaders("X-Webhook-Signature-256", "toggl-secret", created))->status, 200);
  EXPECT_EQ(Post(updated, HmacHeaders("X-Webhook-Signature-256", "toggl-secret", updated))->status, 200);
  EXPECT_EQ(Post(created, HmacHeaders("X-Webhook-Signature-256", "toggl-secret", created))->status, 200);
  auto entries = ReadAll();
  ASSERT_EQ(entries.size(), 4u);
  const ChangeEvent& c = entries[1].event;
  EXPECT_EQ(c.schema, "toggl");
  EXPECT_EQ(c.table, "time_entries");
  EXPECT_EQ(c.op, Op::kInsert);
  EXPECT_EQ(c.delivery_id, "toggl:9100000000000123");  // event_id > 2^53, exact
  EXPECT_EQ(c.FindAfter("id")->data, "4100000001");
  EXPECT_EQ(c.FindAfter("id")->type_oid, 20u);
  EXPECT_EQ(c.FindAfter("duration")->data, "-1718805600");
  EXPECT_TRUE(c.FindAfter("stop")->is_null());
  EXPECT_EQ(c.FindAfter("billable")->data, "f");
  EXPECT_EQ(c.FindAfter("tags")->data, "[]");
  EXPECT_EQ(c.commit_time_us, 1718805600250000);
  EXPECT_EQ(entries[3].event.op, Op::kUpdate);
  EXPECT_EQ(entries[3].event.delivery_id, "toggl:9100000000000456");
  EXPECT_EQ(entries[3].event.FindAfter("stop")->data, "2024-06-19T15:30:00Z");
  EXPECT_EQ(entries[3].event.FindAfter("billable")->data, "t");
}

TEST_F(WebhookSourceTest, NoIntakeGets503WithRetryAfter) {
  StartAgent(Config("debezium", "none", {}), std::chrono::milliseconds(300));
  std::string body = ReadFile(kDbzUpdate);
  auto start = std::chrono::steady_clock::now();
  auto r = client_->Post("/hooks", body, "application/json");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 503);
  EXPECT_TRUE(r->has_header("Retry-After"));
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(3));
  EXPECT_TRUE(ReadAll().empty());
}

TEST_F(WebhookSourceTest, StoppedIntakeGets503ThenRecovers) {
  StartIntake();
  StartAgent(Config("debezium", "none", {}), std::chrono::milliseconds(300));
  std::string body = ReadFile(kDbzUpdate);
  ASSERT_EQ(Post(body, {{"X-Id", "1"}})->status, 200);
  StopIntake();
  std::string body2 = body + " ";  // another delivery (its own body hash)
  auto start = std::chrono::steady_clock::now();
  auto r = client_->Post("/hooks", body2, "application/json");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 503);
  EXPECT_EQ(r->get_header_value("Retry-After"), "1");
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(3));
  EXPECT_GE(agent_->counters().busy.load(), 1u);
  // The platform retries once the engine is back (Post retries 503): journaled once, dup answered 200.
  StartIntake();
  ASSERT_EQ(Post(body2, {})->status, 200);
  ASSERT_EQ(Post(body2, {})->status, 200);
  EXPECT_EQ(ReadAll().size(), 4u);
}

// The captured payloads of the external corpus go through the same path.
TEST_F(WebhookSourceTest, CorpusDeliveriesAreJournaled) {
  HANDOFF_SKIP_WITHOUT_CORPUS("webhooks");
  StartIntake();
  StartAgent(Config("salesforce", "hmac-sha256", {"corpus-secret"}));
  size_t changes = 0;
  for (const char* name : {"salesforce-cdc-create-employee.cometd.json", "salesforce-cdc-update-employee.cometd.json",
                           "salesforce-cdc-delete-employee.cometd.json"}) {
    std::string body = ReadCorpusFile(std::string("webhooks/") + name);
    auto r = Post(body, HmacHeaders("X-Hub-Signature-256", "corpus-secret", body));
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 200) << name << ": " << r->body;
    ++changes;
  }
  auto entries = ReadAll();
  ASSERT_EQ(entries.size(), 2 * changes);  // audit + one change each
  EXPECT_EQ(entries[1].event.op, Op::kInsert);
  EXPECT_EQ(entries[3].event.op, Op::kUpdate);
  EXPECT_EQ(entries[5].event.op, Op::kDelete);
}

}  // namespace
}  // namespace handoff
