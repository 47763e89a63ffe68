// The operator side of `handoff run` through the real binary: /metrics read
// with an HTTP client while changes flow (the documented series exist and
// move), /livez and /readyz, JSON log lines, and SIGTERM draining to exit 0.
#include <signal.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <fstream>
#include <regex>
#include <sstream>
#include <thread>

#include "admin_client.h"
#include "apply_ledger.h"
#include "source_writer.h"
#include "spine_fixture.h"

namespace handoff::testing {
namespace {

constexpr auto kCatchUp = std::chrono::seconds(90);

class AdminEndpointsTest : public SpineTest {
 protected:
  void SetUp() override {
    SpineTest::SetUp();
    admin_port_ = FreeTcpPort();
  }
  std::string AdminConfig(const std::string& log_format) {
    return "admin: { listen: \"127.0.0.1:" + std::to_string(admin_port_) +
           "\" }\nengine: { slot_check_interval: 1s, slot_wal_warn: 1KiB }\nlog: { format: " + log_format + " }\n";
  }
  std::string Scrape() { return HttpGet(admin_port_, "/metrics").body; }
  double Value(const std::string& text, const std::string& series) {
    auto v = MetricValue(text, series);
    EXPECT_TRUE(v.has_value()) << series << " is missing from /metrics";
    return v.value_or(-1);
  }
  bool WaitReady() {
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
    while (std::chrono::steady_clock::now() < deadline) {
      if (HttpGet(admin_port_, "/readyz").status == 200) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    return false;
  }
  int admin_port_ = 0;
};

TEST_F(AdminEndpointsTest, MetricsMoveWhileChangesFlow) {
  CreateDatabases(name_);
  // The target refuses hours of 1000 and more: such a change opens an exception.
  ASSERT_TRUE(server_->Exec(dst_db_, "ALTER TABLE time_entries ADD CONSTRAINT hours_limit CHECK (hours < 1000)").ok());
  WriteConfig(AdminConfig("text"));
  StartEngine();
  ASSERT_TRUE(WaitReady()) << LogTail();
  EXPECT_EQ(HttpGet(admin_port_, "/livez").status, 200);

  const std::string src = "{source=\"" + name_ + "\"}";
  const std::string slot = "{source=\"" + name_ + "\",slot=\"handoff_" + name_ + "\"}";
  // Streaming: the slot exists and a session reads it (slot creation waits for open transactions).
  auto streaming = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (MetricValue(Scrape(), "handoff_replication_slot_active" + slot).value_or(0) != 1) {
    ASSERT_LT(std::chrono::steady_clock::now(), streaming) << LogTail();
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  std::string before = Scrape();
  for (const char* family :
       {"handoff_changes_captured_total", "handoff_changes_journaled_total", "handoff_changes_applied_total",
        "handoff_apply_lag_seconds", "handoff_apply_lag_changes", "handoff_replication_slot_retained_wal_bytes",
        "handoff_capture_lag_bytes", "handoff_journal_size_bytes", "handoff_exceptions_open", "handoff_retries_total",
        "handoff_journal_holding"})
    EXPECT_NE(before.find(std::string("# TYPE ") + family + " "), std::string::npos) << family << "\n" << before;
  const double captured0 = Value(before, "handoff_changes_captured_total" + src);
  const double applied0 = Value(before, "handoff_changes_applied_total{target=\"erp\"}");

  // The target stalls behind a lock while 3000 rows and one refused row arrive: lag must show.
  std::thread lock([&] {
    EXPECT_TRUE(server_->Exec(dst_db_, "BEGIN; LOCK TABLE time_entries IN ACCESS EXCLUSIVE MODE; "
                                       "SELECT pg_sleep(4); COMMIT").ok());
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  ASSERT_TRUE(server_->Exec(src_db_, "INSERT INTO time_entries (id, consultant_id, hours) "
                                     "SELECT g, 1, 2.5 FROM generate_series(1, 3000) g;"
                                     "INSERT INTO time_entries (id, consultant_id, hours) VALUES (9000, 1, 5000)")
                  .ok());
  double lag_s = 0, lag_changes = 0;
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(4);
  while (std::chrono::steady_clock::now() < deadline) {
    std::string m = Scrape();
    lag_s = std::max(lag_s, MetricValue(m, "handoff_apply_lag_seconds{target=\"erp\"}").value_or(0));
    lag_changes = std::max(lag_changes, MetricValue(m, "handoff_apply_lag_changes{target=\"erp\"}").value_or(0));
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  lock.join();
  EXPECT_GT(lag_s, 1.0);
  EXPECT_GT(lag_changes, 100);

  ASSERT_TRUE(server_->Exec(src_db_, "DELETE FROM time_entries WHERE id = 9000").ok());
  ASSERT_TRUE(WaitForEqual(kCatchUp));
  std::string after;
  deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  do {  // the lag gauges follow the applier's position
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    after = Scrape();
  } while (MetricValue(after, "handoff_apply_lag_changes{target=\"erp\"}").value_or(-1) != 0 &&
           std::chrono::steady_clock::now() < deadline);
  std::printf("---- /metrics after the run (excerpt) ----\n");
  std::istringstream lines(after);
  for (std::string line; std::getline(lines, line);)
    if (line.rfind("handoff_", 0) == 0) std::printf("%s\n", line.c_str());

  EXPECT_GE(Value(after, "handoff_changes_captured_total" + src) - captured0, 3002);
  EXPECT_GE(Value(after, "handoff_changes_journaled_total" + src), 3002);
  EXPECT_GE(Value(after, "handoff_changes_applied_total{target=\"erp\"}") - applied0, 3000);
  EXPECT_EQ(Value(after, "handoff_apply_lag_changes{target=\"erp\"}"), 0);
  EXPECT_EQ(Value(after, "handoff_apply_lag_seconds{target=\"erp\"}"), 0);
  EXPECT_EQ(Value(after, "handoff_exceptions_open{reason=\"23514\"}"), 1);
  EXPECT_GT(Value(after, "handoff_replication_slot_retained_wal_bytes" + slot), 0);
  EXPECT_GE(Value(after, "handoff_capture_lag_bytes" + slot), 0);
  EXPECT_GT(Value(after, "handoff_journal_size_bytes"), Value(before, "handoff_journal_size_bytes") - 1);
  EXPECT_EQ(Value(after, "handoff_journal_holding"), 0);
  EXPECT_GE(Value(after, "handoff_retries_total{stage=\"apply\",name=\"erp\"}"), 0);
  // Every series the alerting rules use is one the engine exports.
  std::ifstream rules_file(std::string(HANDOFF_SOURCE_DIR) + "/ops/prometheus/handoff-alerts.yml");
  std::stringstream rules;
  rules << rules_file.rdbuf();
  const std::regex series_re("handoff_[a-z_]+");
  size_t used = 0;
  const std::string text = rules.str();
  for (auto it = std::sregex_iterator(text.begin(), text.end(), series_re); it != std::sregex_iterator(); ++it, ++used)
    EXPECT_NE(after.find("# TYPE " + it->str() + " "), std::string::npos) << "alert rule uses " << it->str();
  EXPECT_GT(used, 5u);
  EXPECT_NE(text.find("delta(handoff_replication_slot_retained_wal_bytes"), std::string::npos);

  EXPECT_EQ(StopEngine(SIGTERM), 0);
  // slot_wal_warn is 1 KiB here: the growing slot was reported.
  EXPECT_NE(LogTail(200000).find("keeps growing"), std::string::npos);
}

TEST_F(AdminEndpointsTest, NotifiesServiceManagerReadyAndStopping) {
  CreateDatabases(name_);
  WriteConfig(AdminConfig("text"));
  const std::string sock_path = dir_ + "/notify.sock";
  int fd = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  ASSERT_GE(fd, 0);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::snprintf(addr.sun_path, sizeof addr.sun_path, "%s", sock_path.c_str());
  ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  timeval tv{30, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  auto receive = [&] {
    char buf[256];
    ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    return n > 0 ? std::string(buf, static_cast<size_t>(n)) : std::string("(nothing)");
  };
  StartEngine({"NOTIFY_SOCKET=" + sock_path});
  EXPECT_EQ(receive(), "READY=1") << LogTail();
  EXPECT_EQ(HttpGet(admin_port_, "/readyz").status, 200);
  ASSERT_EQ(engine_.pid() > 0 ? ::kill(engine_.pid(), SIGTERM) : -1, 0);
  EXPECT_EQ(receive(), "STOPPING=1");
  EXPECT_EQ(engine_.Wait(std::chrono::seconds(30)), 0);
  ::close(fd);
}

TEST_F(AdminEndpointsTest, JsonLogLinesAndSigtermDrainExitZero) {
  CreateDatabases(name_);
  ASSERT_TRUE(InstallApplyLedger(*server_, dst_db_).ok());
  ASSERT_TRUE(server_->Exec(src_db_, "INSERT INTO time_entries (id, consultant_id) SELECT g, 1 FROM generate_series(1, 200) g").ok());
  WriteConfig(AdminConfig("json"));
  SourceWriterOptions wo{server_, src_db_, /*seed=*/9};
  wo.max_rows_per_txn = 200;
  wo.pause = std::chrono::milliseconds(0);
  wo.max_rows = 20000;
  SourceWriter writer(wo);
  writer.Start();
  StartEngine();
  ASSERT_TRUE(WaitReady()) << LogTail();
  // SIGTERM in the middle of the spike: stop intake, finish the apply transaction, exit 0.
  std::this_thread::sleep_for(std::chrono::milliseconds(1500));
  auto t0 = std::chrono::steady_clock::now();
  EXPECT_EQ(StopEngine(SIGTERM), 0);
  const double drain_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  EXPECT_LT(drain_s, 20.0);
  EXPECT_TRUE(writer.WaitDone(std::chrono::seconds(120)));
  writer.Stop();
  StartEngine();
  ASSERT_TRUE(WaitForEqual(kCatchUp));
  EXPECT_EQ(LedgerDuplicates(*server_, dst_db_), "") << "a row version was applied twice";
  EXPECT_EQ(StopEngine(SIGTERM), 0);

  std::ifstream in(dir_ + "/engine.log");
  size_t n = 0, draining = 0, stopped = 0;
  for (std::string line; std::getline(in, line); ++n) {
    ASSERT_TRUE(line.rfind("{\"ts\":\"", 0) == 0 && line.back() == '}') << "not a JSON log line: " << line;
    EXPECT_NE(line.find("\",\"level\":\""), std::string::npos) << line;
    EXPECT_NE(line.find("\",\"component\":\""), std::string::npos) << line;
    EXPECT_NE(line.find("\",\"msg\":\""), std::string::npos) << line;
    draining += line.find("received SIGTERM, draining") != std::string::npos;
    stopped += line.find("\"msg\":\"stopped: journal at seq") != std::string::npos;
  }
  EXPECT_GT(n, 5u);
  EXPECT_EQ(draining, 2u);
  EXPECT_EQ(stopped, 2u);
  std::printf("SIGTERM during the spike: drained and exited 0 in %.2f s\n", drain_s);
}

TEST_F(AdminEndpointsTest, BadLogSettingsAreUsageErrors) {
  CreateDatabases(name_);
  WriteConfig("log: { format: yaml, level: loud }\nengine: { slot_check_interval: 0s }\n");
  std::string out, err;
  EXPECT_EQ(Handoff({"config", "validate", "--config", config_}, &out, &err), 2);
  EXPECT_NE(err.find("log.format: must be text or json, not 'yaml'"), std::string::npos) << err;
  EXPECT_NE(err.find("log.level: must be debug, info, warn or error, not 'loud'"), std::string::npos) << err;
  EXPECT_NE(err.find("engine.slot_check_interval: must be longer than zero"), std::string::npos) << err;
  WriteConfig();
  EXPECT_EQ(Handoff({"run", "--config", config_, "--log-format", "xml"}, &out, &err), 2);
  EXPECT_NE(err.find("--log-format"), std::string::npos) << err;
  // The flag reaches the log of a verb that fails: one JSON object.
  EXPECT_EQ(Handoff({"agent", "--config", config_, "--source", "nope", "--log-format", "json"}, &out, &err), 2);
  EXPECT_EQ(err.rfind("{\"ts\":\"", 0), 0u) << err;
  EXPECT_NE(err.find("\"component\":\"agent\""), std::string::npos) << err;
}

}  // namespace
}  // namespace handoff::testing
