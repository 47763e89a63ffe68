// What makes a position mean something (journal id, snapshot attempts, one
// engine per journal, an origin per pipeline), tried the way an operator
// breaks it: SIGKILLs during the initial snapshot with changes in between,
// a deleted journal, a second `handoff run`, two pipelines writing into one
// target cluster. Runs the real binary against the fault suite's servers.
#include <signal.h>

#include <filesystem>
#include <functional>
#include <fstream>
#include <sstream>
#include <thread>

#include "admin_client.h"
#include "apply_ledger.h"
#include "fault_fixture.h"

namespace handoff::testing {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;
namespace fs = std::filesystem;

constexpr auto kCatchUp = seconds(150);

class IdentityTest : public FaultTest {
 protected:
  // A second table, so a crash can fall between two tables of one snapshot.
  void CreateSecondTable() {
    const char* ddl = "CREATE TABLE notes (id bigint PRIMARY KEY, body text)";
    ASSERT_TRUE(src_->Exec(src_db_, ddl).ok());
    ASSERT_TRUE(dst_->Exec(dst_db_, ddl).ok());
  }

  void WriteTwoTableConfig() {
    std::ostringstream c;
    c << "journal: { path: " << dir_ << "/journal }\n"
      << "sources:\n  - { name: " << name_ << ", kind: postgres, dsn: \"" << src_->Dsn(src_db_)
      << "\", tables: [public.time_entries, public.notes] }\n"
      << "targets:\n  - { name: erp, kind: postgres, dsn: \"" << dst_->Dsn(dst_db_) << "\" }\n"
      << "routes:\n  - { from: " << name_ << ".public.time_entries, to: erp.public.time_entries }\n"
      << "  - { from: " << name_ << ".public.notes, to: erp.public.notes }\n"
      << "admin: { listen: \"127.0.0.1:" << admin_port_ << "\" }\n"
      << "engine: { slot_check_interval: 1s }\n"
      << "log: { format: json }\n";
    config_ = dir_ + "/handoff.yaml";
    std::ofstream(config_) << c.str();
  }

  void Src(const std::string& sql) { ASSERT_TRUE(src_->Exec(src_db_, sql).ok()) << sql; }

  std::string NotesChecksum(PgServer* server, const std::string& db) {
    return OrderedChecksum(*server, db, "notes", "id", "true");
  }

  bool WaitNotesConverged(seconds timeout) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    std::string a, b;
    while (std::chrono::steady_clock::now() < deadline) {
      a = NotesChecksum(src_, src_db_);
      b = NotesChecksum(dst_, dst_db_);
      if (a == b && a.find("ERROR") == std::string::npos) return true;
      std::this_thread::sleep_for(milliseconds(300));
    }
    ADD_FAILURE() << "notes did not converge: source " << a << ", target " << b;
    return false;
  }

  int RunVerb(const std::vector<std::string>& args, std::string* out, std::string* err) {
    std::vector<std::string> argv = {HandoffBinary()};
    argv.insert(argv.end(), args.begin(), args.end());
    return RunCommand(argv, out, err);
  }
};

