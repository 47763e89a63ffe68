// Failure storms through the real binary: a route to a target table that does
// not exist pauses the target under one exception record while thousands of
// changes arrive; once the table exists everything held lands exactly once
// and the pause closes by itself; `handoff resume` retries at once; bulk
// retry and discard act on many records, only when confirmed; `handoff
// pause` holds a target (or one route) while the journal grows, and `handoff
// resume` lets everything held land exactly once, in order; a route pause
// lets the target's other routes go on and catches the route up exactly once,
// across restarts.
#include <signal.h>

#include <fstream>
#include <iterator>
#include <regex>
#include <sstream>
#include <thread>

#include "admin_client.h"
#include "apply_ledger.h"
#include "spine_fixture.h"

namespace handoff::testing {
namespace {

using namespace std::chrono_literals;

constexpr const char* kTimeEntries = R"sql(
CREATE TABLE time_entries (
  id bigint PRIMARY KEY, consultant_id int NOT NULL, project_code text, work_date date,
  hours numeric(10,2), billable boolean, status text, notes text, approved_at timestamptz,
  updated_at timestamp, ref uuid, tags text[], meta jsonb, version int NOT NULL DEFAULT 1);
)sql";

size_t Occurrences(const std::string& text, const std::string& needle) {
  size_t n = 0;
  for (size_t p = text.find(needle); p != std::string::npos; p = text.find(needle, p + 1)) ++n;
  return n;
}

class TargetPauseE2eTest : public SpineTest {
 protected:
  void Start() {
    admin_port_ = FreeTcpPort();
    WriteConfig("admin: { listen: \"127.0.0.1:" + std::to_string(admin_port_) + "\" }\n");
    StartEngine();
  }
  std::string Status(bool json = true) {
    std::string out, err;
    std::vector<std::string> args{"status", "--config", config_};
    if (json) args.push_back("--json");
    // Polled from the engine's start on: before it made the journal, status
    // exits 1 ("no journal at ...") and the caller polls again.
    if (Handoff(args, &out, &err) != 0) return "status failed: " + err;
    return out;
  }
  // A number field of the pause in `status --json`; -1 when not paused.
  long PauseField(const std::string& field) {
    std::smatch m;
    const std::string s = Status();
    if (!std::regex_search(s, m, std::regex("\"paused\":\\{[^}]*\"" + field + "\":([0-9]+)"))) return -1;
    return std::stol(m[1]);
  }
  std::optional<double> Metric(const std::string& series) {
    HttpReply r = HttpGet(admin_port_, "/metrics");
    return r.status == 200 ? MetricValue(r.body, series) : std::nullopt;
  }
  std::string List(const std::string& state = "open", bool json = false) {
    std::string out, err;
    std::vector<std::string> args{"exceptions", "list", "--config", config_, "--state", state};
    if (json) args.push_back("--json");
    // Polled from the engine's start on: before it made the journal, status
    // exits 1 ("no journal at ...") and the caller polls again.
    if (Handoff(args, &out, &err) != 0) return "status failed: " + err;
    return out;
  }
  std::string EngineLog() { return LogTail(1 << 24); }
  // The journal's last seq in `status --json`; -1 when unreadable.
  long LastSeq() {
    std::smatch m;
    const std::string s = Status();
    if (!std::regex_search(s, m, std::regex("\"journal\":\\{[^}]*\"last_seq\":([0-9]+)"))) return -1;
    return std::stol(m[1]);
  }
  // The target's health state and reason in `status --json`.
  std::string TargetHealth() {
    std::smatch m;
    const std::string s = Status();
    if (!std::regex_search(s, m, std::regex("\"targets\":\\[\\{\"name\":\"erp\",\"state\":\"([a-z]+)\",\"reason\":\"([^\"]*)\"")))
      return "?";
    return std::string(m[1]) + ": " + std::string(m[2]);
  }
  long DstCount(const std::string& table, const std::string& where = "true") {
    return std::stol(server_->Dump(dst_db_, "SELECT count(*) FROM " + table + " WHERE " + where));
  }
  const std::string kOperatorPaused = "handoff_target_paused{target=\"erp\",route=\"\",by=\"operator\"}";
  void Src(const std::string& sql) { ASSERT_TRUE(server_->Exec(src_db_, sql).ok()) << sql; }
  void Dst(const std::string& sql) { ASSERT_TRUE(server_->Exec(dst_db_, sql).ok()) << sql; }

