// Pipelines that change while they run, through the real binary against a
// real PostgreSQL: a table added to a running source (config edit + `handoff
// reload`) is read by itself in chunks beside the stream while another table
// keeps streaming and the new table is written to; the same with SIGKILLs in
// the chunked read; `handoff snapshot` of one table under writes; and a
// backfill paced by snapshot_rate while another table streams.
#include <fmt/format.h>
#include <signal.h>

#include <atomic>
#include <fstream>
#include <random>
#include <set>
#include <sstream>
#include <thread>

#include "handoff/engine/journal.h"
#include "source_writer.h"
#include "spine_fixture.h"

namespace handoff::testing {
namespace {

constexpr auto kCatchUp = std::chrono::seconds(180);
constexpr int kRows = 50000;

// Churn on consultants: updates, deletes and inserts of random keys, one
// small transaction at a time, until stopped.
class ConsultantChurn {
 public:
  ConsultantChurn(const PgServer* server, std::string db) : server_(server), db_(std::move(db)) {}
  ~ConsultantChurn() { Stop(); }
  void Start() {
    thread_ = std::thread([this] {
      std::minstd_rand rng(11);
      int fresh = 0;
      while (!stop_.load()) {
        std::string sql = "BEGIN;";
        for (int i = 0; i < 5; ++i) {
          int k = static_cast<int>(rng() % kRows);
          switch (rng() % 3) {
            case 0:
              sql += fmt::format("UPDATE consultants SET name = name || '+', rate = rate + 1 WHERE email = 'c{}@x';", k);
              break;
            case 1:
              sql += fmt::format("DELETE FROM consultants WHERE email = 'c{}@x';", k);
              break;
            default:
              sql += fmt::format("INSERT INTO consultants VALUES ('n{}@x', 'new', 10, true, 1) ON CONFLICT DO NOTHING;", ++fresh);
          }
        }
        if (server_->Exec(db_, sql + "COMMIT;").ok()) txns_.fetch_add(1);
      }
    });
  }
  void Stop() {
    stop_.store(true);
    if (thread_.joinable()) thread_.join();
  }
  long txns() const { return txns_.load(); }

 private:
  const PgServer* server_;
  std::string db_;
  std::atomic<bool> stop_{false};
  std::atomic<long> txns_{0};
  std::thread thread_;
};

class EvolveE2ETest : public SpineTest {
 protected:
  void WriteEvolveConfig(bool with_consultants, const std::string& extra = "",
                         const std::string& source_keys = "chunk_rows: 2000") {
    std::ostringstream c;
    c << "journal: { path: " << dir_ << "/journal }\n"
      << "admin: { listen: \"127.0.0.1:" << admin_port_ << "\" }\n"
      << "sources:\n  - { name: " << name_ << ", kind: postgres, dsn: \"" << server_->Dsn(src_db_)
      << "\", " << source_keys << ", tables: [public.time_entries" << (with_consultants ? ", public.consultants" : "")
      << "] }\n"
      << "targets:\n  - { name: erp, kind: postgres, dsn: \"" << server_->Dsn(dst_db_) << "\" }\n"
      << "routes:\n  - { from: " << name_ << ".public.time_entries, to: erp.public.time_entries }\n";
    if (with_consultants) c << "  - { from: " << name_ << ".public.consultants, to: erp.public.consultants }\n";
    c << extra;
    config_ = dir_ + "/handoff.yaml";
    std::ofstream(config_) << c.str();
  }

  void Seed() {
    CreateDatabases(name_);
    ASSERT_TRUE(server_
                    ->Exec(src_db_, fmt::format("INSERT INTO consultants SELECT 'c' || g || '@x', 'name ' || g, g % 300, "
                                                "g % 2 = 0, (g % 100)::smallint FROM generate_series(0, {}) g;"
                                                "INSERT INTO time_entries (id, consultant_id, hours, notes) SELECT g, "
                                                "g % 50, 1.5, 'seed' FROM generate_series(1, 200) g; ANALYZE;",
                                                kRows - 1))
                    .ok());
  }

