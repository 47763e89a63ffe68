// PgCaptureAgent feedback and recovery: echo suppression, flush advance on
// filtered/idle WAL, restarts, connection loss, large transactions under
// credit limits, a lost slot.
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <limits>
#include <map>
#include <thread>

#include "capture_harness.h"

namespace handoff::testing {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

int64_t IdOf(const ChangeEvent& e) {
  const Column* c = e.FindAfter("id");
  return c && c->kind == Column::Kind::kText ? std::stoll(c->data) : -1;
}

// Every row id appears exactly once among `events` of kind `op`, and they are
// exactly [first, last].
void ExpectExactlyOnce(const std::vector<ChangeEvent>& events, int64_t first, int64_t last) {
  std::map<int64_t, int> seen;
  for (const auto& e : events) ++seen[IdOf(e)];
  ASSERT_EQ(seen.size(), size_t(last - first + 1));
  EXPECT_EQ(seen.begin()->first, first);
  EXPECT_EQ(seen.rbegin()->first, last);
  for (const auto& [id, n] : seen) EXPECT_EQ(n, 1) << "id " << id;
}

int FreeTcpPort() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof(addr);
  int port = 0;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0 &&
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0) {
    port = ntohs(addr.sin_port);
  }
  ::close(fd);
  return port;
}

void ExpectPositionsIncrease(const std::vector<ChangeEvent>& events) {
  for (size_t i = 1; i < events.size(); ++i) {
    ASSERT_LT(events[i - 1].position, events[i].position) << "at " << i;
  }
}

TEST_F(CaptureTest, OriginHandoffIsSkippedAndFlushStillAdvances) {
  Sql("CREATE TABLE o(id int PRIMARY KEY, v text)");
  StartAgent(Options({"public.o"}));
  ASSERT_TRUE(WaitSnapshotDone());
  Sql("SELECT pg_replication_origin_create('handoff') WHERE NOT EXISTS "
      "(SELECT 1 FROM pg_replication_origin WHERE roname = 'handoff')");
  const std::string echo = "SELECT pg_replication_origin_session_setup('handoff'); ";
  Sql(echo + "INSERT INTO o VALUES (1, 'echo'), (2, 'echo')");
  Sql("INSERT INTO o VALUES (3, 'real')");
  ASSERT_TRUE(WaitForCount(Op::kInsert, 1, seconds(20)));
  // The engine's own write as the very last transaction: nothing after it
  // carries the flush LSN along, so this checks `upto` and idle confirmation.
  Sql(echo + "UPDATE o SET v = 'echo2' WHERE id = 3");
  uint64_t after = ParseLsn(Scalar("SELECT pg_current_wal_insert_lsn()"));
  ASSERT_TRUE(WaitUntil([&] { return ConfirmedFlush() >= after; }, seconds(20)))
      << "confirmed " << FormatLsn(ConfirmedFlush()) << " < " << FormatLsn(after);
  auto events = Events();
  for (const auto& e : events) EXPECT_NE(e.origin, "handoff") << OpName(e.op);
  auto ins = Events(Op::kInsert);
  ASSERT_EQ(ins.size(), 1u);
  EXPECT_EQ(IdOf(ins[0]), 3);
  EXPECT_TRUE(Events(Op::kUpdate).empty());
  EXPECT_EQ(agent_->agent().counters().skipped_origin.load(), 2u);
  EXPECT_GE(agent_->agent().counters().confirmed_lsn.load(), after);
}

TEST_F(CaptureTest, UncapturedTablesStillAdvanceFlush) {
  Sql("CREATE TABLE c(id int PRIMARY KEY); CREATE TABLE other(id int PRIMARY KEY)");
  StartAgent(Options({"public.c"}));
  ASSERT_TRUE(WaitSnapshotDone());
  Sql("INSERT INTO other SELECT generate_series(1, 1000)");
  Sql("INSERT INTO other SELECT generate_series(1001, 2000)");
  uint64_t after = ParseLsn(Scalar("SELECT pg_current_wal_insert_lsn()"));
  ASSERT_TRUE(WaitUntil([&] { return ConfirmedFlush() >= after; }, seconds(20)))
      << "confirmed " << FormatLsn(ConfirmedFlush()) << " < " << FormatLsn(after);
  EXPECT_TRUE(Events(Op::kInsert).empty());
}

