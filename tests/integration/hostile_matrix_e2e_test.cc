// Every hostile value class through every source kind to every target kind,
// checked row for row: what arrived (byte for byte), what was parked and with
// which code and reason, and what a source could not carry at all.
//
// Sources: PostgreSQL logical replication from a SQL_ASCII database (which
// stores any byte but NUL) read by the engine, both from the initial snapshot
// and from the stream; the same kind run by `handoff agent`; a Debezium file,
// in the engine and run by `handoff agent`; a signed webhook. Targets: a
// PostgreSQL table (UTF8, integer and numeric(6,2) columns; the good and bad
// rows of one source arrive together, so the COPY of a chunk fails and the
// chunk is applied change by change) and an HTTP API.
#include <fmt/format.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <signal.h>

#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <thread>

#include "fake_api.h"
#include "handoff/capture/debezium.h"
#include "handoff/engine/event_json.h"
#include "handoff/engine/journal.h"
#include "spine_fixture.h"

namespace handoff::testing {
namespace {

using namespace std::string_literals;
constexpr auto kCatchUp = std::chrono::seconds(90);

// One value class: a row of public.notes (k, body, qty, amount), all text at the source.
struct Case {
  Case(std::string c, std::string b, std::string q = "1", std::string a = "1.50", std::string k = "")
      : cls(std::move(c)), body(std::move(b)), qty(std::move(q)), amount(std::move(a)), key_suffix(std::move(k)) {}
  std::string cls, body, qty, amount;
  std::string key_suffix;  // the key is <source>.<key_suffix or cls>
};

std::vector<Case> Cases() {
  return {
      {"good", "plain"},
      {"nul-value", "ab\0cd"s},
      {"nul-key", "overwritten", "1", "1.50", "victim\0evil"s},
      {"bad-utf8", "a\xff\xfe b \x80 c \xe6\x97"},  // bytes ff fe, a lone continuation byte, a cut sequence
      {"bad-utf8-key", "fine", "1", "1.50", "key\xc3"},
      {"bad-int", "fine", "abc"},
      {"bad-numeric", "fine", "1", "123456.789"},  // over numeric(6,2)
      {"long", std::string(300000, 'x') + "end"},
      {"quotes", "it's \"q\" \\ back\\\\slash\nline\ttab\r\\N\\.\n"},
      {"null-marker", "\\N"},  // COPY's NULL marker as a value
      {"unicode", "Zo\u00eb \u00c5ngstr\u00f6m \u65e5\u672c\u8a9e \U0001F389 e\u0301"},
  };
}

enum class Kind { kPgSnapshot, kPgStream, kPgAgent, kDbz, kDbzAgent, kHook };
bool IsPg(Kind k) { return k == Kind::kPgSnapshot || k == Kind::kPgStream || k == Kind::kPgAgent; }
bool HasNul(const std::string& s) { return s.find('\0') != std::string::npos; }
bool BadUtf8(const Case& c) { return c.cls.rfind("bad-utf8", 0) == 0; }

// Whether a source kind can carry the case at all. PostgreSQL text cannot
// hold a NUL (the source INSERT is refused; asserted below); JSON text is
// UTF-8, so raw bytes that are not are no JSON (a webhook answers 400, a file
// source stops at that line; asserted below).
bool Carries(Kind k, const Case& c) {
  if (IsPg(k)) return !HasNul(c.body) && !HasNul(c.key_suffix);
  return !BadUtf8(c);
}

std::string Hex(const std::string& s) {
  std::string out;
  for (unsigned char ch : s) out += fmt::format("{:02x}", ch);
  return out;
}
std::string Md5(const std::string& s) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int n = 0;
  EVP_Digest(s.data(), s.size(), md, &n, EVP_md5(), nullptr);
  return Hex(std::string(reinterpret_cast<char*>(md), n));
}
std::string HexHmac(const std::string& key, const std::string& data) {
  unsigned char md[32];
  unsigned int n = 0;
  HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()), reinterpret_cast<const unsigned char*>(data.data()),
       data.size(), md, &n);
  return Hex(std::string(reinterpret_cast<char*>(md), n));
}
std::string Json(const std::string& s) {
  std::string out;
  AppendJsonString(&out, s);
  return out;
}
// An SQL literal holding any bytes but NUL (E'' with \x escapes).
std::string SqlBytes(const std::string& s) {
  std::string out = "E'";
  for (unsigned char ch : s) out += fmt::format("\\x{:02x}", ch);
  return out + "'";
}

