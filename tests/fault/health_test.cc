// Honest health: a source that cannot work (no REPLICATION attribute,
// wal_level below logical, a configured table that does not exist, a dropped
// slot) turns /readyz to 503 with the reason as JSON, handoff_source_up to
// 0, and keeps the slot series present; after the fix the engine recovers by
// itself, without a restart. And the pipeline runs under least-privilege
// roles, exactly as the README lists them.
#include <signal.h>

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

constexpr auto kHealthWait = seconds(30);

class HealthTest : public FaultTest {
 protected:
  void Src(const std::string& sql) { ASSERT_TRUE(src_->Exec(src_db_, sql).ok()) << sql; }

  // Writes a config whose source connects with `source_dsn` (and tables).
  void WriteSourceConfig(const std::string& source_dsn, const std::string& tables,
                         const std::string& target_dsn = "") {
    std::ostringstream c;
    c << "journal: { path: " << dir_ << "/journal }\n"
      << "sources:\n  - { name: " << name_ << ", kind: postgres, dsn: \"" << source_dsn << "\", tables: [" << tables
      << "] }\n"
      << "targets:\n  - { name: erp, kind: postgres, dsn: \"" << (target_dsn.empty() ? dst_->Dsn(dst_db_) : target_dsn)
      << "\" }\n"
      << "routes:\n  - { from: " << name_ << ".public.time_entries, to: erp.public.time_entries }\n"
      << "admin: { listen: \"127.0.0.1:" << admin_port_ << "\" }\n"
      << "engine: { slot_check_interval: 1s }\n";
    config_ = dir_ + "/handoff.yaml";
    std::ofstream(config_) << c.str();
  }

  // Waits until /readyz answers `status` and its body contains `needle`.
  bool WaitReady(int status, const std::string& needle, seconds timeout, std::string* body = nullptr) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    HttpReply r;
    while (std::chrono::steady_clock::now() < deadline) {
      r = HttpGet(admin_port_, "/readyz");
      if (r.status == status && r.body.find(needle) != std::string::npos) {
        if (body) *body = r.body;
        return true;
      }
      std::this_thread::sleep_for(milliseconds(200));
    }
    ADD_FAILURE() << "/readyz did not answer " << status << " with '" << needle << "'; last: " << r.status << " "
                  << r.body << "\n" << LogTail();
    return false;
  }

  std::string SourceUp() { return "handoff_source_up{source=\"" + name_ + "\"}"; }

  std::string RoleDsn(const PgServer* server, const std::string& db, const std::string& user) {
    std::string dsn = server->Dsn(db);
    return dsn.replace(dsn.find("user=postgres"), 13, "user=" + user);
  }
};

TEST_F(HealthTest, SourceWithoutReplicationAttribute) {
  CreateDatabases();
  const std::string role = name_ + "_norepl";
  Src("CREATE ROLE " + role + " LOGIN; GRANT SELECT ON time_entries TO " + role +
      "; CREATE PUBLICATION handoff_" + name_ + " FOR TABLE time_entries");
  WriteSourceConfig(RoleDsn(src_, src_db_, role), "public.time_entries");
  StartEngine();
  std::string body;
  ASSERT_TRUE(WaitReady(503, "replication", kHealthWait, &body));
  EXPECT_NE(body.find("\"component\":\"source\""), std::string::npos) << body;
  EXPECT_NE(body.find("\"state\":\"failed\""), std::string::npos) << body;
  EXPECT_EQ(Metric(SourceUp()), 0);
  // The slot series exist (at 0) while there is no slot, so an alert can fire.
  EXPECT_TRUE(WaitForMetric("handoff_replication_slot_exists{source=\"" + name_ + "\",slot=\"handoff_" + name_ + "\"}",
                            0, kHealthWait));
  EXPECT_EQ(Metric("handoff_replication_slot_active{source=\"" + name_ + "\",slot=\"handoff_" + name_ + "\"}"), 0);
  // The misconfiguration is logged once, not once per retry.
  std::this_thread::sleep_for(seconds(3));
  const std::string log = LogTail(1 << 20);
  size_t n = 0;
  size_t summaries = 0;
  std::istringstream lines(log);
  for (std::string line; std::getline(lines, line);) {
    if (line.find("the source is failed") == std::string::npos) continue;
    if (line.find("still failing after") != std::string::npos) ++summaries;  // at 2, 4, 8, ... tries
    else ++n;
  }
  EXPECT_EQ(n, 1u) << log;
  EXPECT_LE(summaries, 6u) << log;

  Src("ALTER ROLE " + role + " REPLICATION");
  ASSERT_TRUE(WaitReady(200, "\"ready\":true", kHealthWait));
  EXPECT_TRUE(WaitForMetric(SourceUp(), 1, kHealthWait));
  ASSERT_TRUE(WaitConverged(seconds(120)));
  EXPECT_EQ(StopEngine(SIGTERM), 0);
}

