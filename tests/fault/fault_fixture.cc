#include "fault_fixture.h"

#include <signal.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include "admin_client.h"
#include "apply_ledger.h"

namespace handoff::testing {
namespace {

constexpr const char* kSchema = R"sql(
CREATE TABLE time_entries (
  id bigint PRIMARY KEY, consultant_id int NOT NULL, project_code text, work_date date,
  hours numeric(10,2), billable boolean, status text, notes text, version int NOT NULL DEFAULT 1);
)sql";

const std::string kNotRefused = "id < " + std::to_string(kRefusedIdBase);

// Prints the suite's fault count when every test has run.
class FaultCountReporter : public ::testing::EmptyTestEventListener {
 public:
  explicit FaultCountReporter(const int* total) : total_(total) {}
  void OnTestProgramEnd(const ::testing::UnitTest& unit) override {
    std::printf("faults injected: %d (%d tests, %.1f s)\n", *total_, unit.test_to_run_count(),
                unit.elapsed_time() / 1000.0);
    std::fflush(stdout);
  }

 private:
  const int* total_;
};

}  // namespace

PgServer* FaultTest::src_ = nullptr;
PgServer* FaultTest::dst_ = nullptr;
int FaultTest::faults_total_ = 0;

void FaultTest::SetUpTestSuite() {
  static bool listening = false;
  if (!listening) {
    ::testing::UnitTest::GetInstance()->listeners().Append(new FaultCountReporter(&faults_total_));
    listening = true;
  }
  src_ = PgServer::Start().release();
  dst_ = PgServer::Start().release();
}

void FaultTest::TearDownTestSuite() {
  delete src_;
  delete dst_;
  src_ = dst_ = nullptr;
}

void FaultTest::SetUp() {
  char tmpl[] = "/tmp/handoff-fault-XXXXXX";
  ASSERT_NE(mkdtemp(tmpl), nullptr);
  dir_ = tmpl;
  static int counter = 0;
  name_ = "f" + std::to_string(++counter);
  admin_port_ = FreeTcpPort();
  started_ = std::chrono::steady_clock::now();
  // A test that stops a server must leave it running for the next one.
  src_->Resume();
  dst_->Resume();
}

void FaultTest::TearDown() {
  if (engine_.running()) engine_.Stop(SIGKILL);
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - started_).count();
  std::printf("[%s] %d faults injected, %.1f s\n", ::testing::UnitTest::GetInstance()->current_test_info()->name(),
              faults_, secs);
  if (HasFailure()) std::fprintf(stderr, "---- engine log tail ----\n%s\n", LogTail().c_str());
  src_->Resume();
  dst_->Resume();
  std::error_code ec;
  std::filesystem::remove_all(dir_, ec);
}

void FaultTest::CreateDatabases() {
  src_db_ = name_ + "_src";
  dst_db_ = name_ + "_dst";
  ASSERT_TRUE(src_->CreateDatabase(src_db_).ok());
  ASSERT_TRUE(dst_->CreateDatabase(dst_db_).ok());
  ASSERT_TRUE(src_->Exec(src_db_, kSchema).ok());
  ASSERT_TRUE(dst_->Exec(dst_db_, kSchema).ok());
  // The target refuses hours of 1000 and more: such changes must be parked, once each.
  ASSERT_TRUE(dst_->Exec(dst_db_, "ALTER TABLE time_entries ADD CONSTRAINT hours_limit CHECK (hours < 1000)").ok());
  ASSERT_TRUE(InstallApplyLedger(*dst_, dst_db_).ok());
  ASSERT_TRUE(src_->Exec(src_db_, "INSERT INTO time_entries (id, consultant_id) SELECT g, 1 FROM generate_series(1, 200) g")
                  .ok());
}

void FaultTest::WriteConfig(const std::string& journal_extra, const std::string& intake,
                            const std::string& target_extra) {
  std::ostringstream c;
  c << "journal: { path: " << dir_ << "/journal" << (journal_extra.empty() ? "" : ", " + journal_extra) << " }\n"
    << "sources:\n  - { name: " << name_ << ", kind: postgres, dsn: \"" << src_->Dsn(src_db_)
    << "\", tables: [public.time_entries]" << (intake.empty() ? "" : ", external: true") << " }\n"
    << "targets:\n  - { name: erp, kind: postgres, dsn: \"" << dst_->Dsn(dst_db_) << "\""
    << (target_extra.empty() ? "" : ", " + target_extra) << " }\n"
    << "routes:\n  - { from: " << name_ << ".public.time_entries, to: erp.public.time_entries }\n"
    << "admin: { listen: \"127.0.0.1:" << admin_port_ << "\" }\n"
    << "engine: { slot_check_interval: 1s" << (intake.empty() ? "" : ", intake: \"" + intake + "\"") << " }\n"
    << "log: { format: json }\n";
  config_ = dir_ + "/handoff.yaml";
  std::ofstream(config_) << c.str();
}