// SIGKILL at every stage of the initial snapshot, with inserts, updates and
// deletes in the source between the kills (deletes of rows the interrupted
// attempt had already journaled and applied among them): once the engine
// runs through, the target equals the source.
TEST_F(IdentityTest, SnapshotSurvivesSigkillsAtEveryStage) {
  CreateDatabases();
  CreateSecondTable();
  Src("INSERT INTO time_entries (id, consultant_id, hours, notes) "
      "SELECT g, g % 40, (g % 9) + 0.25, 'seed ' || g FROM generate_series(201, 30000) g");
  Src("INSERT INTO notes SELECT g, repeat('n', 30) || g FROM generate_series(1, 3000) g");
  WriteTwoTableConfig();
  // Each point as a function of the rows the tables hold at that round
  // (the rounds delete and insert rows).
  using Rows = std::pair<long, long>;  // time_entries, notes
  const std::vector<std::function<std::string(Rows)>> points = {
      [](Rows) { return std::string("capture.before_slot:1"); },     // before any slot exists
      [](Rows) { return std::string("capture.slot_created:1"); },    // slot made, no attempt journaled yet
      [](Rows) { return std::string("capture.snapshot_begun:1"); },  // slot made, attempt journaled, no row yet
      [](Rows) { return std::string("capture.snapshot_row:2000"); },  // early in the first table
      [](Rows r) { return "capture.snapshot_row:" + std::to_string(r.first / 2); },  // mid-table
      [](Rows r) { return "capture.snapshot_row:" + std::to_string(r.first - 3); },  // its last rows
      [](Rows) { return std::string("capture.between_tables:1"); },  // first table done, second not begun
      [](Rows r) { return "capture.snapshot_row:" + std::to_string(r.first + r.second / 2); },  // mid second table
      [](Rows r) { return "capture.snapshot_row:" + std::to_string(r.first + r.second); },      // the very last row
      [](Rows) { return std::string("capture.snapshot_read:1"); },  // every row read, end not journaled
      [](Rows) { return std::string("capture.before_stream:1"); },  // snapshot finished, streaming not begun
      [](Rows) { return std::string("intake.after_commit:3"); },    // journaled, not acknowledged
  };
  int round = 0;
  for (const auto& at : points) {
    ++round;
    const Rows rows{std::atol(src_->Dump(src_db_, "SELECT count(*) FROM time_entries").c_str()),
                    std::atol(src_->Dump(src_db_, "SELECT count(*) FROM notes").c_str())};
    const std::string point = at(rows);
    StartEngine({"HANDOFF_CRASH_AT=" + point});
    EXPECT_EQ(engine_.Wait(seconds(90)), 128 + SIGKILL) << point << " did not fire\n" << LogTail();
    if (engine_.running()) engine_.Stop(SIGKILL);  // it did not fire: leave no engine behind
    Fault("SIGKILL at " + point);
    // Changes while the engine is down: each round deletes rows of every part
    // of the table (the interrupted attempt journaled the low ids), updates
    // others, inserts new ones, and touches the second table.
    const std::string r = std::to_string(round);
    Src("DELETE FROM time_entries WHERE id % 97 = " + r);
    Src("UPDATE time_entries SET hours = hours + 1, version = version + 1 WHERE id % 89 = " + r);
    Src("INSERT INTO time_entries (id, consultant_id, notes) SELECT 100000 + " + r + " * 1000 + g, 7, 'round " + r +
        "' FROM generate_series(1, 50) g");
    Src("DELETE FROM notes WHERE id % 53 = " + r);
    Src("UPDATE notes SET body = 'round " + r + "' WHERE id % 47 = " + r);
  }
  StartEngine();
  // Changes while it streams, too.
  Src("DELETE FROM time_entries WHERE id BETWEEN 1 AND 40");
  Src("INSERT INTO notes VALUES (900001, 'after')");
  ASSERT_TRUE(WaitConverged(kCatchUp)) << LogTail();
  ASSERT_TRUE(WaitNotesConverged(kCatchUp));
  EXPECT_EQ(ReadyStatus(), 200);
  EXPECT_EQ(StopEngine(SIGTERM), 0);
}