TEST_F(HealthTest, ConfiguredTableMissing) {
  CreateDatabases();
  WriteSourceConfig(src_->Dsn(src_db_), "public.time_entries, public.absent_" + name_);
  StartEngine();
  ASSERT_TRUE(WaitReady(503, "absent_" + name_, kHealthWait));
  EXPECT_EQ(Metric(SourceUp()), 0);
  Src("CREATE TABLE absent_" + name_ + " (id int PRIMARY KEY)");
  ASSERT_TRUE(WaitReady(200, "\"ready\":true", kHealthWait));
  ASSERT_TRUE(WaitConverged(seconds(120)));
  EXPECT_EQ(StopEngine(SIGTERM), 0);
}

TEST_F(HealthTest, SlotDroppedWhileRunning) {
  CreateDatabases();
  WriteConfig();
  StartEngine();
  ASSERT_TRUE(WaitConverged(seconds(120)));
  ASSERT_TRUE(WaitForMetric(SourceUp(), 1, kHealthWait));
  const std::string slot = "handoff_" + name_;
  // Stop the engine's walsender and drop its slot before it reconnects.
  bool dropped = false;
  for (int i = 0; i < 50 && !dropped; ++i) {
    (void)src_->Exec("postgres", "SELECT pg_terminate_backend(active_pid) FROM pg_replication_slots WHERE slot_name = '" +
                                     slot + "' AND active_pid IS NOT NULL");
    dropped = src_->Exec("postgres", "SELECT pg_drop_replication_slot('" + slot + "')").ok();
    if (!dropped) std::this_thread::sleep_for(milliseconds(20));
  }
  ASSERT_TRUE(dropped);
  ASSERT_TRUE(WaitReady(503, slot, kHealthWait));
  EXPECT_EQ(Metric(SourceUp()), 0);
  EXPECT_TRUE(WaitForMetric("handoff_replication_slot_exists{source=\"" + name_ + "\",slot=\"" + slot + "\"}", 0,
                            kHealthWait));
  EXPECT_EQ(Metric("handoff_replication_slot_exists{source=\"" + name_ + "\",slot=\"" + slot + "\"}"), 0);
  // The operator's fix: a new slot (changes made while none existed are gone;
  // the log said so).
  ASSERT_TRUE(src_->Exec(src_db_, "SELECT pg_create_logical_replication_slot('" + slot + "', 'pgoutput')").ok());
  ASSERT_TRUE(WaitReady(200, "\"ready\":true", kHealthWait));
  Src("INSERT INTO time_entries (id, consultant_id) VALUES (424242, 1)");
  ASSERT_TRUE(WaitConverged(seconds(120)));
  EXPECT_EQ(StopEngine(SIGTERM), 0);
}

