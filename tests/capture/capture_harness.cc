#include "capture_harness.h"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <cctype>
#include <cstdio>
#include <filesystem>
#include <limits>

namespace handoff::testing {
namespace {

// Owns the shared server; GoogleTest tears it down after the last test.
class PgEnvironment : public ::testing::Environment {
 public:
  void TearDown() override { server.reset(); }
  std::unique_ptr<PgServer> server;
};

PgEnvironment* const g_env =
    static_cast<PgEnvironment*>(::testing::AddGlobalTestEnvironment(new PgEnvironment));

}  // namespace

PgServer& SharedPg() {
  if (!g_env->server) g_env->server = PgServer::Start();
  return *g_env->server;
}

bool WaitUntil(const std::function<bool()>& pred, std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (true) {
    if (pred()) return true;
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
}

EngineHarness::EngineHarness(std::string endpoint) : endpoint_(std::move(endpoint)) {
  char tmpl[] = "/tmp/handoff-journal-XXXXXX";
  if (!::mkdtemp(tmpl)) {
    ADD_FAILURE() << "mkdtemp failed";
    return;
  }
  dir_ = tmpl;
  JournalOptions jo;
  jo.path = dir_;
  jo.map_size = 256ull << 20;
  auto journal = Journal::Open(jo);
  if (!journal.ok()) {
    ADD_FAILURE() << "Journal::Open: " << journal.status().ToString();
    return;
  }
  journal_ = std::move(journal).value();
  ctx_ = TransportContext::Create();
  StartIntake();
}

void EngineHarness::StartIntake() {
  IntakeOptions io;
  io.endpoints = {endpoint_};
  auto intake = IntakeServer::Create(ctx_, journal_.get(), io);
  if (!intake.ok()) {
    ADD_FAILURE() << "IntakeServer::Create: " << intake.status().ToString();
    return;
  }
  intake_ = std::move(intake).value();
  thread_ = std::thread([this] {
    Status st = intake_->Run();
    if (!st.ok()) std::fprintf(stderr, "intake stopped with %s\n", st.ToString().c_str());
  });
}

void EngineHarness::StopIntake() {
  if (intake_) intake_->Stop();
  if (thread_.joinable()) thread_.join();
  intake_.reset();
}

EngineHarness::~EngineHarness() {
  StopIntake();
  journal_.reset();
  if (!dir_.empty()) {
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }
}

std::vector<JournalEntry> EngineHarness::Entries(const std::string& source) {
  std::vector<JournalEntry> all;
  if (!journal_) return all;
  uint64_t from = 0;
  while (true) {
    std::vector<JournalEntry> chunk;
    Status st = journal_->Read(from, 10000, &chunk);
    if (!st.ok()) {
      ADD_FAILURE() << "journal Read: " << st.ToString();
      break;
    }
    if (chunk.empty()) break;
    from = chunk.back().seq + 1;
    for (auto& e : chunk)
      if (e.event.source == source) all.push_back(std::move(e));
  }
  return all;
}

AgentRunner::AgentRunner(PgCaptureOptions options) {
  auto agent = PgCaptureAgent::Create(std::move(options));
  if (!agent.ok()) {
    ADD_FAILURE() << "PgCaptureAgent::Create: " << agent.status().ToString();
    stopped_ = true;
    return;
  }
  agent_ = std::move(agent).value();
  thread_ = std::thread([this] { result_ = agent_->Run(); });
}

AgentRunner::~AgentRunner() {
  Status ignored;
  Stop(&ignored);
}

std::chrono::milliseconds AgentRunner::Stop(Status* result) {
  if (stopped_) {
    *result = result_;
    return std::chrono::milliseconds(0);
  }
  stopped_ = true;
  auto start = std::chrono::steady_clock::now();
  agent_->Stop();
  thread_.join();
  *result = result_;
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - start);
}

}  // namespace handoff::testing