// A pipeline applied changes; the operator deletes its journal and starts
// again. The old journal's slot is not taken over: the new engine refuses it
// until `handoff source drop` removed it. The target's handoff_applied
// position belongs to the old journal, so the new one is applied from its
// start: the target ends equal to the source, and the log says why.
TEST_F(IdentityTest, NewJournalIsAppliedFromItsStart) {
  CreateDatabases();
  Src("INSERT INTO time_entries (id, consultant_id) SELECT g, 2 FROM generate_series(201, 5000) g");
  WriteConfig();
  StartEngine();
  ASSERT_TRUE(WaitConverged(kCatchUp));
  std::string out, err;
  ASSERT_EQ(RunVerb({"status", "--config", config_, "--json"}, &out, &err), 0) << err;
  const std::string key = "\"journal\":{\"id\":\"";
  const size_t at = out.find(key);
  ASSERT_NE(at, std::string::npos) << out;
  const std::string old_id = out.substr(at + key.size(), 32);
  EXPECT_NE(out.find("\"running\":true"), std::string::npos) << "status did not ask the running engine: " << out;
  EXPECT_EQ(StopEngine(SIGTERM), 0);

  fs::remove_all(dir_ + "/journal");
  // Changes the old journal never saw: the new snapshot must bring them.
  Src("INSERT INTO time_entries (id, consultant_id) SELECT g, 3 FROM generate_series(5001, 5100) g");
  Src("UPDATE time_entries SET notes = 'changed while no journal existed' WHERE id % 10 = 0");
  // The old slot stays until dropped on purpose (no journal: no position to forget).
  out.clear();
  ASSERT_EQ(RunVerb({"source", "drop", "--config", config_, "--source", name_, "--yes"}, &out, &err), 0)
      << err << out;
  EXPECT_NE(out.find("dropped slot handoff_" + name_), std::string::npos) << out;
  EXPECT_NE(out.find("no position to forget"), std::string::npos) << out;
  StartEngine();
  ASSERT_TRUE(WaitConverged(kCatchUp)) << LogTail();
  out.clear();
  ASSERT_EQ(RunVerb({"status", "--config", config_, "--json"}, &out, &err), 0) << err;
  EXPECT_EQ(out.find(old_id), std::string::npos) << "the new journal kept the old id";
  EXPECT_NE(LogTail(200000).find("not of this engine's journal"), std::string::npos)
      << "the foreign position was not reported";
  // The target now holds this journal's position, beside the old one.
  std::string rows = dst_->Dump(dst_db_, "SELECT count(*) FROM handoff_applied WHERE target = 'erp'");
  EXPECT_EQ(rows.substr(0, 1), "2") << rows;
  EXPECT_EQ(StopEngine(SIGTERM), 0);
}

// One engine per journal; verbs other than run never create a journal.
TEST_F(IdentityTest, OneEnginePerJournalAndNoJournalCreatedByOtherVerbs) {
  CreateDatabases();
  WriteConfig();
  std::string out, err;
  // No journal yet: status and exceptions list refuse and create nothing.
  EXPECT_EQ(RunVerb({"status", "--config", config_}, &out, &err), 1);
  EXPECT_NE(err.find("no journal at " + dir_ + "/journal"), std::string::npos) << err;
  EXPECT_EQ(RunVerb({"exceptions", "list", "--config", config_}, &out, &err), 1);
  EXPECT_FALSE(fs::exists(dir_ + "/journal")) << "a read-only verb created the journal";

  StartEngine();
  ASSERT_TRUE(WaitConverged(kCatchUp));
  ChildProcess second;
  second.Start({HandoffBinary(), "run", "--config", config_}, dir_ + "/second.log");
  EXPECT_EQ(second.Wait(seconds(30)), 1);
  const std::string log = ReadFile(dir_ + "/second.log");
  EXPECT_NE(log.find("pid " + std::to_string(engine_.pid())), std::string::npos) << log;
  // Read-only verbs still work beside the running engine.
  out.clear();
  EXPECT_EQ(RunVerb({"status", "--config", config_}, &out, &err), 0) << err;
  EXPECT_EQ(RunVerb({"exceptions", "list", "--config", config_}, &out, &err), 0) << err;
  // The first engine was not disturbed.
  Src("INSERT INTO time_entries (id, consultant_id) VALUES (7777, 1)");
  ASSERT_TRUE(WaitConverged(kCatchUp));
  EXPECT_EQ(StopEngine(SIGTERM), 0);
  // Once it stopped, the journal can be taken again.
  StartEngine();
  Src("INSERT INTO time_entries (id, consultant_id) VALUES (7778, 1)");
  ASSERT_TRUE(WaitConverged(kCatchUp));
  EXPECT_EQ(StopEngine(SIGTERM), 0);
}