  bool TableEqual(const std::string& t) { return Contents(src_db_, t) == Contents(dst_db_, t); }
  // The first rows that differ, for a failure message.
  std::string Diff(const std::string& t) {
    std::istringstream a(Contents(src_db_, t)), b(Contents(dst_db_, t));
    std::set<std::string> sa, sb;
    for (std::string l; std::getline(a, l);) sa.insert(l);
    for (std::string l; std::getline(b, l);) sb.insert(l);
    std::string out = fmt::format("{}: source {} rows, target {} rows\n", t, sa.size(), sb.size());
    int n = 0;
    for (const auto& l : sa)
      if (!sb.count(l) && n++ < 10) out += "  only in source: " + l + "\n";
    n = 0;
    for (const auto& l : sb)
      if (!sa.count(l) && n++ < 10) out += "  only in target: " + l + "\n";
    return out;
  }

  // Journal events per (table, op) of this test's source; the engine stopped.
  std::map<std::pair<std::string, Op>, uint64_t> JournalCounts() {
    std::map<std::pair<std::string, Op>, uint64_t> out;
    JournalOptions o;
    o.path = dir_ + "/journal";
    o.create_if_missing = false;
    auto j = Journal::Open(o);
    EXPECT_TRUE(j.ok()) << j.status().ToString();
    if (!j.ok()) return out;
    std::vector<JournalEntry> batch;
    for (uint64_t next = 1;; next = batch.back().seq + 1) {
      batch.clear();
      EXPECT_TRUE((*j)->Read(next, 5000, &batch).ok());
      if (batch.empty()) break;
      for (const auto& e : batch) ++out[{e.event.table, e.event.op}];
    }
    return out;
  }

  // The object of `table`'s read of `kind` in `handoff status --json`, or "".
  std::string ReadStatus(const std::string& table, const std::string& kind) {
    std::string status;
    if (Handoff({"status", "--config", config_, "--json"}, &status) != 0) return "";
    auto at = status.find("\"table\":\"" + table + "\",\"kind\":\"" + kind + "\"");
    return at == std::string::npos ? "" : status.substr(at, status.find('}', at) - at);
  }
  static int64_t Field(const std::string& obj, const std::string& name) {
    auto at = obj.find("\"" + name + "\":");
    return at == std::string::npos ? -1 : std::atoll(obj.c_str() + at + name.size() + 3);
  }
  static bool Running(const std::string& obj) { return obj.find("\"state\":\"running\"") != std::string::npos; }