  int admin_port_ = 0;
};

TEST_F(TargetPauseE2eTest, MissingTableIsOnePauseAndEverythingHeldLandsOnceItExists) {
  CreateDatabases(name_);
  Dst("DROP TABLE time_entries");
  Start();
  Src("INSERT INTO consultants VALUES ('before@x', 'Before', 100, true, 1)");
  ASSERT_TRUE(WaitUntil([&] { return Contents(dst_db_, "consultants") == Contents(src_db_, "consultants"); }))
      << LogTail();
  // Thousands of changes for the missing table, in several transactions, then
  // one for a table that exists: all held behind the first.
  for (int b = 0; b < 6; ++b)
    Src("INSERT INTO time_entries (id, consultant_id, project_code, hours, status) SELECT g, g % 7, 'P-' || g, "
        "1.5, 'draft' FROM generate_series(" + std::to_string(b * 500 + 1) + ", " + std::to_string(b * 500 + 500) +
        ") g");
  Src("UPDATE time_entries SET version = 2, status = 'approved' WHERE id <= 200");
  Src("INSERT INTO consultants VALUES ('after@x', 'After', 200, true, 2)");
  ASSERT_TRUE(WaitUntil([&] { return PauseField("held") == 3201; }, 90s)) << Status() << LogTail();

  EXPECT_NE(List().find("1 open exception(s); target_paused: 1"), std::string::npos) << List();
  const std::string log = EngineLog();
  EXPECT_EQ(Occurrences(log, "paused at seq"), 1u) << log.substr(0, 4000);
  EXPECT_EQ(Occurrences(log, "parked seq"), 0u) << "nothing is parked";
  EXPECT_EQ(Occurrences(log, "error [apply]"), 1u) << "one error line for the change of state";
  EXPECT_EQ(server_->Dump(dst_db_, "SELECT email FROM consultants ORDER BY 1"), "before@x\n")
      << "nothing after the held change is applied";
  EXPECT_EQ(Metric("handoff_target_paused{target=\"erp\"}"), 1.0);
  EXPECT_EQ(Metric("handoff_target_held_changes{target=\"erp\"}"), 3201.0);
  EXPECT_EQ(HttpGet(admin_port_, "/readyz").status, 200) << "a paused target degrades, it does not unready";
  const std::string text = Status(false);
  EXPECT_NE(text.find("PAUSED"), std::string::npos) << text;
  EXPECT_NE(text.find("public.time_entries refuses changes [42P01]"), std::string::npos) << text;
  EXPECT_NE(text.find("3201 change(s) held"), std::string::npos) << text;
  const std::string rec = List("open", true);
  EXPECT_NE(rec.find("\"code\":\"target_paused\""), std::string::npos) << rec;
  EXPECT_NE(rec.find("3201 change(s) held"), std::string::npos) << rec;
  const std::string pause_seq = std::to_string(PauseField("seq"));
  std::string out, err;
  EXPECT_EQ(Handoff({"exceptions", "retry", "--config", config_, "--target", "erp", "--seq", pause_seq}, &out, &err),
            2) << "a pause record is not a parked change";
  EXPECT_NE(err.find("handoff resume"), std::string::npos) << err;
  EXPECT_EQ(Handoff({"exceptions", "discard", "--config", config_, "--target", "erp", "--seq", pause_seq, "--actor",
                     "a", "--note", "n"}, &out, &err), 2);

  // The table appears, with a ledger of every row version written.
  ASSERT_TRUE(server_->Exec(dst_db_, std::string(kTimeEntries) +
                                         "CREATE TABLE applied_log (id bigint, version int);"
                                         "CREATE FUNCTION log_apply() RETURNS trigger LANGUAGE plpgsql AS "
                                         "$$ BEGIN INSERT INTO applied_log VALUES (NEW.id, NEW.version); RETURN NEW; "
                                         "END $$; CREATE TRIGGER log_apply AFTER INSERT OR UPDATE ON time_entries "
                                         "FOR EACH ROW EXECUTE FUNCTION log_apply();").ok());
  ASSERT_TRUE(WaitForEqual(120s)) << "the pause resumes by itself";
  EXPECT_EQ(LedgerDuplicates(*server_, dst_db_), "") << "a row version applied twice";
  // An update may collapse onto its insert within one chunk: 3000 to 3200 versions.
  EXPECT_GE(LedgerRows(*server_, dst_db_), 3000);
  EXPECT_LE(LedgerRows(*server_, dst_db_), 3200);
  ASSERT_TRUE(WaitUntil([&] { return PauseField("held") == -1; }));
  const std::string all = List("all", true);
  EXPECT_NE(all.find("\"state\":\"retried\""), std::string::npos) << all;
  EXPECT_NE(all.find("resumed after 3201 change(s) held"), std::string::npos) << all;
  EXPECT_NE(List().find("0 open exception(s)"), std::string::npos);
  EXPECT_EQ(Status(false).find("PAUSED"), std::string::npos);
  EXPECT_EQ(Metric("handoff_target_paused{target=\"erp\"}"), 0.0);
  EXPECT_EQ(Occurrences(EngineLog(), "resumed at seq"), 1u);
  EXPECT_EQ(Occurrences(EngineLog(), "paused at seq"), 1u);
  EXPECT_EQ(StopEngine(SIGTERM), 0);
}

TEST_F(TargetPauseE2eTest, ResumeCommandRetriesAtOnce) {
  CreateDatabases(name_);
  Dst("DROP TABLE consultants");
  Start();
  Src("INSERT INTO consultants SELECT 'c' || g || '@x', 'C', g, true, 1 FROM generate_series(1, 50) g");
  // Four attempts (1 + 2 + 4 s apart): the next one by itself is 8 s away.
  ASSERT_TRUE(WaitUntil([&] { return PauseField("tries") >= 4; }, 60s)) << Status() << LogTail();
  Dst("CREATE TABLE consultants (email text PRIMARY KEY, name text, rate numeric(12,4), active boolean, "
      "small smallint)");
  const auto t0 = std::chrono::steady_clock::now();
  std::string out, err;
  ASSERT_EQ(Handoff({"resume", "--config", config_, "--target", "erp", "--actor", "ana"}, &out, &err), 0)
      << out << err << LogTail();
  EXPECT_NE(out.find("resumed erp"), std::string::npos) << out;
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 6s) << "resumed on request, not by the next retry";
  ASSERT_TRUE(WaitForEqual(30s));
  EXPECT_NE(List("all", true).find("\"actor\":\"handoff resume by ana\""), std::string::npos) << List("all", true);
  EXPECT_EQ(Handoff({"resume", "--config", config_, "--target", "erp"}, &out, &err), 0);
  EXPECT_NE(out.find("is not paused"), std::string::npos) << out;
  EXPECT_EQ(Handoff({"resume", "--config", config_, "--target", "nope"}, &out, &err), 2);
  EXPECT_EQ(StopEngine(SIGTERM), 0);
}