// wal_level below logical needs its own server: one with logical slots on it
// would refuse to start at wal_level=replica.
TEST_F(HealthTest, WalLevelBelowLogical) {
  auto server = PgServer::Start();
  const std::string db = name_ + "_wal";
  ASSERT_TRUE(server->CreateDatabase(db).ok());
  ASSERT_TRUE(server->Exec(db, "CREATE TABLE time_entries (id bigint PRIMARY KEY, consultant_id int NOT NULL,"
                               " project_code text, work_date date, hours numeric(10,2), billable boolean,"
                               " status text, notes text, version int NOT NULL DEFAULT 1);"
                               " INSERT INTO time_entries (id, consultant_id) SELECT g, 1 FROM generate_series(1, 50) g")
                  .ok());
  ASSERT_TRUE(server->Exec("postgres", "ALTER SYSTEM SET wal_level = replica").ok());
  server->Restart();
  dst_db_ = name_ + "_dst";
  ASSERT_TRUE(dst_->CreateDatabase(dst_db_).ok());
  ASSERT_TRUE(dst_->Exec(dst_db_, "CREATE TABLE time_entries (id bigint PRIMARY KEY, consultant_id int NOT NULL,"
                                  " project_code text, work_date date, hours numeric(10,2), billable boolean,"
                                  " status text, notes text, version int NOT NULL DEFAULT 1)")
                  .ok());
  WriteSourceConfig(server->Dsn(db), "public.time_entries");
  StartEngine();
  ASSERT_TRUE(WaitReady(503, "wal_level", kHealthWait));
  EXPECT_EQ(Metric(SourceUp()), 0);
  ASSERT_TRUE(server->Exec("postgres", "ALTER SYSTEM RESET wal_level").ok());
  server->Restart();
  ASSERT_TRUE(WaitReady(200, "\"ready\":true", seconds(60)));
  auto deadline = std::chrono::steady_clock::now() + seconds(120);
  std::string a, b;
  while (std::chrono::steady_clock::now() < deadline) {
    a = OrderedChecksum(*server, db, "time_entries", "id", "true");
    b = OrderedChecksum(*dst_, dst_db_, "time_entries", "id", "true");
    if (a == b) break;
    std::this_thread::sleep_for(milliseconds(300));
  }
  EXPECT_EQ(a, b);
  EXPECT_EQ(StopEngine(SIGTERM), 0);
}

// The roles README.md lists: a source role with REPLICATION and SELECT (the
// publication made by the table owner), a target role with DML on the target
// tables, its own handoff_applied table and EXECUTE on the replication
// origin functions. Neither is a superuser.
TEST_F(HealthTest, PipelineRunsUnderLeastPrivilegeRoles) {
  CreateDatabases();
  const std::string src_role = name_ + "_cap", dst_role = name_ + "_app";
  Src("CREATE ROLE " + src_role + " LOGIN REPLICATION; GRANT SELECT ON time_entries TO " + src_role +
      "; CREATE PUBLICATION handoff_" + name_ + " FOR TABLE time_entries");
  ASSERT_TRUE(dst_->Exec(dst_db_, "CREATE ROLE " + dst_role + " LOGIN;"
                                  " GRANT SELECT, INSERT, UPDATE, DELETE, TRUNCATE ON time_entries TO " + dst_role + ";"
                                  " GRANT CREATE ON SCHEMA public TO " + dst_role + ";"
                                  " GRANT EXECUTE ON FUNCTION pg_replication_origin_create(text),"
                                  " pg_replication_origin_oid(text), pg_replication_origin_session_setup(text)"
                                  " TO " + dst_role)
                  .ok());
  // The apply ledger's trigger writes into its own table as the applying role.
  ASSERT_TRUE(dst_->Exec(dst_db_, "GRANT ALL ON ALL TABLES IN SCHEMA public TO " + dst_role +
                                      "; GRANT ALL ON ALL SEQUENCES IN SCHEMA public TO " + dst_role)
                  .ok());
  WriteSourceConfig(RoleDsn(src_, src_db_, src_role), "public.time_entries", RoleDsn(dst_, dst_db_, dst_role));
  SourceWriter writer(WriterOptions(2000));
  writer.Start();
  StartEngine();
  EXPECT_TRUE(writer.WaitDone(seconds(120)));
  writer.Stop();
  ASSERT_TRUE(WaitConverged(seconds(150)));
  ExpectConsistent();
  for (const char* role_check : {"SELECT rolsuper FROM pg_roles WHERE rolname = '"}) {
    EXPECT_EQ(src_->Dump("postgres", std::string(role_check) + src_role + "'").substr(0, 1), "f");
    EXPECT_EQ(dst_->Dump("postgres", std::string(role_check) + dst_role + "'").substr(0, 1), "f");
  }
  EXPECT_EQ(StopEngine(SIGTERM), 0);
}

}  // namespace
}  // namespace handoff::testing