TEST_F(CaptureTest, RestartResumesWithoutDuplicates) {
  Sql("CREATE TABLE r(id int PRIMARY KEY)");
  Sql("INSERT INTO r SELECT generate_series(1, 50)");
  StartAgent(Options({"public.r"}));
  ASSERT_TRUE(WaitForCount(Op::kRead, 50, seconds(20)));
  for (int i = 51; i <= 100; i += 5) {
    Sql("INSERT INTO r SELECT generate_series(" + std::to_string(i) + ", " + std::to_string(i + 4) + ")");
  }
  ASSERT_TRUE(WaitForCount(Op::kInsert, 50, seconds(20)));
  StopAgent();
  for (int i = 101; i <= 150; i += 10) {
    Sql("INSERT INTO r SELECT generate_series(" + std::to_string(i) + ", " + std::to_string(i + 9) + ")");
  }
  StartAgent(Options({"public.r"}));
  for (int i = 151; i <= 200; i += 10) {
    Sql("INSERT INTO r SELECT generate_series(" + std::to_string(i) + ", " + std::to_string(i + 9) + ")");
  }
  ASSERT_TRUE(WaitForCount(Op::kInsert, 150, seconds(30)));
  std::this_thread::sleep_for(milliseconds(300));
  ExpectExactlyOnce(Events(Op::kRead), 1, 50);
  ExpectExactlyOnce(Events(Op::kInsert), 51, 200);
  EXPECT_EQ(Events(Op::kCommit).size(), 10u + 5 + 5);
  ExpectPositionsIncrease(Events());
}

TEST_F(CaptureTest, ReconnectsAfterConnectionLossWithoutDuplicates) {
  Sql("CREATE TABLE k(id int PRIMARY KEY)");
  StartAgent(Options({"public.k"}));
  ASSERT_TRUE(WaitSnapshotDone());
  for (int i = 1; i <= 20; ++i) Sql("INSERT INTO k VALUES (" + std::to_string(i) + ")");
  ASSERT_TRUE(WaitForCount(Op::kInsert, 20, seconds(20)));
  // Kill the walsender; the agent reconnects and the slot resends from its
  // confirmed position.
  auto killed = pg().Query("postgres", "SELECT pg_terminate_backend(active_pid) FROM pg_replication_slots "
                                       "WHERE slot_name = '" + slot() + "' AND active_pid IS NOT NULL");
  ASSERT_TRUE(killed.ok());
  ASSERT_EQ(killed->size(), 1u);
  for (int i = 21; i <= 40; ++i) Sql("INSERT INTO k VALUES (" + std::to_string(i) + ")");
  ASSERT_TRUE(WaitForCount(Op::kInsert, 40, seconds(30)));
  std::this_thread::sleep_for(milliseconds(300));
  EXPECT_GE(agent_->agent().counters().reconnects.load(), 1u);
  ExpectExactlyOnce(Events(Op::kInsert), 1, 40);
  ExpectPositionsIncrease(Events());
}

TEST_F(CaptureTest, LargeTransactionPassesUnderCreditLimit) {
  Sql("CREATE TABLE big(id int PRIMARY KEY, v text)");
  PgCaptureOptions o = Options({"public.big"});
  o.max_batch_events = 1000;
  o.credit = 2;
  StartAgent(o);
  ASSERT_TRUE(WaitSnapshotDone());
  uint64_t batches_before = engine_->intake()->counters().batches.load();
  Sql("INSERT INTO big SELECT g, repeat('x', 40) || g FROM generate_series(1, 50000) g");
  ASSERT_TRUE(WaitForCount(Op::kCommit, 1, seconds(120)));
  auto events = Events();
  ASSERT_EQ(events.size(), 50001u);
  for (size_t i = 0; i < 50000; ++i) {
    ASSERT_EQ(events[i].op, Op::kInsert);
    ASSERT_EQ(events[i].position.lsn, events[0].position.lsn);
    ASSERT_EQ(events[i].position.ordinal, i + 1);
    ASSERT_EQ(IdOf(events[i]), int64_t(i + 1));
  }
  EXPECT_EQ(events[50000].op, Op::kCommit);
  EXPECT_EQ(events[50000].position, (SourcePosition{events[0].position.lsn, 50001}));
  // Sent as it was decoded, in batches of at most max_batch_events.
  EXPECT_GE(engine_->intake()->counters().batches.load() - batches_before, 50u);
  EXPECT_EQ(agent_->agent().counters().changes.load(), 50000u);
  uint64_t after = ParseLsn(Scalar("SELECT pg_current_wal_insert_lsn()"));
  EXPECT_TRUE(WaitUntil([&] { return ConfirmedFlush() >= after; }, seconds(20)));
}

