// The fault-injection suite: during a spike of source writes, the engine is
// SIGKILLed at random moments, the target and the source servers are
// restarted, the agent <-> engine link is cut, the journal's map fills up,
// and the target stalls. After each, the target equals the source, no row
// version was applied twice, every refused change is parked once, and the
// engine recovered on its own. Run with `ctest -L fault`.
#include <signal.h>

#include <atomic>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <random>
#include <thread>

#include "admin_client.h"
#include "apply_ledger.h"
#include "fault_fixture.h"
#include "tcp_relay.h"

namespace handoff::testing {
namespace {

constexpr auto kCatchUp = std::chrono::seconds(150);
using std::chrono::milliseconds;
using std::chrono::seconds;

TEST_F(FaultTest, EngineSigkilledAtRandomMoments) {
  CreateDatabases();
  WriteConfig();
  SourceWriter writer(WriterOptions(12000));
  writer.Start();
  // Two kills at named crash points: journaled but not acknowledged, and
  // target transaction written but not committed.
  for (const char* point : {"HANDOFF_CRASH_AT=intake.after_commit:4", "HANDOFF_CRASH_AT=apply.before_commit:3"}) {
    StartEngine({point});
    EXPECT_EQ(engine_.Wait(seconds(60)), 128 + SIGKILL) << point << " did not fire";
    Fault(std::string("SIGKILL at crash point ") + (point + 17));
  }
  std::mt19937 rng(20261126);
  for (int i = 0; i < 12; ++i) {
    StartEngine();
    std::this_thread::sleep_for(milliseconds(250 + rng() % 1500));
    EXPECT_EQ(StopEngine(SIGKILL), 128 + SIGKILL);
    Fault("SIGKILL at a random moment");
  }
  StartEngine();
  EXPECT_TRUE(writer.WaitDone(seconds(120)));
  writer.Stop();
  ASSERT_TRUE(WaitConverged(kCatchUp));
  ExpectConsistent();
  EXPECT_GE(faults_, 10);
  EXPECT_EQ(StopEngine(SIGTERM), 0);
}

TEST_F(FaultTest, TargetServerRestartedMidApply) {
  CreateDatabases();
  WriteConfig();
  SourceWriter writer(WriterOptions(12000));
  writer.Start();
  StartEngine();
  for (int round = 1; round <= 2; ++round) {
    // Mid-apply: some rows arrived, the spike is still going.
    auto deadline = std::chrono::steady_clock::now() + seconds(60);
    while (LedgerRows(*dst_, dst_db_) < 1500L * round && std::chrono::steady_clock::now() < deadline)
      std::this_thread::sleep_for(milliseconds(50));
    dst_->Stop();
    Fault("target PostgreSQL stopped mid-apply");
    std::this_thread::sleep_for(milliseconds(1500));
    dst_->Resume();
  }
  EXPECT_TRUE(writer.WaitDone(seconds(120)));
  writer.Stop();
  ASSERT_TRUE(WaitConverged(kCatchUp));
  ExpectConsistent();
  EXPECT_GE(Metric("handoff_retries_total{stage=\"apply\",name=\"erp\"}"), 1) << "the outage was not retried";
  EXPECT_EQ(StopEngine(SIGTERM), 0);
}

TEST_F(FaultTest, SourceServerRestartedMidCapture) {
  CreateDatabases();
  WriteConfig();
  SourceWriterOptions o = WriterOptions(0);
  o.refused_every = 10;  // few transactions get through while the server restarts
  SourceWriter writer(o);
  writer.Start();
  StartEngine();
  const std::string reconnects = "handoff_capture_reconnects_total{source=\"" + name_ + "\"}";
  for (int round = 1; round <= 2; ++round) {
    std::this_thread::sleep_for(milliseconds(2000));
    src_->Stop();
    Fault("source PostgreSQL stopped mid-capture");
    std::this_thread::sleep_for(milliseconds(1500));
    src_->Resume();
    EXPECT_TRUE(WaitForMetric(reconnects, round, seconds(60))) << "capture did not reconnect";
  }
  std::this_thread::sleep_for(milliseconds(1500));
  writer.Stop();
  std::printf("  writer: %d transactions, %d failed during the restarts\n", writer.transactions(), writer.failures());
  EXPECT_GT(writer.transactions(), 50);
  EXPECT_GT(writer.failures(), 0) << "the restarts did not interrupt the writes";
  ASSERT_TRUE(WaitConverged(kCatchUp));
  ExpectConsistent();
  EXPECT_EQ(StopEngine(SIGTERM), 0);
}

// Streamed transactions (pgoutput protocol 2; the source's decoding memory
// at its minimum, so every large transaction is streamed while it runs):
// the engine is SIGKILLed while a transaction streams, while another that
// streamed aborts, and between two chunks of a commit moving into the
// sequence. The target ends equal to the source, each row applied once.
TEST_F(FaultTest, StreamedTransactionsSurviveSigkill) {
  CreateDatabases();
  ASSERT_TRUE(src_->Exec(src_db_, "ALTER DATABASE " + src_db_ + " SET logical_decoding_work_mem = '64kB'").ok());
  WriteConfig();
  auto streamed = [&](uint64_t above) -> uint64_t {
    // The walsender's own count of streamed blocks (pg_stat_replication_slots).
    auto deadline = std::chrono::steady_clock::now() + seconds(60);
    while (std::chrono::steady_clock::now() < deadline) {
      const std::string n = src_->Dump(src_db_, "SELECT coalesce(sum(stream_count), 0) FROM pg_stat_replication_slots");
      if (std::strtoull(n.c_str(), nullptr, 10) > above) return std::strtoull(n.c_str(), nullptr, 10);
      std::this_thread::sleep_for(milliseconds(50));
    }
    return uint64_t{0};
  };
  auto insert = [](long from, long to) {
    return "INSERT INTO time_entries (id, consultant_id, notes) SELECT g, 2, repeat('n', 150) FROM generate_series(" +
           std::to_string(from) + ", " + std::to_string(to) + ") g";
  };
  StartEngine();
  ASSERT_TRUE(WaitForMetric("handoff_changes_journaled_total{source=\"" + name_ + "\"}", 200, seconds(60)));
  PgSession big(*src_, src_db_), aborted(*src_, src_db_);
  ASSERT_TRUE(big.Exec("BEGIN").ok());
  ASSERT_TRUE(big.Exec(insert(1000, 9000)).ok());
  const uint64_t seen = streamed(0);
  ASSERT_GT(seen, 0u) << "the open transaction was not streamed";
  EXPECT_EQ(StopEngine(SIGKILL), 128 + SIGKILL);
  Fault("SIGKILL while a transaction streams");
  ASSERT_TRUE(aborted.Exec("BEGIN").ok());
  ASSERT_TRUE(aborted.Exec(insert(50000, 58000)).ok());
  ASSERT_TRUE(big.Exec("UPDATE time_entries SET version = version + 1 WHERE id BETWEEN 1 AND 150").ok());
  ASSERT_TRUE(big.Exec(insert(9001, 20000)).ok());
  StartEngine();
  ASSERT_GT(streamed(seen), seen) << "the restarted session streamed nothing";
  ASSERT_TRUE(aborted.Exec("ROLLBACK").ok());
  EXPECT_EQ(StopEngine(SIGKILL), 128 + SIGKILL);
  Fault("SIGKILL after a streamed transaction aborted");
  // The commit moves 19,001 staged rows in chunks: killed after the first.
  StartEngine({"HANDOFF_CRASH_AT=journal.stream_chunk_moved:1"});
  ASSERT_TRUE(big.Exec("COMMIT").ok());
  EXPECT_EQ(engine_.Wait(seconds(90)), 128 + SIGKILL) << "journal.stream_chunk_moved did not fire\n" << LogTail();
  Fault("SIGKILL between two chunks of a streamed commit");
  StartEngine();
  ASSERT_TRUE(WaitConverged(kCatchUp)) << LogTail();
  ExpectConsistent(/*expect_refused=*/false);
  EXPECT_EQ(src_->Dump(src_db_, "SELECT count(*) FROM time_entries WHERE id >= 50000"), "0\n");
  EXPECT_EQ(dst_->Dump(dst_db_, "SELECT count(*) FROM time_entries WHERE id BETWEEN 1000 AND 20000"), "19001\n");
  EXPECT_EQ(dst_->Dump(dst_db_, "SELECT count(*) FROM time_entries WHERE id >= 50000"), "0\n");
  EXPECT_GE(Metric("handoff_capture_streamed_transactions_total{source=\"" + name_ + "\"}"), 1);
  EXPECT_EQ(StopEngine(SIGTERM), 0);
}

TEST_F(FaultTest, AgentLinkCutAndRestored) {
  CreateDatabases();
  const int intake_port = FreeTcpPort();
  WriteConfig("", "tcp://127.0.0.1:" + std::to_string(intake_port));
  TcpRelay relay(intake_port);
  const std::string agent_config = WriteAgentConfig("tcp://127.0.0.1:" + std::to_string(relay.port()));
  SourceWriter writer(WriterOptions(0));
  writer.Start();
  StartEngine();
  ChildProcess agent;
  agent.Start({HandoffBinary(), "agent", "--config", agent_config, "--source", name_}, dir_ + "/agent.log");
  const std::string journaled = "handoff_changes_journaled_total{source=\"" + name_ + "\"}";
  double before = 0;
  for (int round = 1; round <= 3; ++round) {
    ASSERT_TRUE(WaitForMetric(journaled, before + 1, seconds(60))) << "nothing arrives over the link\n"
                                                                    << ReadFile(dir_ + "/agent.log");
    relay.Cut();
    Fault("agent <-> engine link cut");
    std::this_thread::sleep_for(milliseconds(2000));
    before = Metric(journaled);
    relay.Restore();
  }
  ASSERT_TRUE(WaitForMetric(journaled, before + 1, seconds(60))) << "nothing arrives after the last cut";
  writer.Stop();
  ASSERT_TRUE(WaitConverged(kCatchUp)) << ReadFile(dir_ + "/agent.log");
  ExpectConsistent();
  EXPECT_GE(relay.connections(), 4) << "the agent did not reconnect after each cut";
  EXPECT_EQ(agent.Stop(SIGTERM), 0);
  EXPECT_EQ(StopEngine(SIGTERM), 0);
}

TEST_F(FaultTest, JournalMapFillsThenGrowsOnRestart) {
  CreateDatabases();
  WriteConfig("map_size: 2MiB, max_map_size: 2MiB");
  // Many more changes than a 2 MiB map holds of compact records.
  SourceWriterOptions o = WriterOptions(60000);
  o.max_rows_per_txn = 200;
  o.pause = milliseconds(2);
  SourceWriter writer(o);
  writer.Start();
  StartEngine();
  ASSERT_TRUE(WaitForMetric("handoff_journal_holding", 1, seconds(90))) << "the journal never filled";
  Fault("journal map full");
  EXPECT_TRUE(writer.WaitDone(seconds(120)));
  writer.Stop();
  // Held, not dropped: the engine stays up, says so, and the target is behind.
  std::this_thread::sleep_for(milliseconds(1500));
  EXPECT_TRUE(engine_.running());
  EXPECT_EQ(Metric("handoff_journal_holding"), 1);
  EXPECT_GE(Metric("handoff_journal_full_total"), 1);
  EXPECT_EQ(ReadyStatus(), 503) << "a full journal must make /readyz fail";
  EXPECT_NE(SourceChecksum(), TargetChecksum());
  EXPECT_NE(LogTail(200000).find("journal map is full"), std::string::npos);
  EXPECT_GT(Metric("handoff_replication_slot_retained_wal_bytes{source=\"" + name_ + "\",slot=\"handoff_" + name_ +
                   "\"}"),
            0);
  // SIGTERM drains while intake holds; a restart with a larger limit resumes.
  EXPECT_EQ(StopEngine(SIGTERM), 0);
  WriteConfig("map_size: 2MiB, max_map_size: 256MiB");
  StartEngine();
  ASSERT_TRUE(WaitConverged(kCatchUp));
  ExpectConsistent();
  EXPECT_EQ(Metric("handoff_journal_holding"), 0);
  EXPECT_EQ(StopEngine(SIGTERM), 0);
}

// The file system under the journal fills while changes arrive: LMDB's
// page writes fail (ENOSPC, or EIO for a short write). That is a full
// journal, not an I/O error: counted, named by /readyz and `handoff
// status`, held with nothing acknowledged upstream, and over once there is
// room again, without a restart.
TEST_F(FaultTest, DiskFullWhileRunningHeldAndRecovered) {
  const std::string journal = dir_ + "/journal";
  std::filesystem::create_directories(journal);
  if (std::system(("mount -t tmpfs -o size=32m tmpfs " + journal + " 2>/dev/null").c_str()) != 0)
    GTEST_SKIP() << "cannot mount a tmpfs here (needs root); the full-disk case is not exercised";
  struct Unmount {
    std::string path;
    ~Unmount() { std::system(("umount -l " + path + " 2>/dev/null").c_str()); }
  } unmount{journal};
  CreateDatabases();
  WriteConfig("map_size: 1MiB, max_map_size: 256MiB");
  StartEngine();
  ASSERT_TRUE(WaitConverged(seconds(60)));  // the seed rows
  // Leave about 1 MiB: the spike needs more.
  const std::string filler = journal + "/filler";
  const auto free_bytes = std::filesystem::space(journal).available;
  ASSERT_GT(free_bytes, 2u << 20);
  {
    std::ofstream f(filler, std::ios::binary);
    const std::string block(1 << 16, 'x');
    for (uintmax_t n = 0; n + block.size() + (1u << 20) < free_bytes; n += block.size()) f << block;
  }
  SourceWriter writer(WriterOptions(15000));
  writer.Start();
  ASSERT_TRUE(WaitForMetric("handoff_journal_holding", 1, seconds(90))) << "the disk never filled";
  Fault("disk full under the journal while running");
  EXPECT_GE(Metric("handoff_journal_full_total"), 1);
  const HttpReply ready = HttpGet(admin_port_, "/readyz");
  EXPECT_EQ(ready.status, 503) << ready.body;
  EXPECT_NE(ready.body.find("journal full (disk): no space left on device at " + journal), std::string::npos)
      << ready.body;
  std::string status, err;
  RunCommand({HandoffBinary(), "status", "--config", config_}, &status, &err);
  EXPECT_NE(status.find("journal full (disk): no space left on device at " + journal), std::string::npos) << status;
  const std::string log = LogTail(400000);
  EXPECT_NE(log.find("journal full: no space left on device at " + journal), std::string::npos);
  EXPECT_EQ(log.find("Input/output error;"), std::string::npos) << "a full disk was reported as an I/O error";
  EXPECT_TRUE(engine_.running());
  EXPECT_TRUE(writer.WaitDone(seconds(120)));
  writer.Stop();
  EXPECT_NE(SourceChecksum(), TargetChecksum()) << "held changes cannot have reached the target";
  // Room again: intake resumes by itself and nothing was lost.
  std::filesystem::remove(filler);
  ASSERT_TRUE(WaitConverged(kCatchUp)) << LogTail();
  ExpectConsistent();
  EXPECT_EQ(Metric("handoff_journal_holding"), 0);
  EXPECT_EQ(StopEngine(SIGTERM), 0);
}

// The map fills while the target is down, so retention has nothing to free
// until it is back, however fast or slow this machine is. Then the target
// applies what was journaled, retention removes it, and intake must resume on
// its own: the first write after the trim is the held append itself.
TEST_F(FaultTest, JournalMapFullFreedByRetention) {
  CreateDatabases();
  // A map that may not grow, and no replay window: what every target applied
  // may go. A target transaction ends only between source transactions, and
  // the one cut off at the full map's end waits for the held rest: the
  // target must commit well inside one map's worth of changes, or retention
  // never gets what it applied.
  WriteConfig("map_size: 2MiB, max_map_size: 2MiB, retention: 0s", "", "batch_rows: 1000");
  StartEngine();
  ASSERT_TRUE(WaitConverged(seconds(60)));  // the seed rows
  dst_->Stop();
  SourceWriterOptions o = WriterOptions(60000);
  o.max_rows_per_txn = 200;
  o.pause = milliseconds(0);
  SourceWriter writer(o);
  writer.Start();
  ASSERT_TRUE(WaitForMetric("handoff_journal_holding", 1, seconds(120))) << "the journal never filled";
  const double full_at = Metric("handoff_journal_last_seq");
  Fault("journal map full while the target is down, freed by retention once it is back");
  dst_->Resume();
  EXPECT_TRUE(WaitForMetric("handoff_journal_last_seq", full_at + 1, seconds(120)))
      << "intake did not resume after retention (journal at seq " << full_at << ")";
  EXPECT_TRUE(writer.WaitDone(seconds(180)));
  writer.Stop();
  ASSERT_TRUE(WaitConverged(kCatchUp));
  ExpectConsistent();
  EXPECT_EQ(Metric("handoff_journal_holding"), 0);
  EXPECT_NE(LogTail(400000).find("retention removed"), std::string::npos);
  EXPECT_EQ(StopEngine(SIGTERM), 0);
}

TEST_F(FaultTest, SlowTargetKeepsMemoryBounded) {
  CreateDatabases();
  // Every statement on the target table takes 50 ms more, and for a while the table is locked.
  ASSERT_TRUE(dst_->Exec(dst_db_, "CREATE FUNCTION slow() RETURNS trigger LANGUAGE plpgsql AS "
                                  "$$ BEGIN PERFORM pg_sleep(0.05); RETURN NULL; END $$;"
                                  "CREATE TRIGGER slow BEFORE INSERT OR UPDATE OR DELETE ON time_entries "
                                  "FOR EACH STATEMENT EXECUTE FUNCTION slow();")
                  .ok());
  WriteConfig();
  StartEngine();
  ASSERT_TRUE(WaitConverged(seconds(60)));  // the seed rows
  std::atomic<bool> unlocked{false};
  std::thread lock([&] {
    EXPECT_TRUE(dst_->Exec(dst_db_, "BEGIN; LOCK TABLE time_entries IN ACCESS EXCLUSIVE MODE; SELECT pg_sleep(8); COMMIT")
                    .ok());
    unlocked = true;
  });
  // The writer starts once the lock is held: on a loaded machine the thread
  // may take a while to get there, and a lock taken after the backlog was
  // applied stalls nothing.
  const auto lock_deadline = std::chrono::steady_clock::now() + seconds(30);
  while (dst_->Dump(dst_db_, "SELECT count(*) FROM pg_locks l JOIN pg_class c ON c.oid = l.relation "
                             "WHERE c.relname = 'time_entries' AND l.mode = 'AccessExclusiveLock' AND l.granted") != "1\n") {
    ASSERT_LT(std::chrono::steady_clock::now(), lock_deadline) << "the target table was never locked";
    std::this_thread::sleep_for(milliseconds(20));
  }
  Fault("target stalled (table locked 8 s, then 50 ms per statement)");
  SourceWriterOptions o = WriterOptions(25000);
  o.max_rows_per_txn = 400;
  o.pause = milliseconds(0);
  o.refused_every = 0;  // isolating a refused row costs a statement per row: minutes at 50 ms each
  SourceWriter writer(o);
  const auto write_start = std::chrono::steady_clock::now();
  double write_s = 0;
  writer.Start();
  long peak_rss = 0, peak_anon = 0;
  double peak_lag_s = 0, peak_lag_changes = 0;
  auto sample = [&] {
    peak_rss = std::max(peak_rss, ProcessMemoryKib(engine_.pid(), "VmRSS"));
    peak_anon = std::max(peak_anon, ProcessMemoryKib(engine_.pid(), "RssAnon"));
    peak_lag_s = std::max(peak_lag_s, Metric("handoff_apply_lag_seconds{target=\"erp\"}"));
    peak_lag_changes = std::max(peak_lag_changes, Metric("handoff_apply_lag_changes{target=\"erp\"}"));
  };
  // Sampled until the writer is done and the lock is gone. A fast machine
  // writes the rows in a second or two, well inside the 8 s lock, and the
  // target falls behind all the while; once the lock goes the backlog may be
  // applied before the next sample, so the lag must be seen while it lasts.
  while (!(writer.WaitDone(milliseconds(0)) && unlocked.load())) {
    sample();
    if (write_s == 0 && writer.WaitDone(milliseconds(0)))
      write_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - write_start).count();
    std::this_thread::sleep_for(milliseconds(250));
  }
  writer.Stop();
  lock.join();
  ASSERT_TRUE(dst_->Exec(dst_db_, "DROP TRIGGER slow ON time_entries").ok());  // the target speeds up
  auto deadline = std::chrono::steady_clock::now() + kCatchUp;
  while (SourceChecksum() != TargetChecksum() && std::chrono::steady_clock::now() < deadline) {
    sample();
    std::this_thread::sleep_for(milliseconds(250));
  }
  ASSERT_TRUE(WaitConverged(seconds(5)));
  ExpectConsistent(/*expect_refused=*/false);
  const long hwm = ProcessMemoryKib(engine_.pid(), "VmHWM");
  std::printf("  slow target: %ld rows (written in %.1f s); peak RSS %ld MiB (anonymous %ld MiB, high-water %ld MiB); "
              "peak apply lag %.1f s, %.0f changes\n",
              writer.rows(), write_s, peak_rss >> 10, peak_anon >> 10, hwm >> 10, peak_lag_s, peak_lag_changes);
  EXPECT_GT(peak_lag_s, 2.0) << "the target never fell behind";
  EXPECT_GT(peak_lag_changes, 1000);
  // Back-pressure: capture credit and journal-sized apply batches, not the backlog, bound the heap.
  EXPECT_GT(peak_anon, 0) << "RSS was not sampled";
  EXPECT_LT(peak_anon, 128L << 10) << "anonymous memory grew with the backlog";
  EXPECT_LT(hwm, 256L << 10);
  EXPECT_EQ(Metric("handoff_apply_lag_changes{target=\"erp\"}"), 0);
  EXPECT_EQ(StopEngine(SIGTERM), 0);
}

}  // namespace
}  // namespace handoff::testing