std::string EncodeRow(const std::string& key, const Case& c) {
  ChangeEvent e;
  e.source = "ignored";
  e.source_kind = SourceKind::kDebezium;
  e.position = {100, 1};
  e.schema = "public";
  e.table = "notes";
  e.op = Op::kInsert;
  e.key_columns = {"k"};
  e.after = {{"k", 25, Column::Kind::kText, key},
             {"body", 25, Column::Kind::kText, c.body},
             {"qty", 25, Column::Kind::kText, c.qty},
             {"amount", 25, Column::Kind::kText, c.amount}};
  DebeziumEncodeOptions o;
  o.include_transaction_block = false;
  return EncodeDebezium(e, o);
}

// The JSON of a case with its raw bytes written into the key and body
// strings unescaped, as a sender of bytes that are not UTF-8 would.
std::string RawJsonRow(const std::string& prefix, const Case& c) {
  std::string line = EncodeRow(prefix + "KEYPH", {c.cls, "BODYPH", c.qty, c.amount});
  line.replace(line.find("KEYPH"), 5, c.key_suffix.empty() ? c.cls : c.key_suffix);
  line.replace(line.find("\"BODYPH\""), 8, "\"" + c.body + "\"");
  return line;
}

struct Outcome {
  bool arrives = false;
  std::string code, reason;  // when parked
};

Outcome AtPostgres(const Case& c) {
  if (HasNul(c.body)) return {false, "invalid_bytes", "column body of public.notes holds a NUL byte (offset 2)"};
  if (HasNul(c.key_suffix)) return {false, "invalid_bytes", "key column k of public.notes holds a NUL byte"};
  if (c.cls == "bad-utf8")
    return {false, "invalid_bytes", "column body of public.notes holds bytes that are not valid UTF-8 (offset 1)"};
  if (c.cls == "bad-utf8-key")
    return {false, "invalid_bytes", "key column k of public.notes holds bytes that are not valid UTF-8"};
  if (c.cls == "bad-int") return {false, "22P02", "abc"};
  if (c.cls == "bad-numeric") return {false, "22003", "numeric"};
  return {true, "", ""};
}
Outcome AtHttp(const Case& c) {
  if (c.cls == "bad-utf8")
    return {false, "invalid_bytes", "column body of public.notes holds bytes that are not valid UTF-8"};
  if (c.cls == "bad-utf8-key")
    return {false, "invalid_bytes", "column k of public.notes holds bytes that are not valid UTF-8"};
  return {true, "", ""};
}

