// Test harness for the capture agent: one shared throwaway PostgreSQL server
// per test binary, an in-process engine (journal + intake on a thread), and a
// capture agent running on its own thread.
//
// Thread-safety: test-thread objects; each owns the threads it starts.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "handoff/capture/pg_capture.h"
#include "handoff/engine/journal.h"
#include "handoff/engine/transport.h"
#include "pg_server.h"

namespace handoff::testing {

// The server shared by every test of the binary (started on first use).
PgServer& SharedPg();

// Polls `pred` every 20 ms until it holds or `timeout` passes.
bool WaitUntil(const std::function<bool()>& pred, std::chrono::milliseconds timeout);

// A journal in a fresh temporary directory and an intake server on a thread.
class EngineHarness {
 public:
  explicit EngineHarness(std::string endpoint = "inproc://intake-test");
  ~EngineHarness();

  // Stops the intake server (the journal stays open), as if the engine died;
  // StartIntake() serves the same journal at the same endpoint again.
  void StopIntake();
  void StartIntake();

  Journal* journal() { return journal_.get(); }
  IntakeServer* intake() { return intake_.get(); }
  const std::shared_ptr<TransportContext>& context() const { return ctx_; }
  const std::string& endpoint() const { return endpoint_; }
  // Every journaled entry of `source` in sequence order.
  std::vector<JournalEntry> Entries(const std::string& source);

 private:
  std::string dir_;
  std::string endpoint_;
  std::unique_ptr<Journal> journal_;
  std::shared_ptr<TransportContext> ctx_;
  std::unique_ptr<IntakeServer> intake_;
  std::thread thread_;
};

// A PgCaptureAgent running on its own thread until Stop().
class AgentRunner {
 public:
  explicit AgentRunner(PgCaptureOptions options);
  ~AgentRunner();

  PgCaptureAgent& agent() { return *agent_; }
  // Stops the agent; returns how long Run() took to return. `*result` gets
  // Run()'s status.
  std::chrono::milliseconds Stop(Status* result);

 private:
  std::unique_ptr<PgCaptureAgent> agent_;
  std::thread thread_;
  Status result_;
  bool stopped_ = false;
};

// Fixture: a fresh database and source name per test, an engine, helpers to
// run SQL, start and stop the agent, and inspect the journal and the slot.
class CaptureTest : public ::testing::Test {
 protected:
  void SetUp() override;
  void TearDown() override;

  PgServer& pg() { return SharedPg(); }
  // Runs SQL in the test database; fails the test on error.
  void Sql(const std::string& sql);
  // The first column of the first row of `sql` ("\\N" for NULL).
  std::string Scalar(const std::string& sql);
  PgCaptureOptions Options(const std::vector<std::string>& tables);
  void StartAgent(PgCaptureOptions options);
  // Stops the agent, expecting Run() to return OK within ~1 s.
  void StopAgent();
  // Journaled events of this test's source, in sequence order; `op` filters.
  std::vector<ChangeEvent> Events();
  std::vector<ChangeEvent> Events(Op op);
  bool WaitForCount(Op op, size_t n, std::chrono::milliseconds timeout);
  // Waits until the journal holds the snapshot-end marker of this source:
  // the slot exists, so every later change is streamed.
  bool WaitSnapshotDone(std::chrono::milliseconds timeout = std::chrono::milliseconds(20000));
  // The slot's confirmed_flush_lsn (0 when the slot does not exist).
  uint64_t ConfirmedFlush();
  std::string slot() const { return "handoff_" + source_; }

  std::string db_;
  std::string source_;
  std::unique_ptr<EngineHarness> engine_;
  std::unique_ptr<AgentRunner> agent_;
};

uint64_t ParseLsn(const std::string& text);

}  // namespace handoff::testing