TEST_F(CaptureTest, LostSlotAfterSnapshotIsNotSilentlyResnapshotted) {
  Sql("CREATE TABLE m(id int PRIMARY KEY)");
  Sql("INSERT INTO m SELECT generate_series(1, 5)");
  StartAgent(Options({"public.m"}));
  ASSERT_TRUE(WaitForCount(Op::kRead, 5, seconds(20)));
  ASSERT_TRUE(WaitSnapshotDone());
  StopAgent();
  // The walsender may take a moment to release the slot.
  ASSERT_TRUE(WaitUntil(
      [&] { return pg().Exec("postgres", "SELECT pg_drop_replication_slot('" + slot() + "')").ok(); }, seconds(10)));
  StartAgent(Options({"public.m"}));
  ASSERT_TRUE(WaitUntil([&] { return agent_->agent().counters().reconnects.load() >= 2; }, seconds(10)));
  EXPECT_EQ(Events(Op::kRead).size(), 5u);
  EXPECT_EQ(Scalar("SELECT count(*) FROM pg_replication_slots WHERE slot_name = '" + slot() + "'"), "0");
}

TEST_F(CaptureTest, EngineRestartLosesAndDoublesNothing) {
  // Over TCP, like a separate `handoff agent` process. (Over inproc:// a
  // vanished engine blocks AgentClient::Send forever: see the report.)
  engine_.reset();
  engine_ = std::make_unique<EngineHarness>("tcp://127.0.0.1:" + std::to_string(FreeTcpPort()));
  Sql("CREATE TABLE e(id int PRIMARY KEY)");
  StartAgent(Options({"public.e"}));
  ASSERT_TRUE(WaitSnapshotDone());
  for (int i = 1; i <= 5; ++i) Sql("INSERT INTO e VALUES (" + std::to_string(i) + ")");
  ASSERT_TRUE(WaitForCount(Op::kInsert, 5, seconds(20)));
  uint64_t confirmed = ConfirmedFlush();
  engine_->StopIntake();
  for (int i = 6; i <= 10; ++i) Sql("INSERT INTO e VALUES (" + std::to_string(i) + ")");
  uint64_t after = ParseLsn(Scalar("SELECT pg_current_wal_insert_lsn()"));
  std::this_thread::sleep_for(seconds(1));
  // Nothing of 6..10 is durable, so nothing of it may be confirmed.
  EXPECT_LT(ConfirmedFlush(), after);
  EXPECT_GE(ConfirmedFlush(), confirmed);
  engine_->StartIntake();
  // Batches queued while the engine was down reach the new one (or, if
  // they were lost, the agent resets after the ack timeout and resends).
  ASSERT_TRUE(WaitForCount(Op::kInsert, 10, seconds(40)));
  std::this_thread::sleep_for(milliseconds(300));
  ExpectExactlyOnce(Events(Op::kInsert), 1, 10);
  EXPECT_TRUE(WaitUntil([&] { return ConfirmedFlush() >= after; }, seconds(20)));
}

