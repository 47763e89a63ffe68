// `handoff verify` through the real binary against a running engine and real
// PostgreSQL: while about 5,000 rows/s are written to the source it reports no
// difference; after rows are changed, deleted and inserted in the target
// behind handoff's back it reports exactly those rows and columns; --repair
// re-reads the missing and different ones through the chunked snapshot.
#include <fmt/format.h>
#include <signal.h>

#include <atomic>
#include <fstream>
#include <random>
#include <thread>

#include "admin_client.h"
#include "spine_fixture.h"

namespace handoff::testing {
namespace {

constexpr auto kCatchUp = std::chrono::seconds(180);

// Inserts fresh time entries and updates rows with ids 1..5000, about 5,000
// rows per second in transactions of 50, until stopped.
class Writer {
 public:
  Writer(const PgServer* server, std::string db) : server_(server), db_(std::move(db)) {}
  ~Writer() { Stop(); }
  void Start() {
    thread_ = std::thread([this] {
      std::minstd_rand rng(7);
      int64_t next = 1000000;
      auto due = std::chrono::steady_clock::now();
      while (!stop_.load()) {
        std::string sql = "BEGIN;";
        for (int i = 0; i < 25; ++i) {
          sql += fmt::format("INSERT INTO time_entries (id, consultant_id, hours, notes) VALUES ({}, 3, 2.5, 'new');",
                             next++);
          sql += fmt::format("UPDATE time_entries SET hours = hours + 1, version = version + 1 WHERE id = {};",
                             1 + rng() % 5000);
        }
        if (server_->Exec(db_, sql + "COMMIT;").ok()) rows_.fetch_add(50);
        due += std::chrono::milliseconds(10);
        std::this_thread::sleep_until(due);
      }
    });
  }
  void Stop() {
    stop_.store(true);
    if (thread_.joinable()) thread_.join();
  }
  long rows() const { return rows_.load(); }

 private:
  const PgServer* server_;
  std::string db_;
  std::atomic<bool> stop_{false};
  std::atomic<long> rows_{0};
  std::thread thread_;
};

class VerifyE2ETest : public SpineTest {
 protected:
  void SetUp() override {
    SpineTest::SetUp();
    CreateDatabases(name_);
    ASSERT_TRUE(server_
                    ->Exec(src_db_,
                           "INSERT INTO time_entries (id, consultant_id, hours, notes, approved_at) SELECT g, g % 40, "
                           "1.25, 'seed ' || g, timestamptz '2026-11-30 10:00+01' + g * interval '1 minute' "
                           "FROM generate_series(1, 20000) g;"
                           "INSERT INTO consultants SELECT 'c' || g || '@x', 'name ' || g, g % 300, g % 2 = 0, "
                           "(g % 100)::smallint FROM generate_series(1, 3000) g;"
                           "INSERT INTO documents (id, title, payload) SELECT g, 'doc ' || g, '\\x00ff'::bytea "
                           "FROM generate_series(1, 500) g; ANALYZE;")
                    .ok());
    WriteConfig();
    StartEngine();
    ASSERT_TRUE(WaitForEqual(kCatchUp)) << LogTail();
  }