// Two pipelines (two journals) whose targets share a name apply to two
// databases of one target cluster at the same time: each has its own
// replication origin, so neither blocks the other.
TEST_F(IdentityTest, TwoEnginesApplyToOneTargetCluster) {
  CreateDatabases();
  const std::string src2 = name_ + "_src2", dst2 = name_ + "_dst2";
  ASSERT_TRUE(src_->CreateDatabase(src2).ok());
  ASSERT_TRUE(dst_->CreateDatabase(dst2).ok());
  const char* ddl = "CREATE TABLE time_entries (id bigint PRIMARY KEY, consultant_id int NOT NULL, project_code text,"
                    " work_date date, hours numeric(10,2), billable boolean, status text, notes text,"
                    " version int NOT NULL DEFAULT 1)";
  ASSERT_TRUE(src_->Exec(src2, ddl).ok());
  ASSERT_TRUE(dst_->Exec(dst2, ddl).ok());
  ASSERT_TRUE(src_->Exec(src2, "INSERT INTO time_entries (id, consultant_id) SELECT g, 9 FROM generate_series(1, 3000) g")
                  .ok());
  WriteConfig();
  // The second pipeline: its own journal and admin port, same target name.
  std::string second_config = dir_ + "/second.yaml";
  {
    std::string text = ReadFile(config_);
    auto replace = [&](const std::string& from, const std::string& to) {
      size_t at = text.find(from);
      ASSERT_NE(at, std::string::npos) << from;
      text.replace(at, from.size(), to);
    };
    replace(dir_ + "/journal", dir_ + "/journal2");
    replace("dbname=" + src_db_, "dbname=" + src2);
    replace("dbname=" + dst_db_, "dbname=" + dst2);
    replace("127.0.0.1:" + std::to_string(admin_port_), "127.0.0.1:" + std::to_string(FreeTcpPort()));
    replace("name: " + name_ + ",", "name: " + name_ + "b,");
    replace("from: " + name_ + ".", "from: " + name_ + "b.");
    std::ofstream(second_config) << text;
  }
  StartEngine();
  ChildProcess other;
  other.Start({HandoffBinary(), "run", "--config", second_config}, dir_ + "/second.log");
  for (int i = 0; i < 20; ++i) {
    Src("INSERT INTO time_entries (id, consultant_id) VALUES (" + std::to_string(50000 + i) + ", 1)");
    ASSERT_TRUE(src_->Exec(src2, "INSERT INTO time_entries (id, consultant_id) VALUES (" + std::to_string(60000 + i) +
                                     ", 2)")
                    .ok());
  }
  ASSERT_TRUE(WaitConverged(kCatchUp)) << LogTail();
  auto deadline = std::chrono::steady_clock::now() + kCatchUp;
  std::string a, b;
  while (std::chrono::steady_clock::now() < deadline) {
    a = OrderedChecksum(*src_, src2, "time_entries", "id", "true");
    b = OrderedChecksum(*dst_, dst2, "time_entries", "id", "true");
    if (a == b) break;
    std::this_thread::sleep_for(milliseconds(300));
  }
  EXPECT_EQ(a, b) << ReadFile(dir_ + "/second.log");
  // Two origins, one per pipeline, each named after its journal.
  for (const std::string& config : {config_, second_config}) {
    std::string out, err;
    ASSERT_EQ(RunVerb({"status", "--config", config, "--json"}, &out, &err), 0) << err;
    const std::string key = "\"journal\":{\"id\":\"";
    const size_t at = out.find(key);
    ASSERT_NE(at, std::string::npos) << out;
    const std::string origin = "handoff_" + out.substr(at + key.size(), 16) + "_erp";
    EXPECT_EQ(dst_->Dump("postgres", "SELECT count(*) FROM pg_replication_origin WHERE roname = '" + origin + "'")
                  .substr(0, 1),
              "1")
        << origin;
  }
  EXPECT_EQ(other.Stop(SIGTERM), 0);
  EXPECT_EQ(StopEngine(SIGTERM), 0);
}

}  // namespace
}  // namespace handoff::testing
