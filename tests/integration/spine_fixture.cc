#include "spine_fixture.h"

#include <signal.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

namespace handoff::testing {

const char* kSpineSchema = R"sql(
CREATE TABLE time_entries (
  id bigint PRIMARY KEY, consultant_id int NOT NULL, project_code text, work_date date,
  hours numeric(10,2), billable boolean, status text, notes text, approved_at timestamptz,
  updated_at timestamp, ref uuid, tags text[], meta jsonb, version int NOT NULL DEFAULT 1);
CREATE TABLE documents (
  id int PRIMARY KEY, title text, body text, payload bytea, attrs json, scores int[],
  created timestamptz, amount numeric);
ALTER TABLE documents ALTER COLUMN body SET STORAGE EXTERNAL;
CREATE TABLE consultants (email text PRIMARY KEY, name text, rate numeric(12,4), active boolean, small smallint);
)sql";

const std::vector<std::pair<std::string, std::string>> kSpineTables = {
    {"time_entries", "id"}, {"documents", "id"}, {"consultants", "email"}};

PgServer* SpineTest::server_ = nullptr;

void SpineTest::SetUpTestSuite() { server_ = PgServer::Start().release(); }
void SpineTest::TearDownTestSuite() {
  delete server_;
  server_ = nullptr;
}

void SpineTest::SetUp() {
  char tmpl[] = "/tmp/handoff-e2e-XXXXXX";
  ASSERT_NE(mkdtemp(tmpl), nullptr);
  dir_ = tmpl;
  static int counter = 0;
  name_ = "s" + std::to_string(++counter);
}

void SpineTest::TearDown() {
  if (engine_.running()) engine_.Stop(SIGKILL);
  if (HasFailure()) std::fprintf(stderr, "---- engine log tail ----\n%s\n", LogTail().c_str());
  std::error_code ec;
  std::filesystem::remove_all(dir_, ec);
}

void SpineTest::CreateDatabases(const std::string& name) {
  src_db_ = name + "_src";
  dst_db_ = name + "_dst";
  ASSERT_TRUE(server_->CreateDatabase(src_db_).ok());
  ASSERT_TRUE(server_->CreateDatabase(dst_db_).ok());
  ASSERT_TRUE(server_->Exec(src_db_, kSpineSchema).ok());
  ASSERT_TRUE(server_->Exec(dst_db_, kSpineSchema).ok());
}

std::string SpineTest::WriteConfig(const std::string& extra) {
  std::ostringstream c;
  c << "journal: { path: " << dir_ << "/journal }\n"
    << "sources:\n  - { name: " << name_ << ", kind: postgres, dsn: \"" << server_->Dsn(src_db_)
    << "\", tables: [public.time_entries, public.documents, public.consultants] }\n"
    << "targets:\n  - { name: erp, kind: postgres, dsn: \"" << server_->Dsn(dst_db_) << "\" }\n"
    << "routes:\n";
  for (const auto& [t, k] : kSpineTables)
    c << "  - { from: " << name_ << ".public." << t << ", to: erp.public." << t << " }\n";
  c << extra;
  config_ = dir_ + "/handoff.yaml";
  std::ofstream(config_) << c.str();
  return config_;
}

void SpineTest::StartEngine(const std::vector<std::string>& env) {
  engine_.Start({HandoffBinary(), "run", "--config", config_}, dir_ + "/engine.log", env);
}

int SpineTest::StopEngine(int signal) { return engine_.Stop(signal); }

std::string SpineTest::Contents(const std::string& db, const std::string& table) {
  std::string order;
  for (const auto& [t, k] : kSpineTables)
    if (t == table) order = k;
  return server_->Dump(db, "SELECT x::text FROM " + table + " x ORDER BY " + order);
}

bool SpineTest::WaitForEqual(std::chrono::seconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (true) {
    bool equal = true;
    for (const auto& [t, k] : kSpineTables) equal = equal && Contents(src_db_, t) == Contents(dst_db_, t);
    if (equal) return true;
    if (std::chrono::steady_clock::now() >= deadline) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  for (const auto& [t, k] : kSpineTables) {
    std::string a = Contents(src_db_, t), b = Contents(dst_db_, t);
    if (a != b)
      ADD_FAILURE() << "table " << t << " differs\n--- source (" << a.size() << " bytes)\n" << a.substr(0, 3000)
                    << "\n--- target (" << b.size() << " bytes)\n" << b.substr(0, 3000);
  }
  return false;
}

int SpineTest::Handoff(const std::vector<std::string>& args, std::string* out, std::string* err) {
  std::vector<std::string> argv{HandoffBinary()};
  argv.insert(argv.end(), args.begin(), args.end());
  return RunCommand(argv, out, err);
}

std::string SpineTest::LogTail(size_t bytes) {
  std::ifstream in(dir_ + "/engine.log");
  std::stringstream ss;
  ss << in.rdbuf();
  std::string s = ss.str();
  return s.size() > bytes ? s.substr(s.size() - bytes) : s;
}

bool SpineTest::WaitUntil(const std::function<bool()>& cond, std::chrono::seconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (cond()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  return cond();
}

}  // namespace handoff::testing