class HostileMatrixE2ETest : public SpineTest {
 protected:
  std::string Src(Kind k) {
    switch (k) {
      case Kind::kPgSnapshot:
      case Kind::kPgStream:
        return name_ + "pg";
      case Kind::kPgAgent:
        return name_ + "pga";
      case Kind::kDbz:
        return name_ + "dbz";
      case Kind::kDbzAgent:
        return name_ + "dbza";
      case Kind::kHook:
        return name_ + "hook";
    }
    return "";
  }
  // The key of a case from a source kind; snapshot and stream rows of one
  // source are told apart by their prefix.
  std::string Key(Kind k, const Case& c) {
    std::string p = Src(k) + (k == Kind::kPgSnapshot ? ".snap." : ".");
    return p + (c.key_suffix.empty() ? c.cls : c.key_suffix);
  }
  std::string ReadFile(const std::string& path) {
    std::ifstream in(path);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
  }
  // Inserts the PostgreSQL cases into a SQL_ASCII source database in one
  // transaction after `first`; a NUL cannot be stored there (asserted).
  void InsertPg(const std::string& db, Kind k, const std::string& first = "") {
    std::string sql = "BEGIN;" + first;
    for (const Case& c : Cases()) {
      const std::string row = "(" + SqlBytes(Key(k, c)) + ", " + (HasNul(c.body) ? "E'ab\\000cd'" : SqlBytes(c.body)) +
                              ", '" + c.qty + "', '" + c.amount + "')";
      if (!Carries(k, c)) {
        EXPECT_FALSE(server_->Exec(db, "INSERT INTO notes VALUES " + row).ok())
            << c.cls << " stored in PostgreSQL text";
        continue;
      }
      sql += "INSERT INTO notes VALUES " + row + ";";
    }
    ASSERT_TRUE(server_->Exec(db, sql + "COMMIT;").ok());
  }
  // A Debezium file: every case it can carry, then the one line it cannot.
  void WriteDebeziumFile(const std::string& path, Kind k) {
    std::ofstream out(path);
    for (const Case& c : Cases())
      if (Carries(k, c)) out << EncodeRow(Key(k, c), c) << "\n";
    out << RawJsonRow(Src(k) + ".", Cases()[3]) << "\n";
  }
  httplib::Result Post(int port, const std::string& payload) {
    httplib::Client cli("127.0.0.1", port);
    cli.set_connection_timeout(2);
    std::string t = std::to_string(time(nullptr));
    httplib::Headers h{{"Stripe-Signature", "t=" + t + ",v1=" + HexHmac("s3cret", t + "." + payload)}};
    return cli.Post("/hooks/notes", h, payload, "application/json");
  }
  size_t ParkedCount() {
    std::string out;
    Handoff({"exceptions", "list", "--config", config_, "--json"}, &out);
    size_t n = 0;
    for (size_t at = out.find("\"seq\""); at != std::string::npos; at = out.find("\"seq\"", at + 1)) ++n;
    return n;
  }
  void TearDown() override {
    for (ChildProcess* p : {&pg_agent_, &dbz_agent_})
      if (p->running()) p->Stop(SIGKILL);
    if (HasFailure())
      for (const char* f : {"/pga.log", "/dbza.log"})
        std::fprintf(stderr, "---- %s ----\n%s\n", f, ReadFile(dir_ + f).substr(0, 3000).c_str());
    SpineTest::TearDown();
  }
  ChildProcess pg_agent_, dbz_agent_;
};

