// PgApplier failure handling against a real PostgreSQL server: permanent
// errors parked as exceptions, transient failures retried, replay, Stop().
#include <gtest/gtest.h>

#include <chrono>

#include "apply_fixture.h"

namespace handoff::testing {
namespace {

using namespace std::chrono_literals;

class PgApplierFaultTest : public ApplyTest {
 protected:
  int ApplierPid() {
    return static_cast<int>(Count("SELECT coalesce(max(pid), 0) FROM pg_stat_activity"
                                  " WHERE application_name = 'handoff apply erp'"));
  }
  bool ApplierIdleInTransaction() {
    return Count("SELECT count(*) FROM pg_stat_activity WHERE application_name = 'handoff apply erp'"
                 " AND state = 'idle in transaction'") == 1;
  }
  std::vector<ChangeEvent> Inserts(int from, int to) {
    std::vector<ChangeEvent> out;
    for (int i = from; i <= to; ++i) out.push_back(Change(Op::kInsert, "t", {T("id", std::to_string(i)), T("v", "x")}));
    return out;
  }
  std::vector<ExceptionRecord> Exceptions() {
    auto r = journal_->Exceptions(std::nullopt);
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    return r.ok() ? *r : std::vector<ExceptionRecord>{};
  }
};

TEST_F(PgApplierFaultTest, ConstraintViolationParksExactlyTheOffendingChange) {
  Sql("CREATE TABLE stock(id int PRIMARY KEY, qty int NOT NULL CHECK (qty >= 0), name text NOT NULL)");
  SourceFeed psa("psa");
  std::vector<ChangeEvent> events;
  for (int i = 1; i <= 1000; ++i)
    events.push_back(Change(Op::kInsert, "stock",
                            {T("id", std::to_string(i)), T("qty", i == 500 ? "-1" : "5"), T("name", "item")}));
  Append(psa.Txn(std::move(events)));
  uint64_t last = Append(psa.Txn({Change(Op::kInsert, "stock", {T("id", "1001"), T("qty", "1"), N("name")}),
                                  Change(Op::kInsert, "stock", {T("id", "1002"), T("qty", "1"), T("name", "ok")})}));
  RunningApplier a(Options({"stock"}));
  ASSERT_TRUE(WaitApplied(a, last));
  EXPECT_EQ(Count("SELECT count(*) FROM stock"), 1000);
  EXPECT_EQ(Count("SELECT count(*) FROM stock WHERE id IN (500, 1001)"), 0);
  EXPECT_EQ(a.counters().exceptions.load(), 2u);
  auto ex = Exceptions();
  ASSERT_EQ(ex.size(), 2u);
  std::sort(ex.begin(), ex.end(), [](const auto& x, const auto& y) { return x.seq < y.seq; });
  EXPECT_EQ(ex[0].target, "erp");
  EXPECT_EQ(ex[0].seq, 500u);
  EXPECT_EQ(ex[0].code, "23514");
  EXPECT_EQ(ex[0].state, ExceptionState::kOpen);
  EXPECT_NE(ex[0].reason.find("public.stock"), std::string::npos) << ex[0].reason;
  EXPECT_NE(ex[0].reason.find("(id)=(500)"), std::string::npos) << ex[0].reason;
  EXPECT_NE(ex[0].reason.find("check constraint"), std::string::npos) << ex[0].reason;
  EXPECT_NE(ex[0].new_image.find("\"qty\":\"-1\""), std::string::npos) << ex[0].new_image;
  EXPECT_GT(ex[0].created_us, 0);
  EXPECT_EQ(ex[1].code, "23502");
  EXPECT_NE(ex[1].reason.find("(id)=(1001)"), std::string::npos) << ex[1].reason;
  EXPECT_NE(ex[1].new_image.find("\"name\":null"), std::string::npos) << ex[1].new_image;
  EXPECT_EQ(Count("SELECT seq FROM handoff_applied"), static_cast<int64_t>(last));
}

// A missing target table pauses the target: target_pause_test.cc.

TEST_F(PgApplierFaultTest, TerminatedBackendMidTransactionIsRetriedToCompletion) {
  Sql("CREATE TABLE t(id int PRIMARY KEY, v text NOT NULL)");
  SourceFeed psa("psa");
  Append(psa.Txn(Inserts(1, 7000), /*commit=*/false));
  RunningApplier a(Options({"t"}));
  ASSERT_TRUE(WaitUntil([&] { return ApplierIdleInTransaction(); }, 30s));
  const int pid = ApplierPid();
  ASSERT_GT(pid, 0);
  Sql("SELECT pg_terminate_backend(" + std::to_string(pid) + ")");
  uint64_t last = Append({psa.Commit()});
  ASSERT_TRUE(WaitApplied(a, last));
  EXPECT_GE(a.counters().retries.load(), 1u);
  EXPECT_NE(ApplierPid(), pid);
  EXPECT_EQ(Count("SELECT count(*) FROM t"), 7000);
  EXPECT_EQ(a.counters().rows.load(), 7000u);  // the lost attempt is not counted
  EXPECT_EQ(a.counters().transactions.load(), 1u);
}

TEST_F(PgApplierFaultTest, ServerRestartIsRetriedToCompletion) {
  Sql("CREATE TABLE t(id int PRIMARY KEY, v text NOT NULL)");
  SourceFeed psa("psa");
  RunningApplier a(Options({"t"}));
  ASSERT_TRUE(WaitApplied(a, Append(psa.Txn(Inserts(1, 100)))));
  server_->Restart();
  uint64_t last = Append(psa.Txn(Inserts(101, 200)));
  ASSERT_TRUE(WaitApplied(a, last, 90s));
  EXPECT_GE(a.counters().retries.load(), 1u);
  EXPECT_EQ(Count("SELECT count(*) FROM t"), 200);
  EXPECT_EQ(Count("SELECT seq FROM handoff_applied"), static_cast<int64_t>(last));
}

TEST_F(PgApplierFaultTest, ReplayRebuildsAnEmptiedTargetAndReturns) {
  Sql("CREATE TABLE t(id int PRIMARY KEY, v text NOT NULL)");
  SourceFeed psa("psa");
  Append(psa.Txn(Inserts(1, 50)));
  Append(psa.Txn({Change(Op::kDelete, "t", {}, {T("id", "7")}),
                  Change(Op::kUpdate, "t", {T("id", "8"), T("v", "changed")})}));
  uint64_t last = Append(psa.Txn(Inserts(51, 60)));
  {
    RunningApplier a(Options({"t"}));
    ASSERT_TRUE(WaitApplied(a, last));
  }
  const std::string expected = Dump("SELECT id, v FROM t ORDER BY id");
  Sql("TRUNCATE t");
  PgApplierOptions o = Options({"t"});
  o.replay_from_seq = 1;
  RunningApplier replay(std::move(o));
  ASSERT_TRUE(WaitUntil([&] { return replay.done(); }, 60s));
  EXPECT_TRUE(replay.Stop().ok());
  EXPECT_EQ(Dump("SELECT id, v FROM t ORDER BY id"), expected);
  EXPECT_EQ(Count("SELECT count(*) FROM t"), 59);
  EXPECT_EQ(Count("SELECT seq FROM handoff_applied"), static_cast<int64_t>(last));
}

TEST_F(PgApplierFaultTest, StopIsPromptAndCommitsNothingHalfDone) {
  Sql("CREATE TABLE t(id int PRIMARY KEY, v text NOT NULL)");
  SourceFeed psa("psa");
  Append(psa.Txn(Inserts(1, 6000), /*commit=*/false));
  RunningApplier a(Options({"t"}));
  ASSERT_TRUE(WaitUntil([&] { return ApplierIdleInTransaction(); }, 30s));
  const auto start = std::chrono::steady_clock::now();
  Status st = a.Stop();
  const auto took = std::chrono::steady_clock::now() - start;
  EXPECT_TRUE(st.ok()) << st.ToString();
  EXPECT_LT(took, 1500ms);
  EXPECT_EQ(Count("SELECT count(*) FROM t"), 0);
  EXPECT_EQ(Count("SELECT count(*) FROM handoff_applied"), 0);
  EXPECT_EQ(a.counters().transactions.load(), 0u);
}

}  // namespace
}  // namespace handoff::testing