namespace handoff::testing {

uint64_t ParseLsn(const std::string& text) {
  unsigned hi = 0, lo = 0;
  if (std::sscanf(text.c_str(), "%X/%X", &hi, &lo) != 2) return 0;
  return (static_cast<uint64_t>(hi) << 32) | lo;
}

void CaptureTest::SetUp() {
  std::string name = ::testing::UnitTest::GetInstance()->current_test_info()->name();
  source_.clear();
  // A parameterized test ("Name/Param") keeps its parameter in the name.
  const size_t slash = name.find('/');
  const std::string param = slash == std::string::npos ? "" : "_" + name.substr(slash + 1);
  if (slash != std::string::npos) name = name.substr(0, std::min<size_t>(slash, 40 - std::min<size_t>(param.size(), 20)));
  name = (name + param).substr(0, 40);
  for (char c : name)
    source_ += std::isalnum(static_cast<unsigned char>(c)) ? static_cast<char>(std::tolower(static_cast<unsigned char>(c))) : '_';
  db_ = "db_" + source_;
  ASSERT_TRUE(pg().CreateDatabase(db_).ok()) << db_;
  engine_ = std::make_unique<EngineHarness>("inproc://intake-" + source_);
  ASSERT_NE(engine_->journal(), nullptr);
}

void CaptureTest::TearDown() {
  if (agent_) StopAgent();
  engine_.reset();
}

void CaptureTest::Sql(const std::string& sql) {
  Status st = pg().Exec(db_, sql);
  ASSERT_TRUE(st.ok()) << sql << ": " << st.ToString();
}

std::string CaptureTest::Scalar(const std::string& sql) {
  auto rows = pg().Query(db_, sql);
  if (!rows.ok() || rows->empty() || (*rows)[0].empty()) {
    ADD_FAILURE() << sql << ": " << rows.status().ToString();
    return "";
  }
  return (*rows)[0][0];
}

PgCaptureOptions CaptureTest::Options(const std::vector<std::string>& tables) {
  PgCaptureOptions o;
  o.source.name = source_;
  o.source.kind = "postgres";
  o.source.dsn = *ConnParams::Parse(pg().Dsn(db_));
  o.source.tables = tables;
  o.context = engine_->context();
  o.intake_endpoint = engine_->endpoint();
  o.max_batch_delay = std::chrono::milliseconds(5);
  o.status_interval = std::chrono::milliseconds(100);
  o.min_backoff = std::chrono::milliseconds(50);
  o.max_backoff = std::chrono::milliseconds(400);
  return o;
}

void CaptureTest::StartAgent(PgCaptureOptions options) { agent_ = std::make_unique<AgentRunner>(std::move(options)); }

void CaptureTest::StopAgent() {
  Status st;
  auto took = agent_->Stop(&st);
  EXPECT_TRUE(st.ok()) << st.ToString();
  EXPECT_LT(took.count(), 1500) << "Stop() took " << took.count() << " ms";
  agent_.reset();
}

std::vector<ChangeEvent> CaptureTest::Events() {
  std::vector<ChangeEvent> out;
  for (auto& e : engine_->Entries(source_)) out.push_back(std::move(e.event));
  return out;
}

std::vector<ChangeEvent> CaptureTest::Events(Op op) {
  std::vector<ChangeEvent> out;
  for (auto& e : Events())
    if (e.op == op) out.push_back(std::move(e));
  return out;
}

bool CaptureTest::WaitForCount(Op op, size_t n, std::chrono::milliseconds timeout) {
  return WaitUntil([&] { return Events(op).size() >= n; }, timeout);
}

bool CaptureTest::WaitSnapshotDone(std::chrono::milliseconds timeout) {
  return WaitUntil(
      [&] {
        auto pos = engine_->journal()->SourceDurable(source_);
        return pos.ok() && *pos >= SourcePosition{0, std::numeric_limits<uint64_t>::max()};
      },
      timeout);
}

uint64_t CaptureTest::ConfirmedFlush() {
  auto rows = pg().Query("postgres", "SELECT confirmed_flush_lsn FROM pg_replication_slots WHERE slot_name = '" +
                                         slot() + "'");
  if (!rows.ok() || rows->empty()) return 0;
  return ParseLsn((*rows)[0][0]);
}

}  // namespace handoff::testing