  int admin_port_ = FreeTcpPort();
};

TEST_F(EvolveE2ETest, AddedTableArrivesWhileAnotherStreams) {
  Seed();
  WriteEvolveConfig(false);
  StartEngine();
  ASSERT_TRUE(WaitUntil([&] { return TableEqual("time_entries"); }, kCatchUp)) << LogTail();
  SourceWriter writer({server_, src_db_, 3, 200, 20, std::chrono::milliseconds(10)});
  writer.Start();
  ConsultantChurn churn(server_, src_db_);
  churn.Start();

  WriteEvolveConfig(true);
  std::string out, err;
  ASSERT_EQ(Handoff({"reload", "--config", config_}, &out, &err), 0) << out << err;
  // The read runs beside the stream, in chunks, and says how far it is.
  ASSERT_TRUE(WaitUntil([&] { return LogTail(100000).find("was added to the configuration") != std::string::npos; },
                        std::chrono::seconds(60)))
      << LogTail();
  ASSERT_TRUE(WaitUntil([&] { return LogTail(200000).find("read public.consultants (added)") != std::string::npos; },
                        kCatchUp))
      << LogTail();
  std::string status;
  ASSERT_EQ(Handoff({"status", "--config", config_, "--json"}, &status), 0);
  EXPECT_NE(status.find("\"table\":\"public.consultants\",\"kind\":\"added\""), std::string::npos) << status;
  EXPECT_NE(status.find("\"state\":\"done\""), std::string::npos) << status;
  churn.Stop();
  writer.Stop();
  EXPECT_GT(churn.txns(), 0);
  ASSERT_TRUE(WaitUntil([&] { return TableEqual("consultants") && TableEqual("time_entries"); }, kCatchUp))
      << Contents(dst_db_, "consultants").size() << " vs " << Contents(src_db_, "consultants").size() << LogTail();
  ASSERT_EQ(StopEngine(SIGTERM), 0);
  auto counts = JournalCounts();
  // The streaming table was not read again: only its 200 initial rows are reads.
  EXPECT_EQ((counts[{"time_entries", Op::kRead}]), 200u);
  EXPECT_GT((counts[{"time_entries", Op::kInsert}]), 0u);
  EXPECT_GE((counts[{"consultants", Op::kRead}]), static_cast<uint64_t>(kRows) - 2000);
}

TEST_F(EvolveE2ETest, AddedTableSurvivesSigkillsDuringItsChunks) {
  Seed();
  WriteEvolveConfig(false);
  StartEngine();
  ASSERT_TRUE(WaitUntil([&] { return TableEqual("time_entries"); }, kCatchUp)) << LogTail();
  ASSERT_EQ(StopEngine(SIGTERM), 0);
  WriteEvolveConfig(true);
  ConsultantChurn churn(server_, src_db_);
  churn.Start();
  // Each start dies at a different point of the chunked read: before a chunk,
  // after its rows were queued, and again later on.
  int killed = 0;
  for (const char* point : {"capture.chunk_read:3", "capture.chunk_emitted:2", "capture.chunk_read:6",
                            "capture.chunk_emitted:5"}) {
    StartEngine({std::string("HANDOFF_CRASH_AT=") + point});
    int rc = engine_.Wait(std::chrono::seconds(120));
    if (rc == 128 + SIGKILL) ++killed;
    else if (rc == -1) engine_.Stop(SIGKILL);
  }
  EXPECT_GE(killed, 3) << LogTail();
  StartEngine();
  ASSERT_TRUE(WaitUntil([&] { return LogTail(200000).find("read public.consultants (added)") != std::string::npos; },
                        kCatchUp))
      << LogTail();
  churn.Stop();
  ASSERT_TRUE(WaitUntil([&] { return TableEqual("consultants") && TableEqual("time_entries"); }, kCatchUp))
      << LogTail();
  ASSERT_EQ(StopEngine(SIGTERM), 0);
  auto counts = JournalCounts();
  EXPECT_EQ((counts[{"time_entries", Op::kRead}]), 200u);
}

TEST_F(EvolveE2ETest, SnapshotOfOneTableUnderWrites) {
  Seed();
  WriteEvolveConfig(true);
  StartEngine();
  ASSERT_TRUE(WaitUntil([&] { return TableEqual("consultants") && TableEqual("time_entries"); }, kCatchUp))
      << LogTail();
  // The target drifted (rows lost and changed behind handoff's back): a
  // backfill brings it back while the source keeps changing.
  ASSERT_TRUE(server_->Exec(dst_db_, "DELETE FROM consultants WHERE email LIKE 'c1%'; UPDATE consultants SET name = "
                                     "'drifted' WHERE email LIKE 'c2%';")
                  .ok());
  ASSERT_FALSE(TableEqual("consultants"));
  ConsultantChurn churn(server_, src_db_);
  churn.Start();
  SourceWriter writer({server_, src_db_, 5, 200, 20, std::chrono::milliseconds(10)});
  writer.Start();
  std::string out, err;
  EXPECT_EQ(Handoff({"snapshot", "--config", config_, "--source", name_, "--table", "public.nope"}, &out, &err), 2);
  EXPECT_NE(err.find("not one of source"), std::string::npos) << err;
  ASSERT_EQ(Handoff({"snapshot", "--config", config_, "--source", name_, "--table", "public.consultants"}, &out, &err),
            0)
      << out << err;
  ASSERT_TRUE(WaitUntil([&] { return LogTail(200000).find("read public.consultants (requested)") != std::string::npos; },
                        kCatchUp))
      << LogTail();
  churn.Stop();
  writer.Stop();
  ASSERT_TRUE(WaitUntil([&] { return TableEqual("consultants") && TableEqual("time_entries"); }, kCatchUp))
      << Diff("consultants") << Diff("time_entries") << LogTail();
  std::string status;
  ASSERT_EQ(Handoff({"status", "--config", config_}, &status), 0);
  EXPECT_NE(status.find("reading public.consultants (requested"), std::string::npos) << status;
  ASSERT_EQ(StopEngine(SIGTERM), 0);
  // A finished backfill is not repeated when the stream is replayed.
  StartEngine();
  ASSERT_TRUE(WaitUntil([&] {
    std::string log = LogTail(1 << 20);
    size_t n = 0;
    for (size_t at = log.find("streaming from slot"); at != std::string::npos; at = log.find("streaming from slot", at + 1)) ++n;
    return n >= 2;
  }, kCatchUp));
  ASSERT_EQ(StopEngine(SIGTERM), 0);
  auto counts = JournalCounts();
  EXPECT_GE((counts[{"consultants", Op::kRead}]), 2u * kRows - 4000);
  EXPECT_LE((counts[{"consultants", Op::kRead}]), 2u * kRows + 2000);
}

TEST_F(EvolveE2ETest, PacedSnapshotLeavesTheStreamFlowing) {
  constexpr int kTableRows = 10000, kChunkRows = 500, kRate = 2000;
  CreateDatabases(name_);
  ASSERT_TRUE(server_
                  ->Exec(src_db_, fmt::format("INSERT INTO consultants SELECT 'c' || g || '@x', 'name ' || g, g % 300, "
                                              "true, 1 FROM generate_series(1, {}) g; INSERT INTO time_entries (id, "
                                              "consultant_id, hours, notes) SELECT g, g % 50, 1.5, 'seed' FROM "
                                              "generate_series(1, 200) g; ANALYZE;",
                                              kTableRows))
                  .ok());
  // As on a production source: the throwaway server commits asynchronously,
  // where each chunk's watermark would reach the stream only at the WAL
  // writer's next round (200 ms), itself about the paced interval.
  ASSERT_TRUE(server_->Exec(src_db_, fmt::format("ALTER DATABASE {} SET synchronous_commit = on", src_db_)).ok());
  WriteEvolveConfig(true, "", fmt::format("chunk_rows: {}, snapshot_rate: {}", kChunkRows, kRate));
  StartEngine();
  ASSERT_TRUE(WaitUntil([&] { return TableEqual("consultants") && TableEqual("time_entries"); }, kCatchUp))
      << LogTail();
  // The target lost the table: the backfill must bring every row back.
  ASSERT_TRUE(server_->Exec(dst_db_, "TRUNCATE consultants").ok());
  SourceWriter writer({server_, src_db_, 5, 200, 20, std::chrono::milliseconds(10)});
  writer.Start();
  std::string out, err;
  ASSERT_EQ(Handoff({"snapshot", "--config", config_, "--source", name_, "--table", "public.consultants"}, &out, &err),
            0)
      << out << err;
  std::string read;
  ASSERT_TRUE(WaitUntil([&] {
    read = ReadStatus("public.consultants", "requested");
    return Running(read) && Field(read, "rows") >= 2 * kChunkRows;
  }, std::chrono::seconds(60)))
      << read << LogTail();
  // A row written now, in the middle of the backfill, reaches the target
  // while the backfill still runs: the stream does not queue behind it.
  ASSERT_TRUE(server_->Exec(src_db_, "INSERT INTO time_entries (id, consultant_id, hours, notes) "
                                     "VALUES (9000001, 1, 2.0, 'during the backfill')")
                  .ok());
  auto arrived = [&] {
    auto rows = server_->Query(dst_db_, "SELECT count(*) FROM time_entries WHERE id = 9000001");
    return rows.ok() && rows->size() == 1 && (*rows)[0][0] == "1";
  };
  ASSERT_TRUE(WaitUntil(arrived, std::chrono::seconds(30))) << LogTail();
  read = ReadStatus("public.consultants", "requested");
  EXPECT_TRUE(Running(read)) << "the backfill ended before a row written during it arrived: " << read;
  EXPECT_LT(Field(read, "rows"), kTableRows) << read;

  ASSERT_TRUE(WaitUntil([&] {
    read = ReadStatus("public.consultants", "requested");
    return read.find("\"state\":\"done\"") != std::string::npos;
  }, kCatchUp))
      << read << LogTail();
  writer.Stop();
  EXPECT_GT(writer.rows(), 0);
  // Paced: 21 chunks (the last one empty), each started no sooner than 500
  // rows / 2000 rows/s = 250 ms after the one before, so the read takes at
  // least (rows - one chunk) / rate from the request to its end.
  const double seconds = static_cast<double>(Field(read, "finished_us") - Field(read, "started_us")) / 1e6;
  const double paced = static_cast<double>(kTableRows - kChunkRows) / kRate;
  EXPECT_GE(seconds, paced) << read;
  EXPECT_EQ(Field(read, "rows"), kTableRows) << read;
  EXPECT_LE(Field(read, "rows_per_second"), kRate) << read;
  EXPECT_NE(LogTail(200000).find(fmt::format("in chunks of {} (at most {} rows/s)", kChunkRows, kRate)),
            std::string::npos)
      << LogTail();
  ASSERT_TRUE(WaitUntil([&] { return TableEqual("consultants") && TableEqual("time_entries"); }, kCatchUp))
      << Diff("consultants") << Diff("time_entries") << LogTail();
  ASSERT_EQ(StopEngine(SIGTERM), 0);
}

}  // namespace
}  // namespace handoff::testing