TEST_F(TargetPauseE2eTest, BulkRetryAndDiscardByReasonAndAllOnlyWhenConfirmed) {
  CreateDatabases(name_);
  Dst("ALTER TABLE consultants ADD CONSTRAINT rate_cap CHECK (rate < 1000);"
      "ALTER TABLE consultants ALTER COLUMN name SET NOT NULL");
  Start();
  Src("INSERT INTO consultants SELECT 'high' || g || '@x', 'High', 1500, true, 1 FROM generate_series(1, 30) g");
  Src("INSERT INTO consultants SELECT 'anon' || g || '@x', NULL, 10, true, 1 FROM generate_series(1, 20) g");
  Src("INSERT INTO consultants VALUES ('ok@x', 'Ok', 100, true, 1)");
  ASSERT_TRUE(WaitUntil([&] { return List().find("50 open exception(s); 23502: 20; 23514: 30") != std::string::npos; }))
      << List() << LogTail();
  std::string out, err;
  // Without --yes: the count and what it would do; nothing done, exit 2.
  EXPECT_EQ(Handoff({"exceptions", "discard", "--config", config_, "--target", "erp", "--reason", "23502", "--actor",
                     "bo", "--note", "test rows"}, &out, &err), 2);
  EXPECT_NE(out.find("20 open exception(s) of target erp match (reason 23502)"), std::string::npos) << out;
  EXPECT_NE(out.find("would discard them; nothing done"), std::string::npos) << out;
  EXPECT_EQ(Handoff({"exceptions", "retry", "--config", config_, "--target", "erp", "--all"}, &out, &err), 2);
  EXPECT_NE(out.find("50 open exception(s) of target erp match (all reasons)"), std::string::npos) << out;
  EXPECT_NE(List().find("50 open exception(s)"), std::string::npos) << "nothing done without --yes";
  // Usage errors: two selections, no selection, --yes with --seq, a bad state.
  EXPECT_EQ(Handoff({"exceptions", "retry", "--config", config_, "--target", "erp", "--seq", "3", "--all"}, &out,
                    &err), 2);
  EXPECT_EQ(Handoff({"exceptions", "retry", "--config", config_, "--target", "erp"}, &out, &err), 2);
  EXPECT_EQ(Handoff({"exceptions", "retry", "--config", config_, "--target", "erp", "--seq", "3", "--yes"}, &out,
                    &err), 2);
  EXPECT_EQ(Handoff({"exceptions", "retry", "--config", config_, "--target", "erp", "--all", "--state", "retried",
                     "--yes"}, &out, &err), 2);

  // Discard by reason, confirmed.
  ASSERT_EQ(Handoff({"exceptions", "discard", "--config", config_, "--target", "erp", "--reason", "23502", "--actor",
                     "bo", "--note", "test rows", "--yes"}, &out, &err), 0) << err;
  EXPECT_NE(out.find("discarded 20 exception(s) of target erp by bo: test rows"), std::string::npos) << out;
  EXPECT_NE(List().find("30 open exception(s); 23514: 30"), std::string::npos) << List();
  // Retry before the fix: refused again, all still open, exit 1.
  EXPECT_EQ(Handoff({"exceptions", "retry", "--config", config_, "--target", "erp", "--reason", "23514", "--yes"},
                    &out, &err), 1);
  EXPECT_NE(out.find("retried 30 of 30: 0 applied, 30 parked again"), std::string::npos) << out;
  EXPECT_NE(List().find("30 open exception(s); 23514: 30"), std::string::npos) << List();
  // Fix the target, retry all: applied, closed.
  Dst("ALTER TABLE consultants DROP CONSTRAINT rate_cap");
  ASSERT_EQ(Handoff({"exceptions", "retry", "--config", config_, "--target", "erp", "--all", "--yes", "--actor",
                     "ana"}, &out, &err), 0) << out << err;
  EXPECT_NE(out.find("retried 30 of 30: 30 applied, 0 parked again"), std::string::npos) << out;
  EXPECT_EQ(server_->Dump(dst_db_, "SELECT count(*) FROM consultants WHERE email LIKE 'high%'"), "30\n");
  EXPECT_EQ(server_->Dump(dst_db_, "SELECT count(*) FROM consultants WHERE email LIKE 'anon%'"), "0\n");
  EXPECT_NE(List().find("0 open exception(s)"), std::string::npos) << List();
  const std::string all = List("all", true);
  EXPECT_EQ(Occurrences(all, "\"state\":\"retried\""), 30u);
  EXPECT_EQ(Occurrences(all, "\"state\":\"discarded\""), 20u);
  EXPECT_EQ(Occurrences(all, "\"actor\":\"ana\""), 30u);
  // Nothing left: a bulk verb says so and succeeds.
  EXPECT_EQ(Handoff({"exceptions", "retry", "--config", config_, "--target", "erp", "--all"}, &out, &err), 0);
  EXPECT_NE(out.find("0 open exception(s) of target erp match"), std::string::npos) << out;
  EXPECT_EQ(StopEngine(SIGTERM), 0);
}