TEST_F(HostileMatrixE2ETest, EveryValueClassFromEverySourceToEveryTarget) {
  const std::vector<Kind> kinds{Kind::kPgSnapshot, Kind::kPgStream, Kind::kPgAgent,
                                Kind::kDbz,        Kind::kDbzAgent, Kind::kHook};
  const std::string pg_db = name_ + "_pg", pga_db = name_ + "_pga";
  dst_db_ = name_ + "_dst";
  for (const std::string& db : {pg_db, pga_db}) {
    ASSERT_TRUE(server_
                    ->Exec("postgres", "CREATE DATABASE " + db +
                                           " ENCODING 'SQL_ASCII' LC_COLLATE 'C' LC_CTYPE 'C' TEMPLATE template0")
                    .ok());
    ASSERT_TRUE(server_->Exec(db, "CREATE TABLE notes (k text PRIMARY KEY, body text, qty text, amount text)").ok());
  }
  src_db_ = pg_db;
  ASSERT_TRUE(server_->CreateDatabase(dst_db_).ok());
  std::string victims = "CREATE TABLE notes (k text PRIMARY KEY, body text, qty integer, amount numeric(6,2));";
  for (Kind k : {Kind::kDbz, Kind::kDbzAgent, Kind::kHook})
    victims += "INSERT INTO notes VALUES ('" + Src(k) + ".victim', 'original', 7, 7);";
  ASSERT_TRUE(server_->Exec(dst_db_, victims).ok());
  const std::string existing = Src(Kind::kPgStream) + ".existing";
  ASSERT_TRUE(server_->Exec(pg_db, "INSERT INTO notes VALUES ('" + existing + "', 'existing', '1', '1.50')").ok());
  InsertPg(pg_db, Kind::kPgSnapshot);  // before the engine starts: read by the snapshot
  WriteDebeziumFile(dir_ + "/dbz.ndjson", Kind::kDbz);
  WriteDebeziumFile(dir_ + "/dbza.ndjson", Kind::kDbzAgent);

  FakeApi api;
  const int hook_port = FreeTcpPort();
  std::ostringstream c;
  c << "journal: { path: " << dir_ << "/journal }\n"
    << "engine: { intake: \"ipc://" << dir_ << "/intake.sock\" }\n"
    << "sources:\n"
    << "  - { name: " << Src(Kind::kPgStream) << ", kind: postgres, dsn: \"" << server_->Dsn(pg_db)
    << "\", tables: [public.notes] }\n"
    << "  - { name: " << Src(Kind::kPgAgent) << ", kind: postgres, external: true, dsn: \"" << server_->Dsn(pga_db)
    << "\", tables: [public.notes] }\n"
    << "  - { name: " << Src(Kind::kDbz) << ", kind: debezium, file: " << dir_ << "/dbz.ndjson }\n"
    << "  - { name: " << Src(Kind::kDbzAgent) << ", kind: debezium, external: true, file: " << dir_
    << "/dbza.ndjson }\n"
    << "  - { name: " << Src(Kind::kHook) << ", kind: webhook, listen: \"127.0.0.1:" << hook_port
    << "\", path: /hooks/notes, format: debezium, signature: stripe, secrets: [s3cret], max_body: 4MiB }\n"
    << "targets:\n  - { name: erp, kind: postgres, dsn: \"" << server_->Dsn(dst_db_) << "\" }\n"
    << "  - { name: api, kind: http, url: \"" << api.base_url() << "\", timeout: 5s }\n"
    << "routes:\n";
  for (Kind k : {Kind::kPgStream, Kind::kPgAgent, Kind::kDbz, Kind::kDbzAgent, Kind::kHook})
    c << "  - { from: " << Src(k) << ".public.notes, to: erp.public.notes }\n"
      << "  - { from: " << Src(k) << ".public.notes, to: api.notes }\n";
  config_ = dir_ + "/handoff.yaml";
  std::ofstream(config_) << c.str();
  StartEngine();
  pg_agent_.Start({HandoffBinary(), "agent", "--config", config_, "--source", Src(Kind::kPgAgent)}, dir_ + "/pga.log");
  dbz_agent_.Start({HandoffBinary(), "agent", "--config", config_, "--source", Src(Kind::kDbzAgent)},
                   dir_ + "/dbza.log");

  // Webhook deliveries: each case, then the raw bytes JSON cannot carry (400).
  httplib::Result r = Post(hook_port, EncodeRow(Key(Kind::kHook, Cases()[0]), Cases()[0]));
  for (int i = 0; i < 200 && (!r || r->status == 503); ++i) {  // the engine comes up
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    r = Post(hook_port, EncodeRow(Key(Kind::kHook, Cases()[0]), Cases()[0]));
  }
  ASSERT_TRUE(r) << LogTail();
  ASSERT_EQ(r->status, 200) << r->body;
  for (const Case& cs : Cases()) {
    if (cs.cls == "good") continue;
    if (!Carries(Kind::kHook, cs)) {  // raw bytes in the JSON text
      auto bad = Post(hook_port, RawJsonRow(Src(Kind::kHook) + ".", cs));
      ASSERT_TRUE(bad);
      EXPECT_EQ(bad->status, 400) << cs.cls;
      continue;
    }
    auto ok = Post(hook_port, EncodeRow(Key(Kind::kHook, cs), cs));
    ASSERT_TRUE(ok);
    EXPECT_EQ(ok->status, 200) << cs.cls << ": " << ok->body;
  }
  // JSON's own way to name what is not UTF-8, a lone surrogate escape, is refused
  // whole too (a pair is a character, as in the unicode case).
  for (const char* escape : {"\\udcff", "\\ud800", "\\ud800\\u0041"}) {
    std::string body = EncodeRow(Src(Kind::kHook) + ".surrogate", {"surrogate", "BODYPH"});
    body.replace(body.find("BODYPH"), 6, escape);
    auto bad = Post(hook_port, body);
    ASSERT_TRUE(bad);
    EXPECT_EQ(bad->status, 400) << escape;
  }

  // The streamed PostgreSQL rows, once both slots exist.
  ASSERT_TRUE(WaitUntil(
      [&] {
        return LogTail(1 << 20).find("streaming from slot \"handoff_" + Src(Kind::kPgStream)) != std::string::npos &&
               ReadFile(dir_ + "/pga.log").find("streaming from slot") != std::string::npos;
      },
      std::chrono::seconds(30)))
      << LogTail();
  // All-new inserts are COPYed straight into the table; an update in the
  // chunk sends it through the staging table's COPY instead. Both fail on the
  // bad rows and fall back to change by change.
  InsertPg(pg_db, Kind::kPgStream, "UPDATE notes SET body = 'updated' WHERE k = '" + existing + "';");
  InsertPg(pga_db, Kind::kPgAgent);

  // What should arrive where, and what should be parked with which reason.
  std::map<std::string, std::string> want_rows;                        // key -> "md5 length qty amount"
  std::map<std::pair<std::string, std::string>, Outcome> want_parked;  // (target, key)
  std::vector<std::string> want_http;
  auto row = [](const std::string& body, const std::string& qty, const std::string& amount) {
    return Md5(body) + " " + std::to_string(body.size()) + " " + qty + " " + amount;
  };
  for (Kind k : {Kind::kDbz, Kind::kDbzAgent, Kind::kHook})
    want_rows[Src(k) + ".victim"] = row("original", "7", "7.00");
  want_rows[existing] = row("updated", "1", "1.50");
  for (const char* body : {"existing", "updated"})
    want_http.push_back("\"after\":{\"k\":" + Json(existing) + ",\"body\":\"" + body +
                        "\",\"qty\":\"1\",\"amount\":\"1.50\"}");
  for (Kind k : kinds) {
    for (const Case& cs : Cases()) {
      if (!Carries(k, cs)) continue;
      const std::string key = Key(k, cs);
      Outcome pg = AtPostgres(cs), http = AtHttp(cs);
      if (pg.arrives)
        want_rows[key] = row(cs.body, cs.qty, cs.amount);
      else
        want_parked[{"erp", key}] = pg;
      if (http.arrives)
        want_http.push_back("\"after\":{\"k\":" + Json(key) + ",\"body\":" + Json(cs.body) +
                            ",\"qty\":" + Json(cs.qty) + ",\"amount\":" + Json(cs.amount) + "}");
      else
        want_parked[{"api", key}] = http;
    }
  }

  const std::string rows_sql =
      "SELECT encode(convert_to(k, 'UTF8'), 'hex'), md5(convert_to(body, 'UTF8')), octet_length(body), qty, "
      "amount FROM notes ORDER BY k COLLATE \"C\"";
  std::string want_dump;
  for (const auto& [k, v] : want_rows) {
    std::istringstream parts(v);
    std::string md5, len, qty, amount;
    parts >> md5 >> len >> qty >> amount;
    want_dump += Hex(k) + "|" + md5 + "|" + len + "|" + qty + "|" + amount + "\n";
  }
  ASSERT_TRUE(WaitUntil([&] { return server_->Dump(dst_db_, rows_sql) == want_dump; }, kCatchUp))
      << "want\n"
      << want_dump << "got\n"
      << server_->Dump(dst_db_, rows_sql) << LogTail();
  ASSERT_TRUE(api.WaitForRequests(want_http.size(), std::chrono::seconds(60))) << api.requests().size() << LogTail();
  ASSERT_TRUE(WaitUntil([&] { return ParkedCount() >= want_parked.size(); }, kCatchUp)) << ParkedCount();
  auto reqs = api.requests();
  EXPECT_EQ(reqs.size(), want_http.size());
  for (const std::string& needle : want_http) {
    bool found = false;
    for (const auto& q : reqs) found = found || q.body.find(needle) != std::string::npos;
    EXPECT_TRUE(found) << "no request carries " << needle.substr(0, 160);
  }
  // The good and bad rows of one transaction went to COPY together; the
  // failing chunk was then applied change by change.
  EXPECT_NE(LogTail(1 << 22).find("isolating the failing change"), std::string::npos);
  // A file source stops at the line that is not JSON, after every line before it.
  EXPECT_NE(LogTail(1 << 22).find("dbz.ndjson: line at byte"), std::string::npos);
  EXPECT_NE(ReadFile(dir_ + "/dbza.log").find("dbza.ndjson: line at byte"), std::string::npos);

  EXPECT_EQ(pg_agent_.Stop(SIGTERM), 0);
  EXPECT_EQ(dbz_agent_.Stop(SIGTERM), 0);
  ASSERT_EQ(StopEngine(SIGTERM), 0);

  // Parked: exactly the expected (target, key) pairs, each with its code and reason.
  JournalOptions o;
  o.path = dir_ + "/journal";
  auto j = Journal::Open(o);
  ASSERT_TRUE(j.ok()) << j.status().ToString();
  std::map<uint64_t, ChangeEvent> by_seq;
  std::vector<JournalEntry> batch;
  for (uint64_t next = 1;; next = batch.back().seq + 1) {
    batch.clear();
    ASSERT_TRUE((*j)->Read(next, 1000, &batch).ok());
    if (batch.empty()) break;
    for (auto& e : batch) by_seq[e.seq] = std::move(e.event);
  }
  auto parked = (*j)->Exceptions(ExceptionState::kOpen);
  ASSERT_TRUE(parked.ok());
  std::set<std::pair<std::string, std::string>> seen;
  for (const auto& x : *parked) {
    const Column* kcol = by_seq.count(x.seq) ? by_seq[x.seq].FindAfter("k") : nullptr;
    ASSERT_NE(kcol, nullptr) << x.reason;
    const std::pair<std::string, std::string> id{x.target, kcol->data};
    EXPECT_TRUE(seen.insert(id).second) << "parked twice: " << x.target << " " << Json(kcol->data);
    auto want = want_parked.find(id);
    if (want == want_parked.end()) {
      ADD_FAILURE() << "unexpected: " << x.target << " parked " << Json(kcol->data) << ": " << x.code << " "
                    << x.reason;
      continue;
    }
    EXPECT_EQ(x.code, want->second.code) << x.target << " " << Json(kcol->data) << ": " << x.reason;
    EXPECT_NE(x.reason.find(want->second.reason), std::string::npos)
        << x.target << " " << Json(kcol->data) << ": " << x.reason << "\nwant: " << want->second.reason;
  }
  for (const auto& [id, out] : want_parked)
    EXPECT_TRUE(seen.count(id)) << "not parked: " << id.first << " " << Json(id.second);

  // The journal kept every carried value byte for byte, whatever the targets did.
  std::map<std::string, const ChangeEvent*> by_key;
  for (const auto& [seq, e] : by_seq)
    if (const Column* kcol = e.FindAfter("k")) by_key[kcol->data] = &e;
  for (Kind k : kinds)
    for (const Case& cs : Cases()) {
      if (!Carries(k, cs)) continue;
      auto it = by_key.find(Key(k, cs));
      ASSERT_NE(it, by_key.end()) << "not journaled: " << Json(Key(k, cs));
      const Column* b = it->second->FindAfter("body");
      ASSERT_NE(b, nullptr);
      EXPECT_EQ(Hex(b->data), Hex(cs.body)) << Json(Key(k, cs));
    }
}

}  // namespace
}  // namespace handoff::testing
