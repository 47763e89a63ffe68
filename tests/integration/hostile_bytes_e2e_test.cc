// Hostile bytes through the real binary: a Debezium file source and a signed
// webhook source feed a PostgreSQL target and an HTTP target with values that
// hold a NUL byte, a key that holds a NUL right after an existing key, a long
// value, quotes/backslashes/newlines and unicode. PostgreSQL cannot store a
// NUL: those changes are parked as invalid_bytes and the "victim" row keeps
// its value; everything else arrives exactly. The HTTP target receives every
// value exactly, a NUL as \u0000. The journal keeps every byte.
#include <fmt/format.h>
#include <openssl/hmac.h>
#include <signal.h>

#include <fstream>
#include <map>
#include <sstream>
#include <thread>

#include "fake_api.h"
#include "handoff/capture/debezium.h"
#include "handoff/engine/event_json.h"
#include "handoff/engine/journal.h"
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

using namespace std::string_literals;

// The value classes, by key. Keys with a NUL are parked by PostgreSQL.
std::vector<std::pair<std::string, std::string>> Rows(const std::string& prefix) {
  return {
      {prefix + "nul-value", "ab\0cd"s},
      {"victim\0"s + prefix + "evil", "overwritten"},
      {prefix + "long", std::string(300000, 'x') + "end"},
      {prefix + "quotes", "it's \"q\" \\ back\\\\slash\nline\ttab\r\\N"},
      {prefix + "unicode", "Zoë Ångström 日本語 🎉"},
  };
}

std::string Encode(const std::string& key, const std::string& body, int n) {
  ChangeEvent e;
  e.source = "ignored";
  e.source_kind = SourceKind::kDebezium;
  e.position = {static_cast<uint64_t>(n) * 100, 1};
  e.schema = "public";
  e.table = "notes";
  e.op = Op::kInsert;
  e.key_columns = {"k"};
  e.after = {{"k", 25, Column::Kind::kText, key}, {"body", 25, Column::Kind::kText, body}};
  DebeziumEncodeOptions o;
  o.include_transaction_block = false;
  return EncodeDebezium(e, o);
}

std::string Json(const std::string& s) {
  std::string out;
  AppendJsonString(&out, s);
  return out;
}

class HostileBytesE2ETest : public SpineTest {};

