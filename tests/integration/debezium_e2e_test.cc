// End-to-end tests of Debezium JSON at the engine's edges: events captured
// from PostgreSQL survive encode/decode, the change feed carries every
// journaled change in order, and the `debezium` source kind (file and PULL)
// journals and applies exactly once.
#include <signal.h>

#include <fstream>
#include <map>
#include <random>
#include <thread>
#include <zmq.hpp>
#include <zmq_addon.hpp>

#include "handoff/capture/debezium.h"
#include "handoff/engine/journal.h"
#include "admin_client.h"
#include "spine_fixture.h"

namespace handoff::testing {
namespace {

constexpr auto kCatchUp = std::chrono::seconds(90);


std::vector<JournalEntry> ReadJournal(const std::string& path) {
  JournalOptions o;
  o.path = path;
  auto j = Journal::Open(o);
  EXPECT_TRUE(j.ok()) << j.status().ToString();
  std::vector<JournalEntry> all, batch;
  if (!j.ok()) return all;
  for (uint64_t next = 1;; next = all.back().seq + 1) {
    batch.clear();
    EXPECT_TRUE((*j)->Read(next, 1000, &batch).ok());
    if (batch.empty()) break;
    all.insert(all.end(), batch.begin(), batch.end());
  }
  return all;
}

// The first difference between two events, for failure messages.
std::string FirstDifference(const ChangeEvent& a, const ChangeEvent& b) {
  auto cols = [](const char* what, const std::vector<Column>& x, const std::vector<Column>& y) -> std::string {
    if (x.size() != y.size()) return std::string(what) + " sizes differ";
    for (size_t i = 0; i < x.size(); ++i)
      if (!(x[i] == y[i]))
        return std::string(what) + " column " + x[i].name + ": oid " + std::to_string(x[i].type_oid) + " kind " +
               std::to_string(int(x[i].kind)) + " '" + x[i].data + "' vs oid " + std::to_string(y[i].type_oid) +
               " kind " + std::to_string(int(y[i].kind)) + " '" + y[i].data + "' (" + y[i].name + ")";
    return "";
  };
  if (auto d = cols("after", a.after, b.after); !d.empty()) return d;
  if (auto d = cols("before", a.before, b.before); !d.empty()) return d;
  if (a.position != b.position) return "position " + FormatPosition(a.position) + " vs " + FormatPosition(b.position);
  if (a.xid != b.xid) return "xid";
  if (a.commit_time_us != b.commit_time_us) return "commit_time_us";
  if (a.origin != b.origin) return "origin";
  if (a.key_columns != b.key_columns) return "key_columns";
  if (a.has_before != b.has_before) return "has_before";
  if (a.op != b.op) return "op";
  if (a.schema != b.schema || a.table != b.table || a.source != b.source) return "names";
  return a == b ? "" : "another field";
}

class DebeziumE2ETest : public SpineTest {};

TEST_F(DebeziumE2ETest, CapturedEventsSurviveEncodeAndDecode) {
  CreateDatabases(name_);
  ASSERT_TRUE(server_->Exec(src_db_, R"sql(
    INSERT INTO time_entries (id, consultant_id, project_code, work_date, hours, billable, status, notes, approved_at,
                              updated_at, ref, tags, meta)
    SELECT g, g, 'PRJ-' || g, date '2026-10-01' + g, g + 0.25, g % 2 = 0, 'approved', 'Überweisung №' || g,
           timestamptz '2026-10-31 23:59:59.123456+02' + g * interval '1 minute', timestamp '2026-11-01 08:00:00',
           md5(g::text)::uuid, ARRAY['a' || g, 'b,"q"', NULL], jsonb_build_object('k', g)
    FROM generate_series(1, 20) g;
    INSERT INTO documents VALUES (1, 'spec', repeat('Zoë ', 3000), '\x00ff10'::bytea, '{"a": [1, 2.50]}', '{1,2,3}',
                                  now(), 123456789012345678901234567890.123456789);
    INSERT INTO consultants VALUES ('ana@example.com', 'Ana', 123.4567, true, -32768);
  )sql").ok());
  WriteConfig();
  StartEngine();
  ASSERT_TRUE(WaitForEqual(kCatchUp));
  ASSERT_TRUE(server_->Exec(src_db_, R"sql(
    UPDATE documents SET title = 'spec v2' WHERE id = 1;
    UPDATE time_entries SET hours = 99999999.99, notes = NULL WHERE id = 3;
    DELETE FROM time_entries WHERE id = 4;
    TRUNCATE consultants;
  )sql").ok());
  ASSERT_TRUE(WaitForEqual(kCatchUp));
  ASSERT_EQ(StopEngine(SIGTERM), 0);

  std::vector<JournalEntry> entries = ReadJournal(dir_ + "/journal");
  ASSERT_GT(entries.size(), 25u);
  size_t toast = 0, compared = 0;
  // Types travel in the schema envelope; payload-only JSON cannot carry them.
  for (bool with_schema : {true}) {
    DebeziumEncodeOptions o;
    o.include_schema = with_schema;
    o.include_key = true;
    for (const JournalEntry& e : entries) {
      if (e.event.op == Op::kCommit) continue;  // a transaction END record, not a change
      std::string json = EncodeDebezium(e.event, o);
      DebeziumDecoder d;
      std::vector<DecodedRecord> recs;
      Status st = d.DecodeAll(json, &recs);
      ASSERT_TRUE(st.ok()) << st.ToString() << "\n" << json;
      ASSERT_EQ(recs.size(), 1u);
      ChangeEvent got = recs[0].event;
      got.source_kind = e.event.source_kind;  // the decoder marks what it reads as Debezium
      got.correlation_id = e.event.correlation_id;
      EXPECT_EQ(got, e.event) << FirstDifference(e.event, got) << "\nseq " << e.seq << " (" << (with_schema ? "with" : "without") << " schema): " << json;
      for (const Column& c : e.event.after) toast += c.is_unchanged_toast();
      ++compared;
    }
  }
  EXPECT_GT(compared, 25u);
  EXPECT_EQ(toast, 1u) << "the title update leaves the TOASTed body unchanged";
}

TEST_F(DebeziumE2ETest, FeedDeliversEveryChangeInJournalOrder) {
  CreateDatabases(name_);
  const std::string endpoint = "tcp://127.0.0.1:" + std::to_string(FreeTcpPort());
  WriteConfig("feed: { publish: \"" + endpoint + "\" }\n");
  StartEngine();
  zmq::context_t ctx;
  zmq::socket_t sub(ctx, zmq::socket_type::sub);
  sub.set(zmq::sockopt::linger, 0);
  sub.set(zmq::sockopt::rcvtimeo, 200);
  sub.set(zmq::sockopt::subscribe, name_ + ".");
  sub.connect(endpoint);

  // PUB drops what is sent before a subscription arrives: write warm-up rows
  // until the first one is received.
  std::vector<zmq::message_t> msg;
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  uint64_t first_seq = 0;
  for (int i = 0; first_seq == 0; ++i) {
    ASSERT_LT(std::chrono::steady_clock::now(), deadline) << "no feed message arrived";
    ASSERT_TRUE(server_->Exec(src_db_, "INSERT INTO consultants VALUES ('warm" + std::to_string(i) +
                                           "@x', 'w', 1, true, 1)").ok());
    for (int k = 0; k < 5 && first_seq == 0; ++k) {
      msg.clear();
      if (zmq::recv_multipart(sub, std::back_inserter(msg))) {
        ASSERT_EQ(msg.size(), 3u);
        first_seq = std::stoull(msg[1].to_string());
      }
    }
  }
  // The changes under test: several tables, several transactions, one truncate.
  ASSERT_TRUE(server_->Exec(src_db_, R"sql(
    INSERT INTO time_entries (id, consultant_id, hours) SELECT g, g, g * 1.5 FROM generate_series(1, 300) g;
    BEGIN; UPDATE time_entries SET hours = 0 WHERE id <= 50; DELETE FROM time_entries WHERE id > 250; COMMIT;
    INSERT INTO documents (id, title, amount) VALUES (1, 'Zoë', 1.10);
    TRUNCATE consultants;
  )sql").ok());
  ASSERT_TRUE(WaitForEqual(kCatchUp));

  std::string dump;
  ASSERT_EQ(Handoff({"journal", "dump", "--config", config_}, &dump), 0);
  uint64_t last_seq = 0;
  size_t lines = 0;
  for (size_t p = 0; (p = dump.find("{\"seq\":", p)) != std::string::npos; ++p, ++lines)
    last_seq = std::max<uint64_t>(last_seq, std::stoull(dump.substr(p + 7, 20)));
  ASSERT_GT(last_seq, first_seq + 350);

  std::vector<std::string> topics;
  uint64_t expect = first_seq + 1, ops_update = 0, ops_delete = 0, truncates = 0;
  DebeziumDecoder decoder;
  deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (expect <= last_seq) {
    ASSERT_LT(std::chrono::steady_clock::now(), deadline) << "feed stopped at seq " << expect;
    msg.clear();
    if (!zmq::recv_multipart(sub, std::back_inserter(msg))) continue;
    ASSERT_EQ(msg.size(), 3u);
    ASSERT_EQ(std::stoull(msg[1].to_string()), expect) << "feed out of journal order or with a gap";
    ++expect;
    std::string topic = msg[0].to_string();
    std::vector<DecodedRecord> recs;
    Status st = decoder.DecodeAll(msg[2].to_string(), &recs);
    ASSERT_TRUE(st.ok()) << st.ToString() << ": " << msg[2].to_string();
    ASSERT_EQ(recs.size(), 1u);
    if (recs[0].kind == DecodedRecord::Kind::kTxnEnd) {
      EXPECT_EQ(topic, name_ + ".transaction");
      continue;
    }
    const ChangeEvent& ev = recs[0].event;
    EXPECT_EQ(topic, name_ + "." + ev.schema + "." + ev.table);
    ops_update += ev.op == Op::kUpdate;
    ops_delete += ev.op == Op::kDelete;
    truncates += ev.op == Op::kTruncate;
  }
  EXPECT_EQ(ops_update, 50u);
  EXPECT_EQ(ops_delete, 50u);
  EXPECT_EQ(truncates, 1u);
}

// Debezium JSON lines for a consultants row (table of the spine schema).
std::string ConsultantLine(const std::string& op, uint64_t xid, const std::string& email, const std::string& name,
                           const std::string& rate, bool active) {
  ChangeEvent e;
  e.source = "ignored";
  e.source_kind = SourceKind::kDebezium;
  e.xid = xid;
  e.position = {xid * 100, 1};
  e.commit_time_us = 1764000000000000 + static_cast<int64_t>(xid);
  e.schema = "public";
  e.table = "consultants";
  e.key_columns = {"email"};
  auto t = [](const char* n, uint32_t oid, std::string v) { return Column{n, oid, Column::Kind::kText, v}; };
  std::vector<Column> row = {t("email", 25, email), t("name", 25, name), t("rate", 1700, rate),
                             t("active", 16, active ? "t" : "f"), Column{"small", 21, Column::Kind::kNull, {}}};
  if (op == "c") {
    e.op = Op::kInsert;
    e.after = row;
  } else if (op == "u") {
    e.op = Op::kUpdate;
    e.after = row;
  } else {
    e.op = Op::kDelete;
    e.has_before = true;
    e.before = {t("email", 25, email)};
  }
  DebeziumEncodeOptions o;
  o.include_schema = (xid % 2) == 0;  // both envelopes in one file
  o.include_transaction_block = false;
  return EncodeDebezium(e, o) + "\n";
}

class DebeziumSourceTest : public SpineTest {
 protected:
  void WriteDebeziumConfig(const std::string& source_line, const std::string& extra = "") {
    std::ostringstream c;
    c << "journal: { path: " << dir_ << "/journal }\n"
      << "sources:\n  - " << source_line << "\n"
      << "targets:\n  - { name: erp, kind: postgres, dsn: \"" << server_->Dsn(dst_db_) << "\" }\n"
      << "routes:\n  - { from: dbz.public.consultants, to: erp.public.consultants }\n"
      << extra;
    config_ = dir_ + "/handoff.yaml";
    std::ofstream(config_) << c.str();
  }
  std::string Expected(const std::map<std::string, std::pair<std::string, std::string>>& rows) {
    std::string s;
    for (const auto& [email, v] : rows) s += email + "|" + v.first + "|" + v.second + "\n";
    return s;
  }
  std::string Actual() { return server_->Dump(dst_db_, "SELECT email, name, rate FROM consultants ORDER BY email"); }
  bool WaitFor(const std::string& want, std::chrono::seconds limit) {
    auto deadline = std::chrono::steady_clock::now() + limit;
    while (Actual() != want) {
      if (std::chrono::steady_clock::now() > deadline) return false;
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    return true;
  }
};

TEST_F(DebeziumSourceTest, FileIsFollowedAndAppliedExactlyOnceAcrossKills) {
  CreateDatabases(name_);
  const std::string file = dir_ + "/changes.ndjson";
  std::ofstream(file).close();
  WriteDebeziumConfig("{ name: dbz, kind: debezium, file: " + file + ", tables: [public.consultants] }");
  StartEngine();

  std::map<std::string, std::pair<std::string, std::string>> want;
  std::mt19937 rng(7);
  uint64_t xid = 1000, changes = 0;
  std::ofstream out(file, std::ios::app);
  for (int round = 0; round < 6; ++round) {
    for (int t = 0; t < 40; ++t) {
      ++xid;
      int n = 1 + static_cast<int>(rng() % 4);  // a transaction of 1..4 lines
      for (int k = 0; k < n; ++k) {
        std::string email = "c" + std::to_string(rng() % 60) + "@example.com";
        std::string rate = std::to_string(rng() % 1000) + "." + std::to_string(1000 + rng() % 9000);  // numeric(12,4)
        std::string name = "Zoë " + std::to_string(xid);
        if (!want.count(email)) {
          out << ConsultantLine("c", xid, email, name, rate, true);
          want[email] = {name, rate};
        } else if (rng() % 4 == 0) {
          out << ConsultantLine("d", xid, email, "", "", false);
          want.erase(email);
        } else {
          out << ConsultantLine("u", xid, email, name, rate, true);
          want[email] = {name, rate};
        }
        ++changes;
      }
      if (t % 10 == 0) out << "\n";  // blank lines are allowed
      out.flush();
    }
    // Kill the engine in the middle of the stream, then restart it.
    std::this_thread::sleep_for(std::chrono::milliseconds(50 + rng() % 200));
    ASSERT_EQ(StopEngine(SIGKILL), 128 + SIGKILL);
    StartEngine();
  }
  ASSERT_TRUE(WaitFor(Expected(want), kCatchUp)) << Actual();

  // Every change journaled exactly once.
  ASSERT_EQ(StopEngine(SIGTERM), 0);
  size_t journaled = 0;
  for (const JournalEntry& e : ReadJournal(dir_ + "/journal")) journaled += e.event.op != Op::kCommit;
  EXPECT_EQ(journaled, changes);
}

TEST_F(DebeziumSourceTest, MalformedLineHoldsTheSourceUntilFixed) {
  CreateDatabases(name_);
  const std::string file = dir_ + "/changes.ndjson";
  const std::string bad = "{\"payload\": {\"op\": \"c\", \"after\": {\"email\": tru}}}\n";
  {
    std::ofstream out(file);
    out << ConsultantLine("c", 11, "a@x", "A", "1.0000", true) << bad << ConsultantLine("c", 12, "b@x", "B", "2.0000", true);
  }
  WriteDebeziumConfig("{ name: dbz, kind: debezium, file: " + file + " }");
  StartEngine();
  ASSERT_TRUE(WaitFor("a@x|A|1.0000\n", kCatchUp)) << Actual();
  std::this_thread::sleep_for(std::chrono::milliseconds(800));
  EXPECT_EQ(Actual(), "a@x|A|1.0000\n") << "nothing after the bad line may pass it";
  EXPECT_NE(LogTail().find("line at byte"), std::string::npos) << LogTail();
  // Fix the line in place (blank it out); the source goes on from there.
  {
    std::fstream f(file, std::ios::in | std::ios::out);
    std::string first = ConsultantLine("c", 11, "a@x", "A", "1.0000", true);
    f.seekp(static_cast<std::streamoff>(first.size()));
    f << std::string(bad.size() - 1, ' ');
  }
  ASSERT_TRUE(WaitFor("a@x|A|1.0000\nb@x|B|2.0000\n", kCatchUp)) << Actual() << LogTail();
}

// One bad line retried for seconds: the backoff doubles (progress is an
// event journaled, not a retry), the log holds the first failure and one
// summary per doubling, and /status says which line and why.
TEST_F(DebeziumSourceTest, MalformedLineIsLoggedBoundedlyAndNamedInStatus) {
  CreateDatabases(name_);
  const std::string file = dir_ + "/changes.ndjson";
  {
    std::ofstream out(file);
    out << ConsultantLine("c", 11, "a@x", "A", "1.0000", true) << "{\"payload\": {\"op\": \"c\", \"after\": tru}}\n";
  }
  const int admin = FreeTcpPort();
  WriteDebeziumConfig("{ name: dbz, kind: debezium, file: " + file + " }",
                      "admin: { listen: \"127.0.0.1:" + std::to_string(admin) + "\" }\n");
  StartEngine();
  ASSERT_TRUE(WaitFor("a@x|A|1.0000\n", kCatchUp)) << Actual();
  // Six tries take 100+200+400+800+1600 ms at least; at a fixed 100 ms they took half a second.
  const auto started = std::chrono::steady_clock::now();
  std::string status;
  ASSERT_TRUE(WaitUntil([&] {
    status = HttpGet(admin, "/status").body;
    return status.find("\"failures\":6") != std::string::npos;
  }, std::chrono::seconds(60))) << status << LogTail();
  EXPECT_GE(std::chrono::steady_clock::now() - started, std::chrono::milliseconds(2500)) << "the backoff did not grow";
  EXPECT_NE(status.find("\"state\":\"failed\""), std::string::npos) << status;
  EXPECT_NE(status.find(file + ": line at byte "), std::string::npos) << status;
  EXPECT_NE(status.find("fix or remove the line"), std::string::npos) << status;
  EXPECT_EQ(HttpGet(admin, "/readyz").status, 503);
  // Tries 1, 2 and 4 are logged: three lines for six tries.
  const std::string log = LogTail(1 << 20);
  size_t lines = 0;
  for (size_t at = log.find("line at byte"); at != std::string::npos; at = log.find("line at byte", at + 1)) ++lines;
  EXPECT_GE(lines, 2u) << log;
  EXPECT_LE(lines, 3u) << log;
  EXPECT_NE(log.find("still failing after 2 tries"), std::string::npos) << log;
  // Removing the line recovers, logged once.
  std::ofstream(file) << ConsultantLine("c", 11, "a@x", "A", "1.0000", true)
                      << ConsultantLine("c", 12, "b@x", "B", "2.0000", true);
  ASSERT_TRUE(WaitFor("a@x|A|1.0000\nb@x|B|2.0000\n", kCatchUp)) << Actual() << LogTail();
  ASSERT_TRUE(WaitUntil([&] { return LogTail(1 << 20).find("recovered after") != std::string::npos; },
                        std::chrono::seconds(30))) << LogTail();
  EXPECT_NE(HttpGet(admin, "/status").body.find("\"state\":\"streaming\""), std::string::npos);
}

TEST_F(DebeziumSourceTest, PullSocketJournalsPushedMessages) {
  CreateDatabases(name_);
  const std::string endpoint = "tcp://127.0.0.1:" + std::to_string(FreeTcpPort());
  WriteDebeziumConfig("{ name: dbz, kind: debezium, pull: \"" + endpoint + "\" }");
  StartEngine();
  zmq::context_t ctx;
  zmq::socket_t push(ctx, zmq::socket_type::push);
  push.set(zmq::sockopt::linger, 5000);
  push.connect(endpoint);
  std::string want;
  for (int i = 0; i < 100; ++i) {
    char email[32];
    std::snprintf(email, sizeof email, "p%03d@x", i);
    std::string line = ConsultantLine("c", 500 + i, email, "P", "3.5000", true);
    push.send(zmq::buffer(line), zmq::send_flags::none);
    want += std::string(email) + "|P|3.5000\n";
  }
  push.send(zmq::str_buffer("this is not json"), zmq::send_flags::none);
  ASSERT_TRUE(WaitFor(want, kCatchUp)) << Actual();
  std::string metrics_hint = LogTail();
  EXPECT_NE(metrics_hint.find("is not Debezium JSON"), std::string::npos) << metrics_hint;
}

}  // namespace
}  // namespace handoff::testing