std::string FaultTest::WriteAgentConfig(const std::string& intake) {
  std::string text = ReadFile(config_);
  size_t at = text.find("intake: \"");
  size_t end = text.find('"', at + 9);
  text.replace(at + 9, end - at - 9, intake);
  std::string path = dir_ + "/agent.yaml";
  std::ofstream(path) << text;
  return path;
}

SourceWriterOptions FaultTest::WriterOptions(long rows) const {
  SourceWriterOptions o;
  o.server = src_;
  o.db = src_db_;
  o.seed = static_cast<unsigned>(std::hash<std::string>()(name_));
  o.max_rows_per_txn = 50;  // about 1,500 rows/s: the spike lasts through the faults
  o.pause = std::chrono::milliseconds(10);
  o.max_rows = rows;
  o.refused_every = 40;
  return o;
}

void FaultTest::StartEngine(const std::vector<std::string>& env) {
  engine_.Start({HandoffBinary(), "run", "--config", config_}, dir_ + "/engine.log", env);
}

int FaultTest::StopEngine(int signal) { return engine_.Stop(signal); }

void FaultTest::Fault(const std::string& what) {
  ++faults_;
  ++faults_total_;
  std::printf("  fault %d: %s\n", faults_, what.c_str());
  std::fflush(stdout);
}

double FaultTest::Metric(const std::string& series) {
  HttpReply r = HttpGet(admin_port_, "/metrics");
  if (r.status != 200) return -1;
  auto v = MetricValue(r.body, series);
  return v ? *v : -1;
}

int FaultTest::ReadyStatus() { return HttpGet(admin_port_, "/readyz").status; }

bool FaultTest::WaitForMetric(const std::string& series, double at_least, std::chrono::seconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (Metric(series) >= at_least) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  return false;
}

std::string FaultTest::SourceChecksum() { return OrderedChecksum(*src_, src_db_, "time_entries", "id", kNotRefused); }
std::string FaultTest::TargetChecksum() { return OrderedChecksum(*dst_, dst_db_, "time_entries", "id", kNotRefused); }

bool FaultTest::WaitConverged(std::chrono::seconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  std::string a, b;
  while (std::chrono::steady_clock::now() < deadline) {
    a = SourceChecksum();
    b = TargetChecksum();
    if (a == b && a.find("ERROR") == std::string::npos) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
  }
  ADD_FAILURE() << "target did not converge: source " << a << ", target " << b;
  return false;
}

void FaultTest::ExpectConsistent(bool expect_refused) {
  EXPECT_EQ(SourceChecksum(), TargetChecksum()) << "source and target differ";
  EXPECT_EQ(LedgerDuplicates(*dst_, dst_db_), "") << "a row version was applied twice";
  EXPECT_GT(LedgerRows(*dst_, dst_db_), 0);
  // Every change the target refused is in the exception queue, once.
  const long refused = std::atol(src_->Dump(src_db_, "SELECT count(*) FROM time_entries WHERE NOT (" + kNotRefused + ")")
                                     .c_str());
  if (expect_refused) {
    EXPECT_GT(refused, 0) << "the spike made no refused change";
  }
  // Absent (-1) when the queue holds no such exception.
  const std::string series = "handoff_exceptions_open{reason=\"23514\"}";
  const double want = refused > 0 ? static_cast<double>(refused) : -1;
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (Metric(series) < want && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  EXPECT_EQ(Metric(series), want) << "exceptions lost or doubled (" << refused << " refused rows in the source)";
  EXPECT_EQ(ReadyStatus(), 200) << "the engine is not ready again";
}

std::string FaultTest::ReadFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::string FaultTest::LogTail(size_t bytes) {
  std::string s = ReadFile(dir_ + "/engine.log");
  return s.size() > bytes ? s.substr(s.size() - bytes) : s;
}

}  // namespace handoff::testing
