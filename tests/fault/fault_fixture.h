// The fault-injection suite's set-up: a source and a target PostgreSQL
// server (separate, so either can be restarted alone), a spike of writes in
// the source, the handoff engine as a child process, and the checks every
// fault ends with: source and target equal (ordered checksums), no row
// version applied twice (apply ledger), every refused change parked exactly
// once (exception queue), and the engine back to ready without any repair.
#pragma once

#include <gtest/gtest.h>

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "pg_server.h"
#include "process.h"
#include "source_writer.h"

namespace handoff::testing {

class FaultTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite();
  static void TearDownTestSuite();
  void SetUp() override;
  void TearDown() override;

  // Creates <name>_src on the source server and <name>_dst on the target
  // server (the target with a CHECK on hours and the apply ledger), and
  // seeds ids 1..200 in the source.
  void CreateDatabases();
  // Writes the engine config. `journal_extra` goes inside `journal: {...}`
  // (e.g. "map_size: 2MiB"); with a non-empty `intake` the source is
  // external and the engine binds that endpoint. `target_extra` goes inside
  // the target's `{...}` (e.g. "batch_rows: 1000").
  void WriteConfig(const std::string& journal_extra = "", const std::string& intake = "",
                   const std::string& target_extra = "");
  // A config for `handoff agent` that reaches the engine through `intake`.
  std::string WriteAgentConfig(const std::string& intake);
  SourceWriterOptions WriterOptions(long rows) const;

  void StartEngine(const std::vector<std::string>& env = {});
  int StopEngine(int signal);
  // Counts one injected fault (printed per test and for the whole suite).
  void Fault(const std::string& what);

  // GET on the admin address; the value of one series in /metrics (-1: absent).
  double Metric(const std::string& series);
  int ReadyStatus();
  // Polls until `series` >= `at_least` or the timeout passes.
  bool WaitForMetric(const std::string& series, double at_least, std::chrono::seconds timeout);

  std::string SourceChecksum();
  std::string TargetChecksum();
  // Waits until the target equals the source (refused rows aside).
  bool WaitConverged(std::chrono::seconds timeout);
  // The end-of-fault checks; the engine must be running. With
  // `expect_refused`, the spike must have made refused changes.
  void ExpectConsistent(bool expect_refused = true);
  std::string LogTail(size_t bytes = 6000);
  std::string ReadFile(const std::string& path);

  static PgServer* src_;
  static PgServer* dst_;
  static int faults_total_;
  std::string dir_, name_, src_db_, dst_db_, config_;
  int admin_port_ = 0;
  int faults_ = 0;
  std::chrono::steady_clock::time_point started_;
  ChildProcess engine_;
};

}  // namespace handoff::testing