TEST_F(CaptureTest, CrashMidSnapshotResnapshotsWithFreshSlotAndPublication) {
  Sql("CREATE TABLE m(id int PRIMARY KEY); CREATE TABLE other(id int PRIMARY KEY)");
  Sql("INSERT INTO m SELECT generate_series(1, 10)");
  // Leftovers of a run that died mid-snapshot: a publication on other tables,
  // a slot, and three snapshot rows journaled.
  Sql("CREATE PUBLICATION " + slot() + " FOR TABLE other");
  Sql("SELECT pg_create_logical_replication_slot('" + slot() + "', 'pgoutput')");
  uint64_t stale_slot_lsn = ConfirmedFlush();
  ASSERT_GT(stale_slot_lsn, 0u);
  Sql("INSERT INTO m VALUES (11)");  // after the stale slot: must come from the new snapshot
  AppendBatch crashed{source_, {0, 3}, {}};
  for (uint64_t i = 1; i <= 3; ++i) {
    ChangeEvent e;
    e.source = source_;
    e.position = {0, i};
    e.op = Op::kRead;
    e.schema = "public";
    e.table = "m";
    e.after = {Column{"id", 23, Column::Kind::kText, std::to_string(i)}};
    crashed.events.push_back(e);
  }
  std::vector<AppendBatch> batches{crashed};
  AppendResult res;
  ASSERT_TRUE(engine_->journal()->Append(batches, &res).ok());

  StartAgent(Options({"public.m"}));
  ASSERT_TRUE(WaitSnapshotDone());
  auto reads = Events(Op::kRead);
  ASSERT_EQ(reads.size(), 3u + 11);
  // The interrupted rows predate snapshot attempts (positions {0, n}); the
  // new attempt's rows are {0, 1 << 40 | n}, above every one of them.
  for (size_t i = 0; i < 3; ++i) EXPECT_EQ(reads[i].position, (SourcePosition{0, i + 1}));
  for (size_t i = 3; i < reads.size(); ++i)
    EXPECT_EQ(reads[i].position, (SourcePosition{0, (uint64_t{1} << 40) + i - 2}));
  std::vector<ChangeEvent> fresh(reads.begin() + 3, reads.end());
  ExpectExactlyOnce(fresh, 1, 11);
  EXPECT_EQ(fresh[0].key_columns, std::vector<std::string>{"id"});
  EXPECT_EQ(pg().Dump(db_, "SELECT schemaname, tablename FROM pg_publication_tables WHERE pubname = '" + slot() + "'"),
            "public|m\n");
  Sql("INSERT INTO m VALUES (12)");
  ASSERT_TRUE(WaitForCount(Op::kInsert, 1, seconds(20)));
  EXPECT_EQ(IdOf(Events(Op::kInsert)[0]), 12);
}

TEST_F(CaptureTest, SnapshotDisabledStreamsOnlyNewChanges) {
  Sql("CREATE TABLE n(id int PRIMARY KEY)");
  Sql("INSERT INTO n SELECT generate_series(1, 10)");
  PgCaptureOptions o = Options({"n"});  // schema defaults to public
  o.source.snapshot = false;
  o.source.slot = "custom_slot_" + source_.substr(0, 20);
  StartAgent(o);
  ASSERT_TRUE(WaitSnapshotDone());
  Sql("INSERT INTO n VALUES (11)");
  ASSERT_TRUE(WaitForCount(Op::kInsert, 1, seconds(20)));
  EXPECT_TRUE(Events(Op::kRead).empty());
  EXPECT_EQ(IdOf(Events(Op::kInsert)[0]), 11);
  EXPECT_EQ(Scalar("SELECT count(*) FROM pg_replication_slots WHERE slot_name = '" + o.source.slot + "'"), "1");
}

TEST(PgCaptureAgentCreateTest, RejectsBadOptions) {
  PgCaptureOptions o;
  o.source.name = "s";
  o.source.dsn = *ConnParams::Parse("host=127.0.0.1");
  o.source.tables = {"public.t"};
  o.context = TransportContext::Create();
  o.intake_endpoint = "inproc://x";
  EXPECT_TRUE(PgCaptureAgent::Create(o).ok());
  auto bad = o;
  bad.source.tables.clear();
  EXPECT_EQ(PgCaptureAgent::Create(bad).status().code(), StatusCode::kInvalidArgument);
  bad = o;
  bad.source.slot = "Bad-Slot";
  EXPECT_EQ(PgCaptureAgent::Create(bad).status().code(), StatusCode::kInvalidArgument);
  bad = o;
  bad.source.tables = {"public."};
  EXPECT_EQ(PgCaptureAgent::Create(bad).status().code(), StatusCode::kInvalidArgument);
  bad = o;
  bad.credit = 0;
  EXPECT_EQ(PgCaptureAgent::Create(bad).status().code(), StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace handoff::testing