TEST_F(HostileBytesE2ETest, NulIsParkedForPostgresAndExactForHttp) {
  CreateDatabases(name_);
  const char* table = "CREATE TABLE notes (k text PRIMARY KEY, body text);";
  ASSERT_TRUE(server_->Exec(dst_db_, std::string(table) + "INSERT INTO notes VALUES ('victim', 'original');").ok());
  FakeApi api;
  const int hook_port = FreeTcpPort();
  const std::string file = dir_ + "/changes.ndjson";
  {
    std::ofstream out(file);
    int n = 0;
    for (const auto& [k, v] : Rows("f-")) out << Encode(k, v, ++n) << "\n";
    out << Encode("f-last", "flows on", ++n) << "\n";
  }
  std::ostringstream c;
  c << "journal: { path: " << dir_ << "/journal }\n"
    << "sources:\n  - { name: dbz, kind: debezium, file: " << file << " }\n"
    << "  - { name: hooks, kind: webhook, listen: \"127.0.0.1:" << hook_port
    << "\", path: /hooks/notes, format: debezium, signature: stripe, secrets: [s3cret], max_body: 4MiB }\n"
    << "targets:\n  - { name: erp, kind: postgres, dsn: \"" << server_->Dsn(dst_db_) << "\" }\n"
    << "  - { name: api, kind: http, url: \"" << api.base_url() << "\", timeout: 5s }\n"
    << "routes:\n  - { from: dbz.public.notes, to: erp.public.notes }\n"
    << "  - { from: hooks.public.notes, to: erp.public.notes }\n"
    << "  - { from: dbz.public.notes, to: api.notes }\n"
    << "  - { from: hooks.public.notes, to: api.notes }\n";
  config_ = dir_ + "/handoff.yaml";
  std::ofstream(config_) << c.str();
  StartEngine();

  auto post = [&](const std::string& payload) {
    httplib::Client cli("127.0.0.1", hook_port);
    cli.set_connection_timeout(2);
    std::string t = std::to_string(time(nullptr));
    httplib::Headers h{{"Stripe-Signature", "t=" + t + ",v1=" + HexHmac("s3cret", t + "." + payload)}};
    return cli.Post("/hooks/notes", h, payload, "application/json");
  };
  int n = 100;
  std::vector<std::string> bodies;
  for (const auto& [k, v] : Rows("w-")) bodies.push_back(Encode(k, v, ++n));
  bodies.push_back(Encode("w-last", "flows on", ++n));
  httplib::Result r = post(bodies[0]);
  for (int i = 0; i < 200 && (!r || r->status == 503); ++i) {  // the engine comes up
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    r = post(bodies[0]);
  }
  ASSERT_TRUE(r) << LogTail();
  ASSERT_EQ(r->status, 200) << r->body;
  for (size_t i = 1; i < bodies.size(); ++i) ASSERT_EQ(post(bodies[i])->status, 200) << i;
  // Raw bytes that are not UTF-8 are no JSON: the delivery is refused whole.
  std::string bad = Encode("w-bad", "xx", ++n);
  bad.replace(bad.find("\"xx\""), 4, "\"\xff\xfe\"");
  EXPECT_EQ(post(bad)->status, 400);

  // PostgreSQL: the storable rows exactly; the victim untouched; no NUL-cut key or value.
  std::map<std::string, std::string> expected;
  for (const char* p : {"f-", "w-"}) {
    for (const auto& [k, v] : Rows(p))
      if (k.find('\0') == std::string::npos && v.find('\0') == std::string::npos) expected[k] = v;
    expected[std::string(p) + "last"] = "flows on";
  }
  expected["victim"] = "original";
  ASSERT_TRUE(WaitUntil([&] { return server_->Dump(dst_db_, "SELECT count(*) FROM notes") == std::to_string(expected.size()) + "\n"; },
                        kCatchUp))
      << server_->Dump(dst_db_, "SELECT k, left(body, 40) FROM notes ORDER BY k") << LogTail();
  for (const auto& [k, v] : expected) {
    std::string got = server_->Dump(dst_db_, "SELECT encode(convert_to(body, 'UTF8'), 'hex') FROM notes WHERE k = '" + k + "'");
    std::string hex;
    for (unsigned char ch : v) hex += fmt::format("{:02x}", ch);
    EXPECT_EQ(got, hex + "\n") << "row " << k;
  }
  EXPECT_EQ(server_->Dump(dst_db_, "SELECT body FROM notes WHERE k = 'victim'"), "original\n");
  EXPECT_EQ(server_->Dump(dst_db_, "SELECT count(*) FROM notes WHERE k LIKE '%nul-value' OR k LIKE 'victim_%'"),
            "0\n");

  // HTTP: every change arrived, each value exactly (a NUL as \u0000).
  const size_t all = 2 * (Rows("").size() + 1);
  ASSERT_TRUE(api.WaitForRequests(all, std::chrono::seconds(30))) << api.requests().size() << LogTail();
  auto reqs = api.requests();
  EXPECT_EQ(reqs.size(), all);
  for (const char* p : {"f-", "w-"}) {
    for (const auto& [k, v] : Rows(p)) {
      const std::string needle = "\"after\":{\"k\":" + Json(k) + ",\"body\":" + Json(v) + "}";
      bool found = false;
      for (const auto& q : reqs) found = found || q.body.find(needle) != std::string::npos;
      EXPECT_TRUE(found) << "no request carries " << needle.substr(0, 120);
    }
  }
  bool nul_escaped = false;
  for (const auto& q : reqs) nul_escaped = nul_escaped || q.body.find("ab\\u0000cd") != std::string::npos;
  EXPECT_TRUE(nul_escaped);

  // The PostgreSQL target parked the four NUL changes, and nothing else.
  ASSERT_TRUE(WaitUntil([&] {
    std::string out;
    Handoff({"exceptions", "list", "--config", config_, "--json"}, &out);
    size_t count = 0;
    for (size_t at = out.find("invalid_bytes"); at != std::string::npos; at = out.find("invalid_bytes", at + 1)) ++count;
    return count >= 4;
  }, kCatchUp));
  ASSERT_EQ(StopEngine(SIGTERM), 0);

  JournalOptions o;
  o.path = dir_ + "/journal";
  auto j = Journal::Open(o);
  ASSERT_TRUE(j.ok()) << j.status().ToString();
  auto parked = (*j)->Exceptions(ExceptionState::kOpen);
  ASSERT_TRUE(parked.ok());
  std::vector<std::string> reasons;
  for (const auto& x : *parked) {
    EXPECT_EQ(x.target, "erp") << x.reason;
    EXPECT_EQ(x.code, "invalid_bytes") << x.reason;
    reasons.push_back(x.reason);
  }
  ASSERT_EQ(parked->size(), 4u);
  auto mentions = [&](const std::string& needle) {
    for (const auto& s : reasons)
      if (s.find(needle) != std::string::npos) return true;
    return false;
  };
  EXPECT_TRUE(mentions("column body of public.notes holds a NUL byte (offset 2)"));
  EXPECT_TRUE(mentions("key column k of public.notes holds a NUL byte (offset 6)"));
  EXPECT_TRUE(mentions("victim\\x00f-evil"));
  EXPECT_TRUE(mentions("victim\\x00w-evil"));

  // The journal kept every byte of every value.
  std::map<std::string, std::string> journaled;
  std::vector<JournalEntry> batch;
  for (uint64_t next = 1;; next = batch.back().seq + 1) {
    batch.clear();
    ASSERT_TRUE((*j)->Read(next, 1000, &batch).ok());
    if (batch.empty()) break;
    for (const auto& e : batch)
      if (e.event.after.size() == 2) journaled[e.event.after[0].data] = e.event.after[1].data;
  }
  for (const char* p : {"f-", "w-"})
    for (const auto& [k, v] : Rows(p)) {
      ASSERT_EQ(journaled.count(k), 1u) << "missing key of size " << k.size();
      EXPECT_EQ(journaled[k], v) << "value of " << Json(k);
    }
}

}  // namespace
}  // namespace handoff::testing
