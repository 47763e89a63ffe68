// End-to-end: PostgreSQL capture -> LMDB journal -> PostgreSQL apply, through
// the real handoff binary.
#include <signal.h>

#include <random>
#include <cstring>
#include <fstream>
#include <thread>

#include "apply_ledger.h"
#include "source_writer.h"
#include "spine_fixture.h"

namespace handoff::testing {
namespace {

constexpr auto kCatchUp = std::chrono::seconds(90);

std::string BigText(int seed, size_t n) {
  std::mt19937 rng(seed);
  static const std::vector<std::string> tokens = {"a", "b", "z", "Ä", "ö", "ß", "é", "ç", "7", " ", "東", "q"};
  std::string s;
  while (s.size() < n) s += tokens[rng() % tokens.size()];
  return s;
}

const char* kSeedRows = R"sql(
INSERT INTO time_entries (id, consultant_id, project_code, work_date, hours, billable, status, notes, approved_at,
                          updated_at, ref, tags, meta)
SELECT g, g % 17, 'PRJ-' || (g % 5), date '2026-10-01' + (g % 30), (g % 9) + 0.25, g % 2 = 0,
       CASE WHEN g % 3 = 0 THEN 'approved' ELSE 'submitted' END,
       CASE WHEN g % 7 = 0 THEN NULL ELSE 'Arbeit an Überweisung №' || g END,
       timestamptz '2026-10-31 23:59:59.123456+02' + g * interval '1 minute',
       timestamp '2026-11-01 08:00:00' + g * interval '1 second',
       md5(g::text)::uuid, ARRAY['a' || g, 'b,"q"', NULL], jsonb_build_object('k', g, 'nested', jsonb_build_array(1, 'x'))
FROM generate_series(1, 500) g;
INSERT INTO consultants VALUES ('ana@example.com', 'Ana Łukasiewicz', 123.4567, true, 7),
                               ('bo@example.com', 'Bo 東京', NULL, false, -32768);
)sql";

TEST_F(SpineTest, SnapshotThenStreamEveryTypeArrivesIdentical) {
  CreateDatabases(name_);
  ASSERT_TRUE(server_->Exec(src_db_, kSeedRows).ok());
  std::string body = BigText(1, 6000);
  ASSERT_TRUE(server_->Exec(src_db_, "INSERT INTO documents VALUES (1, 'spec', '" + body +
                                         "', '\\x00ff10'::bytea, '{\"a\": [1, 2.50]}', '{1,2,3}', now(), "
                                         "123456789012345678901234567890.123456789)")
                  .ok());
  WriteConfig();
  StartEngine();
  ASSERT_TRUE(WaitForEqual(kCatchUp)) << "snapshot did not arrive";

  // Stream: inserts, updates (one leaving the TOASTed body unchanged), deletes.
  ASSERT_TRUE(server_->Exec(src_db_, R"sql(
    BEGIN;
    INSERT INTO time_entries (id, consultant_id, hours, notes, meta) VALUES (1001, 3, 7.50, E'tab\there\nnewline \\ back', 'null');
    UPDATE time_entries SET status = 'approved', version = version + 1 WHERE id % 10 = 0;
    DELETE FROM time_entries WHERE id BETWEEN 400 AND 450;
    COMMIT;
    UPDATE documents SET title = 'spec v2' WHERE id = 1;
    UPDATE consultants SET rate = 99.0001, name = NULL WHERE email = 'ana@example.com';
    INSERT INTO documents VALUES (2, NULL, NULL, NULL, NULL, NULL, NULL, NULL);
  )sql").ok());
  ASSERT_TRUE(WaitForEqual(kCatchUp));
  EXPECT_EQ(server_->Dump(dst_db_, "SELECT octet_length(body), title FROM documents WHERE id = 1"),
            std::to_string(body.size()) + "|spec v2\n");

  // The unchanged TOAST marker reached the journal as such.
  std::string dump;
  ASSERT_EQ(Handoff({"journal", "dump", "--config", config_}, &dump), 0);
  EXPECT_NE(dump.find("\"body\":{\"unchanged_toast\":true}"), std::string::npos);

  // Truncate.
  ASSERT_TRUE(server_->Exec(src_db_, "TRUNCATE consultants").ok());
  ASSERT_TRUE(WaitForEqual(kCatchUp));
  EXPECT_EQ(server_->Dump(dst_db_, "SELECT count(*) FROM consultants"), "0\n");

  // Nothing doubled at the snapshot/stream boundary: exactly one snapshot read per seed row.
  size_t reads = 0;
  for (size_t p = dump.find("\"op\":\"read\""); p != std::string::npos; p = dump.find("\"op\":\"read\"", p + 1)) ++reads;
  EXPECT_EQ(reads, 500u + 2u + 1u);

  EXPECT_EQ(StopEngine(SIGTERM), 0) << "SIGTERM must drain and exit 0";
}

TEST_F(SpineTest, SigkillAtManyPointsLosesAndDuplicatesNothing) {
  CreateDatabases(name_);
  // The target logs every row version it receives; a version applied twice shows up twice.
  ASSERT_TRUE(InstallApplyLedger(*server_, dst_db_).ok());
  ASSERT_TRUE(server_->Exec(src_db_, "INSERT INTO time_entries (id, consultant_id) SELECT g, 1 FROM generate_series(1, 200) g").ok());
  WriteConfig();
  SourceWriter writer({server_, src_db_, /*seed=*/7});
  writer.Start();

  // Kills: right after a journal commit before the ack (crash point), and at random moments.
  int kills = 0;
  StartEngine({"HANDOFF_CRASH_AT=intake.after_commit:3"});
  EXPECT_EQ(engine_.Wait(std::chrono::seconds(60)), 128 + SIGKILL) << "crash point did not fire";
  ++kills;
  StartEngine({"HANDOFF_CRASH_AT=apply.before_commit:2"});
  EXPECT_EQ(engine_.Wait(std::chrono::seconds(60)), 128 + SIGKILL) << "apply crash point did not fire";
  ++kills;
  std::mt19937 rng(11);
  for (int i = 0; i < 5; ++i) {
    StartEngine();
    std::this_thread::sleep_for(std::chrono::milliseconds(150 + rng() % 1500));
    StopEngine(SIGKILL);
    ++kills;
  }
  writer.Stop();
  StartEngine();
  ASSERT_TRUE(WaitForEqual(kCatchUp));
  EXPECT_GE(kills, 7);
  EXPECT_GT(writer.transactions(), 20);
  EXPECT_EQ(writer.failures(), 0);
  EXPECT_EQ(LedgerDuplicates(*server_, dst_db_), "") << "a row version was applied twice";
  EXPECT_EQ(StopEngine(SIGTERM), 0);
}

TEST_F(SpineTest, ReplayRebuildsAnEmptiedTarget) {
  CreateDatabases(name_);
  ASSERT_TRUE(server_->Exec(src_db_, kSeedRows).ok());
  WriteConfig();
  StartEngine();
  ASSERT_TRUE(WaitForEqual(kCatchUp));
  ASSERT_TRUE(server_->Exec(src_db_, "UPDATE time_entries SET hours = hours * 2 WHERE id < 100; DELETE FROM consultants WHERE small = 7").ok());
  ASSERT_TRUE(WaitForEqual(kCatchUp));
  EXPECT_EQ(StopEngine(SIGTERM), 0);

  ASSERT_TRUE(server_->Exec(dst_db_, "TRUNCATE time_entries, documents, consultants").ok());
  std::string out, err;
  ASSERT_EQ(Handoff({"replay", "--config", config_, "--target", "erp", "--from-seq", "1"}, &out, &err), 0) << err;
  for (const auto& [t, k] : kSpineTables) EXPECT_EQ(Contents(src_db_, t), Contents(dst_db_, t)) << t;
}

TEST_F(SpineTest, TwoWaySyncThroughTheSameTableDoesNotLoop) {
  ASSERT_TRUE(server_->CreateDatabase(name_ + "_a").ok());
  ASSERT_TRUE(server_->CreateDatabase(name_ + "_b").ok());
  const char* schema = "CREATE TABLE notes (id int PRIMARY KEY, body text)";
  ASSERT_TRUE(server_->Exec(name_ + "_a", schema).ok());
  ASSERT_TRUE(server_->Exec(name_ + "_b", schema).ok());
  std::string a = name_ + "a", b = name_ + "b";
  config_ = dir_ + "/handoff.yaml";
  std::ofstream(config_) << "journal: { path: " << dir_ << "/journal }\n"
                         << "sources:\n"
                         << "  - { name: " << a << ", kind: postgres, dsn: \"" << server_->Dsn(name_ + "_a") << "\", tables: [public.notes] }\n"
                         << "  - { name: " << b << ", kind: postgres, dsn: \"" << server_->Dsn(name_ + "_b") << "\", tables: [public.notes] }\n"
                         << "targets:\n"
                         << "  - { name: ta, kind: postgres, dsn: \"" << server_->Dsn(name_ + "_a") << "\" }\n"
                         << "  - { name: tb, kind: postgres, dsn: \"" << server_->Dsn(name_ + "_b") << "\" }\n"
                         << "routes:\n"
                         << "  - { from: " << a << ".public.notes, to: tb.public.notes }\n"
                         << "  - { from: " << b << ".public.notes, to: ta.public.notes }\n";
  StartEngine();
  // Both initial snapshots first: a snapshot copies every row it finds, including one the
  // engine already wrote from the other side (a snapshot has no origin to filter on).
  auto slots_up = std::chrono::steady_clock::now() + kCatchUp;
  while (server_->Dump(name_ + "_a", "SELECT count(*) FROM pg_replication_slots WHERE slot_name IN ('handoff_" + a +
                                         "', 'handoff_" + b + "') AND active") != "2\n") {
    ASSERT_LT(std::chrono::steady_clock::now(), slots_up) << LogTail();
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  ASSERT_TRUE(server_->Exec(name_ + "_a", "INSERT INTO notes VALUES (1, 'from a')").ok());
  ASSERT_TRUE(server_->Exec(name_ + "_b", "INSERT INTO notes VALUES (2, 'from b')").ok());
  auto deadline = std::chrono::steady_clock::now() + kCatchUp;
  std::string want = "1|from a\n2|from b\n";
  while (std::chrono::steady_clock::now() < deadline &&
         (server_->Dump(name_ + "_a", "SELECT * FROM notes ORDER BY id") != want ||
          server_->Dump(name_ + "_b", "SELECT * FROM notes ORDER BY id") != want))
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  ASSERT_EQ(server_->Dump(name_ + "_a", "SELECT * FROM notes ORDER BY id"), want);
  ASSERT_EQ(server_->Dump(name_ + "_b", "SELECT * FROM notes ORDER BY id"), want);
  ASSERT_TRUE(server_->Exec(name_ + "_b", "UPDATE notes SET body = 'edited in b' WHERE id = 1").ok());
  deadline = std::chrono::steady_clock::now() + kCatchUp;
  while (std::chrono::steady_clock::now() < deadline &&
         server_->Dump(name_ + "_a", "SELECT body FROM notes WHERE id = 1") != "edited in b\n")
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  ASSERT_EQ(server_->Dump(name_ + "_a", "SELECT body FROM notes WHERE id = 1"), "edited in b\n");
  // Give an echo time to appear, then count: three row changes were made (the first two may
  // arrive as snapshot reads or inserts), three journaled.
  std::this_thread::sleep_for(std::chrono::seconds(3));
  std::string dump;
  ASSERT_EQ(Handoff({"journal", "dump", "--config", config_}, &dump), 0);
  size_t rows = 0;
  for (const char* op : {"\"op\":\"insert\"", "\"op\":\"update\"", "\"op\":\"read\""})
    for (size_t p = dump.find(op); p != std::string::npos; p = dump.find(op, p + 1)) ++rows;
  EXPECT_EQ(rows, 3u) << dump;
  EXPECT_EQ(StopEngine(SIGTERM), 0);
}

TEST_F(SpineTest, BadConfigExitsTwoNamingTheKey) {
  config_ = dir_ + "/bad.yaml";
  std::ofstream(config_) << "journal: { path: /tmp/x }\nsources:\n  - { name: psa, kind: postgres, tables: [public.t] }\n";
  std::string out, err;
  EXPECT_EQ(Handoff({"config", "validate", "--config", config_}, &out, &err), 2);
  EXPECT_NE(err.find("sources[0].dsn: is required"), std::string::npos) << err;
  EXPECT_EQ(Handoff({"run", "--config", config_}, &out, &err), 2);
  EXPECT_NE(err.find("sources[0].dsn"), std::string::npos) << err;
  EXPECT_EQ(Handoff({"status", "--config", dir_ + "/missing.yaml"}, &out, &err), 2);
  EXPECT_NE(err.find("missing.yaml"), std::string::npos) << err;
}

TEST_F(SpineTest, UnreachableTargetIsRetriedWithoutLoss) {
  CreateDatabases(name_);
  // The target database does not exist yet: connections fail until it does.
  ASSERT_TRUE(server_->Exec("postgres", "DROP DATABASE " + dst_db_).ok());
  WriteConfig();
  StartEngine();
  ASSERT_TRUE(server_->Exec(src_db_, kSeedRows).ok());
  std::this_thread::sleep_for(std::chrono::seconds(3));
  EXPECT_TRUE(engine_.running());
  EXPECT_NE(LogTail(20000).find("retrying in"), std::string::npos) << "no retry log line";
  ASSERT_TRUE(server_->CreateDatabase(dst_db_).ok());
  ASSERT_TRUE(server_->Exec(dst_db_, kSpineSchema).ok());
  ASSERT_TRUE(WaitForEqual(kCatchUp));
  EXPECT_EQ(StopEngine(SIGTERM), 0);
}

TEST_F(SpineTest, StatusReportsPositionsAndLag) {
  CreateDatabases(name_);
  ASSERT_TRUE(server_->Exec(src_db_, kSeedRows).ok());
  WriteConfig();
  StartEngine();
  ASSERT_TRUE(WaitForEqual(kCatchUp));
  std::string out;
  // The journal copy of the applied seq follows the target commit; poll briefly.
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  do {
    ASSERT_EQ(Handoff({"status", "--config", config_, "--json"}, &out), 0);
  } while (out.find("\"lag_events\":0") == std::string::npos && std::chrono::steady_clock::now() < deadline &&
           (std::this_thread::sleep_for(std::chrono::milliseconds(200)), true));
  EXPECT_NE(out.find("\"name\":\"" + name_ + "\""), std::string::npos) << out;
  EXPECT_NE(out.find("\"lag_events\":0"), std::string::npos) << out;
  EXPECT_NE(out.find("\"last_seq\":"), std::string::npos) << out;
  EXPECT_EQ(StopEngine(SIGTERM), 0);
}

}  // namespace
}  // namespace handoff::testing
