// A capture agent as its own process (`handoff agent`) talking to the engine
// over tcp:// and ipc://: either side is killed and restarted during a stream
// from PostgreSQL, and the target still ends equal to the source with no row
// version applied twice.
#include <signal.h>

#include <fstream>
#include <random>
#include <sstream>
#include <thread>

#include "apply_ledger.h"
#include "source_writer.h"
#include "spine_fixture.h"

namespace handoff::testing {
namespace {

constexpr auto kCatchUp = std::chrono::seconds(120);

class AgentProcessTest : public SpineTest {
 protected:
  void WriteAgentConfig(const std::string& intake) {
    std::ostringstream c;
    c << "journal: { path: " << dir_ << "/journal }\n"
      << "engine: { intake: \"" << intake << "\" }\n"
      << "sources:\n  - { name: " << name_ << ", kind: postgres, external: true, dsn: \"" << server_->Dsn(src_db_)
      << "\", tables: [public.time_entries, public.documents, public.consultants] }\n"
      << "targets:\n  - { name: erp, kind: postgres, dsn: \"" << server_->Dsn(dst_db_) << "\" }\n"
      << "routes:\n";
    for (const auto& [t, k] : kSpineTables)
      c << "  - { from: " << name_ << ".public." << t << ", to: erp.public." << t << " }\n";
    config_ = dir_ + "/handoff.yaml";
    std::ofstream(config_) << c.str();
  }
  void StartAgent() {
    agent_.Start({HandoffBinary(), "agent", "--config", config_, "--source", name_}, dir_ + "/agent.log");
  }
  std::string AgentLog() {
    std::ifstream in(dir_ + "/agent.log");
    std::stringstream ss;
    ss << in.rdbuf();
    std::string s = ss.str();
    return s.size() > 3000 ? s.substr(s.size() - 3000) : s;
  }
  void RunKillScenario(const std::string& intake) {
    CreateDatabases(name_);
    ASSERT_TRUE(InstallApplyLedger(*server_, dst_db_).ok());
    ASSERT_TRUE(server_->Exec(src_db_, "INSERT INTO time_entries (id, consultant_id) SELECT g, 1 FROM generate_series(1, 200) g").ok());
    WriteAgentConfig(intake);
    SourceWriterOptions wo{server_, src_db_, /*seed=*/3};
    wo.max_rows_per_txn = 30;
    SourceWriter writer(wo);
    writer.Start();

    std::mt19937 rng(5);
    StartEngine();
    StartAgent();
    int agent_kills = 0, engine_kills = 0;
    for (int round = 0; round < 6; ++round) {
      std::this_thread::sleep_for(std::chrono::milliseconds(300 + rng() % 900));
      if (round % 2 == 0) {
        EXPECT_EQ(agent_.Stop(SIGKILL), 128 + SIGKILL);
        ++agent_kills;
        if (rng() % 2) std::this_thread::sleep_for(std::chrono::milliseconds(200));
        StartAgent();
      } else {
        EXPECT_EQ(StopEngine(SIGKILL), 128 + SIGKILL);
        ++engine_kills;
        std::this_thread::sleep_for(std::chrono::milliseconds(100 + rng() % 400));  // the agent waits for it
        StartEngine();
      }
    }
    writer.Stop();
    ASSERT_TRUE(WaitForEqual(kCatchUp)) << "agent log:\n" << AgentLog();
    EXPECT_EQ(agent_kills, 3);
    EXPECT_EQ(engine_kills, 3);
    EXPECT_GT(writer.transactions(), 20);
    EXPECT_EQ(writer.failures(), 0);
    EXPECT_EQ(LedgerDuplicates(*server_, dst_db_), "") << "a row version was applied twice";
    EXPECT_EQ(agent_.Stop(SIGTERM), 0);
    EXPECT_EQ(StopEngine(SIGTERM), 0);
  }
  void TearDown() override {
    if (agent_.running()) agent_.Stop(SIGKILL);
    if (HasFailure()) std::fprintf(stderr, "---- agent log tail ----\n%s\n", AgentLog().c_str());
    SpineTest::TearDown();
  }

  ChildProcess agent_;
};

TEST_F(AgentProcessTest, KilledAgentAndEngineOverTcpLoseAndDoubleNothing) {
  RunKillScenario("tcp://127.0.0.1:" + std::to_string(FreeTcpPort()));
}

TEST_F(AgentProcessTest, KilledAgentAndEngineOverIpcLoseAndDoubleNothing) {
  RunKillScenario("ipc://" + std::string("/tmp/handoff-agent-") + std::to_string(getpid()) + ".sock");
}

TEST_F(AgentProcessTest, AgentWithoutIntakeOrUnknownSourceExitsTwo) {
  CreateDatabases(name_);
  WriteConfig();
  std::string out, err;
  EXPECT_EQ(Handoff({"agent", "--config", config_, "--source", name_}, &out, &err), 2);
  EXPECT_NE(err.find("engine.intake"), std::string::npos) << err;
  WriteAgentConfig("tcp://127.0.0.1:1");
  EXPECT_EQ(Handoff({"agent", "--config", config_, "--source", "nope"}, &out, &err), 2);
  EXPECT_NE(err.find("nope"), std::string::npos) << err;
}

}  // namespace
}  // namespace handoff::testing