TEST_F(TargetPauseE2eTest, OperatorPauseHoldsTheTargetWhileTheJournalGrowsAndResumeAppliesEachChangeOnce) {
  CreateDatabases(name_);
  ASSERT_TRUE(InstallApplyLedger(*server_, dst_db_).ok());
  Start();
  Src("INSERT INTO consultants VALUES ('before@x', 'Before', 100, true, 1)");
  ASSERT_TRUE(WaitUntil([&] { return Contents(dst_db_, "consultants") == Contents(src_db_, "consultants"); }))
      << LogTail();
  std::string out, err;
  EXPECT_EQ(Handoff({"pause", "--config", config_, "--target", "nope"}, &out, &err), 2);
  ASSERT_EQ(Handoff({"pause", "--config", config_, "--target", "erp", "--actor", "ana", "--note", "deploy 42"}, &out,
                    &err), 0) << out << err;
  EXPECT_NE(out.find("paused erp"), std::string::npos) << out;
  ASSERT_TRUE(WaitUntil([&] { return TargetHealth() == "paused: paused by ana (deploy 42): the whole target"; }))
      << TargetHealth() << LogTail();
  const long before = LastSeq();
  ASSERT_GT(before, 0);
  // Insert-only, several transactions, and a change of another table.
  for (int b = 0; b < 4; ++b)
    Src("INSERT INTO time_entries (id, consultant_id, project_code, hours, status) SELECT g, g % 7, 'P-' || g, "
        "1.5, 'draft' FROM generate_series(" + std::to_string(b * 500 + 1) + ", " + std::to_string(b * 500 + 500) +
        ") g");
  Src("INSERT INTO consultants VALUES ('after@x', 'After', 200, true, 2)");
  // 2001 changes and 5 commit markers journaled while the target holds.
  ASSERT_TRUE(WaitUntil([&] { return LastSeq() >= before + 2006; }, 60s)) << LastSeq() << " " << LogTail();
  EXPECT_EQ(DstCount("time_entries"), 0) << "nothing is applied while paused";
  EXPECT_EQ(server_->Dump(dst_db_, "SELECT email FROM consultants ORDER BY 1"), "before@x\n");
  EXPECT_EQ(TargetHealth(), "paused: paused by ana (deploy 42): the whole target");
  EXPECT_EQ(Metric(kOperatorPaused), 1.0);
  EXPECT_EQ(Metric("handoff_target_up{target=\"erp\"}"), 0.0);
  const std::string text = Status(false);
  EXPECT_NE(text.find("PAUSED by operator ana since "), std::string::npos) << text;
  EXPECT_NE(text.find("(deploy 42): the whole target"), std::string::npos) << text;
  const std::string json = Status();
  EXPECT_NE(json.find("\"operator_holds\":[{\"route\":null,\"actor\":\"ana\",\"note\":\"deploy 42\",\"since\":"),
            std::string::npos) << json;
  EXPECT_EQ(Occurrences(EngineLog(), "paused by ana (deploy 42): the whole target; nothing from seq"), 1u)
      << "one log line for the change of state";

  ASSERT_EQ(Handoff({"resume", "--config", config_, "--target", "erp"}, &out, &err), 0) << out << err;
  EXPECT_NE(out.find("lifted the operator pause of erp"), std::string::npos) << out;
  ASSERT_TRUE(WaitForEqual(60s)) << LogTail();
  EXPECT_EQ(LedgerDuplicates(*server_, dst_db_), "") << "a row applied twice";
  EXPECT_EQ(LedgerRows(*server_, dst_db_), 2000) << "each journaled insert applied exactly once";
  EXPECT_EQ(DstCount("time_entries"), 2000);
  ASSERT_TRUE(WaitUntil([&] { return TargetHealth() == "applying: "; })) << TargetHealth();
  EXPECT_EQ(Metric(kOperatorPaused), 0.0);
  EXPECT_EQ(Status(false).find("PAUSED"), std::string::npos);
  EXPECT_NE(Status().find("\"operator_holds\":[]"), std::string::npos);
  EXPECT_EQ(Handoff({"resume", "--config", config_, "--target", "erp"}, &out, &err), 0);
  EXPECT_NE(out.find("is not paused"), std::string::npos) << out;
  EXPECT_EQ(Occurrences(EngineLog(), "parked seq"), 0u);
  EXPECT_EQ(StopEngine(SIGTERM), 0);
}