  int Verify(const std::vector<std::string>& extra, std::string* out) {
    std::vector<std::string> args = {"verify", "--config", config_, "--route", name_, "--json", "--timeout", "60"};
    args.insert(args.end(), extra.begin(), extra.end());
    std::string err;
    int rc = Handoff(args, out, &err);
    if (!err.empty()) *out += "\nstderr: " + err;
    return rc;
  }
  // The JSON of one table in a verify report.
  static std::string TablePart(const std::string& json, const std::string& table) {
    auto at = json.find("\"table\":\"" + table + "\"");
    if (at == std::string::npos) return "";
    auto end = json.find("\"table\":\"", at + 1);
    return json.substr(at, end == std::string::npos ? std::string::npos : end - at);
  }
};

TEST_F(VerifyE2ETest, FindsExactlyWhatChangedBehindItsBackWhileTheSourceIsWritten) {
  Writer writer(server_, src_db_);
  writer.Start();
  std::string out;
  ASSERT_EQ(Verify({"--chunk-rows", "700"}, &out), 0) << out << LogTail();
  std::printf("verify under writes: %s\n", out.c_str());
  for (const char* t : {"public.time_entries", "public.documents", "public.consultants"}) {
    const std::string part = TablePart(out, t);
    ASSERT_FALSE(part.empty()) << t << " missing from " << out;
    EXPECT_NE(part.find("\"equal\":true"), std::string::npos) << part;
  }
  EXPECT_NE(TablePart(out, "public.time_entries").find("\"rows_checked\":"), std::string::npos);

  // Behind handoff's back, in the target only: rows the writer does not touch.
  ASSERT_TRUE(server_
                  ->Exec(dst_db_,
                         "UPDATE time_entries SET notes = 'edited by hand' WHERE id = 15001;"
                         "UPDATE time_entries SET hours = 99, approved_at = NULL WHERE id = 17777;"
                         "DELETE FROM time_entries WHERE id = 15002;"
                         "INSERT INTO time_entries (id, consultant_id) VALUES (50000, 1);"
                         "UPDATE consultants SET name = 'someone else' WHERE email = 'c42@x';"
                         "DELETE FROM documents WHERE id = 500;")
                  .ok());
  ASSERT_EQ(Verify({}, &out), 1) << out;
  const std::string te = TablePart(out, "public.time_entries");
  EXPECT_NE(te.find("\"missing\":[{\"key\":{\"id\":\"15002\"}}],"), std::string::npos) << te;
  EXPECT_NE(te.find("\"extra\":[{\"key\":{\"id\":\"50000\"}}],"), std::string::npos) << te;
  EXPECT_NE(te.find("\"different\":[{\"key\":{\"id\":\"15001\"},\"columns\":[\"notes\"]},{\"key\":{\"id\":\"17777\"},"
                    "\"columns\":[\"hours\",\"approved_at\"]}],"),
            std::string::npos)
      << te;
  EXPECT_NE(te.find("\"unsettled\":[]"), std::string::npos) << te;
  const std::string co = TablePart(out, "public.consultants");
  EXPECT_NE(co.find("\"different\":[{\"key\":{\"email\":\"c42@x\"},\"columns\":[\"name\"]}],"), std::string::npos) << co;
  EXPECT_NE(co.find("\"missing\":[],\"extra\":[]"), std::string::npos) << co;
  // The last row of the source is missing in the target: the open last range finds it.
  EXPECT_NE(TablePart(out, "public.documents").find("\"missing\":[{\"key\":{\"id\":\"500\"}}],"), std::string::npos)
      << out;

  // --repair re-reads the missing and different rows as journaled changes and
  // asks capture to journal a delete of the extra row, which the source lacks.
  ASSERT_EQ(Verify({"--repair"}, &out), 0) << out << LogTail();
  EXPECT_NE(TablePart(out, "public.consultants").find("\"repaired\":1,\"repair_verified\":true"), std::string::npos)
      << out;
  EXPECT_NE(TablePart(out, "public.time_entries").find("\"repaired\":4,\"repair_verified\":true"), std::string::npos)
      << out;
  writer.Stop();
  ASSERT_GT(writer.rows(), 1000);
  ASSERT_EQ(Verify({}, &out), 0) << out;
  for (const char* t : {"public.time_entries", "public.documents", "public.consultants"})
    EXPECT_NE(TablePart(out, t).find("\"equal\":true"), std::string::npos) << t << ": " << out;
  // Everything came through the journal: the engine's target equals the source.
  ASSERT_TRUE(WaitForEqual(std::chrono::seconds(60)));
  EXPECT_NE(LogTail(20000).find("1 of 1 key(s) absent in the source, journaled as deletes"), std::string::npos)
      << LogTail();
}

// `verify:` in the configuration: the engine verifies on its schedule, keeps
// the latest result in the journal (`handoff checks`), serves it at /checks and
// exports it as metrics; a drain cancels a verification in progress.
TEST_F(VerifyE2ETest, RunsOnItsScheduleKeepsTheResultAndExportsIt) {
  std::string out;
  EXPECT_EQ(Handoff({"checks", "--config", config_}, &out), 0);
  EXPECT_NE(out.find("no scheduled check has run yet"), std::string::npos) << out;
  ASSERT_EQ(StopEngine(SIGTERM), 0);
  const int admin = FreeTcpPort();
  WriteConfig("verify:\n  - { route: " + name_ +
              ", table: public.consultants, every: 1s, first_after: 0s, chunk_rows: 500 }\n"
              "  - { route: " + name_ + ", table: public.time_entries, every: 1h, first_after: 0s, rate: 200 }\n"
              "admin: { listen: \"127.0.0.1:" + std::to_string(admin) + "\" }\n");
  StartEngine();
  const std::string labels = "{source=\"" + name_ + "\",table=\"public.consultants\"";
  auto metric = [&](const std::string& series) {
    return MetricValue(HttpGet(admin, "/metrics").body, series).value_or(-1);
  };
  ASSERT_TRUE(WaitUntil([&] { return metric("handoff_verify_rows_checked" + labels + "}") == 3000; })) << LogTail();
  EXPECT_EQ(metric("handoff_verify_drift_rows" + labels + ",kind=\"missing\"}"), 0);

  // Behind handoff's back: the next scheduled run finds it.
  ASSERT_TRUE(server_->Exec(dst_db_, "UPDATE consultants SET name = 'by hand' WHERE email = 'c7@x';"
                                     "DELETE FROM consultants WHERE email = 'c8@x'").ok());
  ASSERT_TRUE(WaitUntil([&] {
    return metric("handoff_verify_drift_rows" + labels + ",kind=\"missing\"}") == 1 &&
           metric("handoff_verify_drift_rows" + labels + ",kind=\"different\"}") == 1;
  })) << LogTail();
  EXPECT_GE(metric("handoff_verify_runs_total" + labels + ",result=\"finished\"}"), 2);
  const std::string checks = HttpGet(admin, "/checks").body;
  EXPECT_NE(checks.find("\"name\":\"" + name_ + ":public.consultants\""), std::string::npos) << checks;
  EXPECT_NE(checks.find("\"missing\":[{\"key\":{\"email\":\"c8@x\"}}]"), std::string::npos) << checks;

  // The paced verification of time_entries (200 rows/s of 20,000) is still
  // running: the drain cancels it and the engine stops cleanly.
  ASSERT_EQ(StopEngine(SIGTERM), 0) << LogTail();
  ASSERT_EQ(Handoff({"checks", "--config", config_}, &out), 0);
  EXPECT_NE(out.find("verify " + name_ + ":public.consultants: finished "), std::string::npos) << out;
  EXPECT_NE(out.find("3000 rows checked, 1 missing, 0 extra, 1 different, 0 unsettled"), std::string::npos) << out;
  EXPECT_EQ(out.find("public.time_entries"), std::string::npos) << out;
  ASSERT_EQ(Handoff({"checks", "--config", config_, "--json"}, &out), 0);
  EXPECT_NE(out.find("\"kind\":\"verify\""), std::string::npos) << out;

  // Schedules are checked with the rest of the configuration.
  const std::string bad = dir_ + "/bad.yaml";
  std::ofstream(bad) << "journal: { path: " << dir_ << "/j2 }\n"
                     << "verify:\n  - { route: nosuch, every: 1s }\n  - { route: " << name_ << " }\n"
                     << "reconcile: { every: 24h, periods: [previous, 2026-13] }\n";
  std::string err;
  EXPECT_EQ(Handoff({"config", "validate", "--config", bad}, &out, &err), 2);
  for (const char* want : {"verify[0].route: names no configured source: 'nosuch'", "verify[1].every: is required",
                           "reconcile.periods[1]: must be current, previous or a month YYYY-MM, not '2026-13'",
                           "reconcile: needs canonical mode"})
    EXPECT_NE((out + err).find(want), std::string::npos) << "missing '" << want << "' in\n" << out << err;
}

TEST_F(VerifyE2ETest, RefusesWhatItCannotCompare) {
  std::string out, err;
  EXPECT_EQ(Handoff({"verify", "--config", config_, "--route", "nosuch"}, &out, &err), 2);
  EXPECT_NE(err.find("no source named 'nosuch'"), std::string::npos) << err;
  EXPECT_EQ(Handoff({"verify", "--config", config_, "--route", name_, "--table", "public.nosuch"}, &out, &err), 2);
  EXPECT_NE(err.find("no route from"), std::string::npos) << err;
  // The engine stopped: the watermark never reaches the journal, and verify says so.
  ASSERT_EQ(StopEngine(SIGTERM), 0);
  EXPECT_EQ(Handoff({"verify", "--config", config_, "--route", name_, "--timeout", "2"}, &out, &err), 1);
  EXPECT_NE(err.find("is the engine running?"), std::string::npos) << err;
}

}  // namespace
}  // namespace handoff::testing
