// Shared set-up for end-to-end tests of the handoff binary: one throwaway
// PostgreSQL server per test binary, a source and a target database per test,
// a config file, and the engine as a child process.
#pragma once

#include <gtest/gtest.h>

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "pg_server.h"
#include "process.h"

namespace handoff::testing {

// The three source tables, with every common column type.
extern const char* kSpineSchema;
// Table name -> ORDER BY expression for comparing contents.
extern const std::vector<std::pair<std::string, std::string>> kSpineTables;

class SpineTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite();
  static void TearDownTestSuite();
  void SetUp() override;
  void TearDown() override;

  // Creates databases <name>_src and <name>_dst with the schema in both.
  void CreateDatabases(const std::string& name);
  // Writes a config routing every spine table from source `src` to target `dst`.
  std::string WriteConfig(const std::string& extra = "");
  void StartEngine(const std::vector<std::string>& env = {});
  int StopEngine(int signal);
  // Rows of `table` in a database, one text line per row, in key order.
  std::string Contents(const std::string& db, const std::string& table);
  // Waits until every spine table in dst equals src; returns false on timeout
  // and leaves a diff in the test output.
  bool WaitForEqual(std::chrono::seconds timeout);
  // Runs `handoff ARGS...`; returns the exit code.
  int Handoff(const std::vector<std::string>& args, std::string* out, std::string* err = nullptr);
  std::string LogTail(size_t bytes = 4000);
  // Polls `cond` every 200 ms until it holds or `timeout` passes; its last answer.
  static bool WaitUntil(const std::function<bool()>& cond, std::chrono::seconds timeout = std::chrono::seconds(60));

  static PgServer* server_;
  std::string dir_;
  std::string name_;  // unique per test: source name and database prefix
  std::string src_db_, dst_db_, config_;
  ChildProcess engine_;
};

}  // namespace handoff::testing