TEST_F(TargetPauseE2eTest, RoutePauseLetsTheOtherRoutesGoOnAndCatchesTheRouteUpOnceAcrossRestarts) {
  CreateDatabases(name_);
  ASSERT_TRUE(InstallApplyLedger(*server_, dst_db_).ok());
  admin_port_ = FreeTcpPort();
  WriteConfig("admin: { listen: \"127.0.0.1:" + std::to_string(admin_port_) + "\" }\n");
  // Small target transactions: the catch-up commits once per source transaction.
  std::string cfg;
  {
    std::ifstream in(config_);
    cfg.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  }
  const size_t at = cfg.find("\" }\nroutes:");
  ASSERT_NE(at, std::string::npos) << cfg;
  cfg.insert(at + 1, ", batch_rows: 100");
  std::ofstream(config_) << cfg;
  StartEngine();
  const std::string route = name_ + ".public.time_entries";
  auto route_rows = [&] {
    return DstCount("handoff_applied", "journal_id LIKE '%/route:" + route + "'");
  };
  std::string out, err;
  EXPECT_EQ(Handoff({"pause", "--config", config_, "--target", "erp", "--route", name_ + ".public.nope"}, &out, &err),
            2);
  ASSERT_EQ(Handoff({"pause", "--config", config_, "--target", "erp", "--route", route, "--actor", "bo", "--note",
                     "reindex"}, &out, &err), 0) << out << err;
  EXPECT_NE(out.find("the other routes go on"), std::string::npos) << out;
  const std::string route_paused = "handoff_target_paused{target=\"erp\",route=\"" + route + "\",by=\"operator\"}";
  ASSERT_TRUE(WaitUntil([&] { return Metric(route_paused) == 1.0; }));
  // The writer has taken the hold (it re-reads holds every 200 ms) and goes on.
  const std::string held = "applying: paused by bo (reindex): route " + route + "; the other routes go on";
  ASSERT_TRUE(WaitUntil([&] { return TargetHealth() == held; })) << TargetHealth() << LogTail();
  // Landed: capture streams, so what follows is not in the initial snapshot.
  Src("INSERT INTO consultants VALUES ('c1@x', 'C1', 100, true, 1)");
  ASSERT_TRUE(WaitUntil([&] { return Contents(dst_db_, "consultants") == Contents(src_db_, "consultants"); }))
      << LogTail();
  // A transaction of both routes: the consultant lands, its time entries wait.
  Src("BEGIN; INSERT INTO consultants VALUES ('c2@x', 'C2', 100, true, 1);"
      "INSERT INTO time_entries (id, consultant_id, status) SELECT g, 1, 'draft' FROM generate_series(1, 300) g;"
      "COMMIT");
  Src("INSERT INTO consultants VALUES ('c3@x', 'C3', 100, true, 1)");
  Src("INSERT INTO time_entries (id, consultant_id, status) SELECT g, 1, 'draft' FROM generate_series(301, 500) g");
  Src("INSERT INTO consultants VALUES ('c4@x', 'C4', 100, true, 1)");
  ASSERT_TRUE(WaitUntil([&] { return Contents(dst_db_, "consultants") == Contents(src_db_, "consultants"); }))
      << "the other route goes on " << LogTail();
  EXPECT_EQ(DstCount("time_entries"), 0) << "nothing of the held route is applied";
  EXPECT_EQ(TargetHealth(), held);
  ASSERT_TRUE(WaitUntil([&] { return route_rows() == 1; })) << "the route's catch-up point is in the target";
  const std::string text = Status(false);
  EXPECT_NE(text.find("PAUSED by operator bo since "), std::string::npos) << text;
  EXPECT_NE(text.find("(reindex): route " + route + ";"), std::string::npos) << text;
  EXPECT_EQ(Metric(kOperatorPaused), 0.0) << "the whole target is not held by a record";

  // A restart while paused: the route stays behind, the others go on.
  StopEngine(SIGKILL);
  StartEngine();
  Src("INSERT INTO consultants VALUES ('c5@x', 'C5', 100, true, 1)");
  Src("INSERT INTO time_entries (id, consultant_id, status) SELECT g, 1, 'draft' FROM generate_series(501, 600) g");
  ASSERT_TRUE(WaitUntil([&] { return Contents(dst_db_, "consultants") == Contents(src_db_, "consultants"); }))
      << LogTail();
  EXPECT_EQ(DstCount("time_entries"), 0);
  EXPECT_EQ(route_rows(), 1);

  // Resuming the whole target leaves the route hold alone and says so.
  ASSERT_EQ(Handoff({"resume", "--config", config_, "--target", "erp"}, &out, &err), 0) << out << err;
  EXPECT_NE(out.find("route " + route + " of erp is still paused"), std::string::npos) << out;
  // Lifted while the engine is down; the restarted engine dies in the middle
  // of the catch-up, after its first commit (300 rows, one source transaction).
  ASSERT_TRUE(WaitUntil([&] { return LastSeq() > 0; }));
  StopEngine(SIGKILL);
  ASSERT_EQ(Handoff({"resume", "--config", config_, "--target", "erp", "--route", route}, &out, &err), 0)
      << out << err;
  EXPECT_NE(out.find("lifted the operator pause of route " + route + " of erp"), std::string::npos) << out;
  StartEngine({"HANDOFF_CRASH_AT=apply.before_commit:2"});
  EXPECT_EQ(engine_.Wait(std::chrono::seconds(60)), 128 + SIGKILL) << "crash point did not fire " << LogTail();
  EXPECT_EQ(DstCount("time_entries"), 300) << "the first catch-up commit stands";
  EXPECT_EQ(route_rows(), 1) << "and the route's row moved with it";
  StartEngine();
  ASSERT_TRUE(WaitForEqual(60s)) << LogTail();
  EXPECT_EQ(LedgerDuplicates(*server_, dst_db_), "") << "a row applied twice";
  EXPECT_EQ(LedgerRows(*server_, dst_db_), 600) << "each held change applied exactly once";
  EXPECT_EQ(route_rows(), 0) << "caught up: the row is gone";
  EXPECT_TRUE(WaitUntil([&] { return TargetHealth() == "applying: "; })) << TargetHealth();
  EXPECT_EQ(Status(false).find("PAUSED"), std::string::npos);
  EXPECT_NE(EngineLog().find("route " + route + " caught up through seq"), std::string::npos);
  EXPECT_EQ(StopEngine(SIGTERM), 0);
}

}  // namespace
}  // namespace handoff::testing
