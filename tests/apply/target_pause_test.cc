// Target pauses against a real PostgreSQL server: a target that refuses
// changes for a reason not about the change (here a missing table) holds them
// under one exception record instead of parking each, resumes by itself once
// the table exists or at once on a resume request, and applies what it held
// exactly once.
#include <gtest/gtest.h>

#include <chrono>

#include "apply_fixture.h"
#include "apply_ledger.h"
#include "handoff/apply/target_pause.h"

namespace handoff::testing {
namespace {

using namespace std::chrono_literals;

class TargetPauseTest : public ApplyTest {
 protected:
  std::vector<ChangeEvent> Rows(const std::string& table, int from, int to, int version = 1) {
    std::vector<ChangeEvent> out;
    for (int i = from; i <= to; ++i)
      out.push_back(Change(version == 1 ? Op::kInsert : Op::kUpdate, table,
                           {T("id", std::to_string(i)), T("version", std::to_string(version))}));
    return out;
  }
  std::vector<ExceptionRecord> Exceptions() {
    auto r = journal_->Exceptions(std::nullopt);
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    return r.ok() ? *r : std::vector<ExceptionRecord>{};
  }
  std::optional<TargetPause> Pause() {
    auto p = ReadTargetPause(journal_.get(), "erp");
    EXPECT_TRUE(p.ok()) << p.status().ToString();
    return p.ok() ? *p : std::nullopt;
  }
  PgApplierOptions PauseOptions(std::chrono::milliseconds min, std::chrono::milliseconds max) {
    PgApplierOptions o = Options({"t", "ghost"});
    o.pause_min_backoff = min;
    o.pause_max_backoff = max;
    return o;
  }
};

TEST(TargetPauseCodeTest, RefusalsAreTheTargetsNotTheChanges) {
  for (const char* s : {"42P01", "3F000", "42501", "42703", "42883", "42704", "no_primary_key"})
    EXPECT_TRUE(IsTargetRefusal(s)) << s;
  for (const char* s : {"23505", "23514", "22P02", "40001", "08006", "", "target_paused", "http_404"})
    EXPECT_FALSE(IsTargetRefusal(s)) << s;
}

TEST(TargetPauseCodeTest, EncodingRoundTrips) {
  TargetPause p;
  p.target = "erp";
  p.seq = 12;
  p.held_from = 11;
  p.held = 48755;
  p.failed_seq = 14;
  p.table = "public.ghost";
  p.code = "42P01";
  p.message = "relation \"public.ghost\" does not exist\nsecond line";
  p.since_us = 1700000000000000;
  p.last_try_us = 1700000001000000;
  p.tries = 7;
  TargetPause q;
  ASSERT_TRUE(DecodeTargetPause(EncodeTargetPause(p), &q));
  EXPECT_EQ(q.seq, 12u);
  EXPECT_EQ(q.held_from, 11u);
  EXPECT_EQ(q.held, 48755u);
  EXPECT_EQ(q.failed_seq, 14u);
  EXPECT_EQ(q.table, "public.ghost");
  EXPECT_EQ(q.code, "42P01");
  EXPECT_EQ(q.message, "relation \"public.ghost\" does not exist second line");
  EXPECT_EQ(q.tries, 7u);
  EXPECT_FALSE(DecodeTargetPause("garbage", &q));
}

TEST_F(TargetPauseTest, OperatorHoldRecordsRoundTripAndBelongToTheirTarget) {
  OperatorHold whole{"", "ana", "deploy\nnow", 1700000000000000};
  OperatorHold route{"psa.public.t", "bo", "", 1700000001000000};
  ASSERT_TRUE(PutTargetHold(journal_.get(), "erp", route).ok());
  ASSERT_TRUE(PutTargetHold(journal_.get(), "erp", whole).ok());
  ASSERT_TRUE(PutTargetHold(journal_.get(), "erp2", whole).ok());  // "hold:erp" is a prefix of its key
  auto holds = ReadTargetHolds(journal_.get(), "erp");
  ASSERT_TRUE(holds.ok());
  ASSERT_EQ(holds->size(), 2u);
  EXPECT_EQ((*holds)[0].route, "") << "the whole-target hold comes first";
  EXPECT_EQ((*holds)[0].actor, "ana");
  EXPECT_EQ((*holds)[0].note, "deploy now");
  EXPECT_EQ((*holds)[0].since_us, 1700000000000000);
  EXPECT_EQ((*holds)[1].route, "psa.public.t");
  EXPECT_EQ((*holds)[1].actor, "bo");
  EXPECT_EQ((*holds)[1].note, "");
  bool existed = false;
  ASSERT_TRUE(ClearTargetHold(journal_.get(), "erp", "", &existed).ok());
  EXPECT_TRUE(existed);
  ASSERT_TRUE(ClearTargetHold(journal_.get(), "erp", "", &existed).ok());
  EXPECT_FALSE(existed);
  EXPECT_EQ(ReadTargetHolds(journal_.get(), "erp")->size(), 1u);
  EXPECT_EQ(ReadTargetHolds(journal_.get(), "erp2")->size(), 1u);
  OperatorHold bad;
  EXPECT_FALSE(DecodeOperatorHold("garbage", &bad));
}

TEST_F(TargetPauseTest, MissingTableHoldsEveryLaterChangeUnderOneRecordAndResumesByItself) {
  Sql("CREATE TABLE t(id int PRIMARY KEY, version int)");
  SourceFeed psa("psa");
  const uint64_t before = Append(psa.Txn(Rows("t", 1, 2)));
  RunningApplier a(PauseOptions(50ms, 300ms));
  ASSERT_TRUE(WaitApplied(a, before));
  // A transaction for the missing table, then one for the table that exists.
  Append(psa.Txn(Rows("ghost", 1, 3000)));
  Append(psa.Txn(Rows("t", 3, 3)));
  ASSERT_TRUE(WaitUntil([&] { return a.counters().paused.load() == 1; }));
  ASSERT_TRUE(WaitUntil([&] { return a.counters().held.load() == 3001; })) << a.counters().held.load();
  // More arrives while paused: still held, still one record.
  uint64_t last = Append(psa.Txn(Rows("ghost", 3001, 5000)));
  last = Append(psa.Txn(Rows("ghost", 1, 10, 2)));
  ASSERT_TRUE(WaitUntil([&] { return a.counters().held.load() == 5011; })) << a.counters().held.load();
  auto p = Pause();
  ASSERT_TRUE(p.has_value());
  EXPECT_GE(p->tries, 2u) << "retried while paused";
  EXPECT_EQ(p->code, "42P01");
  EXPECT_EQ(p->table, "public.ghost");
  EXPECT_EQ(p->held_from, before + 1) << "what came before the held transaction is committed";
  EXPECT_EQ(a.counters().applied_seq.load(), before);
  EXPECT_EQ(Count("SELECT count(*) FROM t"), 2) << "nothing after the held change is applied";
  EXPECT_EQ(a.counters().exceptions.load(), 0u) << "nothing is parked";
  auto ex = Exceptions();
  ASSERT_EQ(ex.size(), 1u);
  EXPECT_EQ(ex[0].code, kTargetPausedCode);
  EXPECT_EQ(ex[0].seq, before + 1);
  EXPECT_EQ(ex[0].state, ExceptionState::kOpen);
  EXPECT_NE(ex[0].reason.find("public.ghost"), std::string::npos) << ex[0].reason;
  EXPECT_NE(ex[0].reason.find("42P01"), std::string::npos) << ex[0].reason;
  EXPECT_NE(ex[0].reason.find("does not exist"), std::string::npos) << ex[0].reason;
  EXPECT_NE(ex[0].reason.find("5011 change(s) held"), std::string::npos) << ex[0].reason;

  // The table appears (with a ledger of every row version written).
  Sql("CREATE TABLE ghost(id int PRIMARY KEY, version int);"
      "CREATE TABLE applied_log (id bigint, version int);"
      "CREATE FUNCTION log_apply() RETURNS trigger LANGUAGE plpgsql AS "
      "$$ BEGIN INSERT INTO applied_log VALUES (NEW.id, NEW.version); RETURN NEW; END $$;"
      "CREATE TRIGGER log_apply AFTER INSERT OR UPDATE ON ghost FOR EACH ROW EXECUTE FUNCTION log_apply();");
  ASSERT_TRUE(WaitApplied(a, last));
  EXPECT_EQ(a.counters().paused.load(), 0u);
  EXPECT_EQ(Count("SELECT count(*) FROM ghost"), 5000);
  EXPECT_EQ(Count("SELECT count(*) FROM ghost WHERE version = 2"), 10);
  EXPECT_EQ(Count("SELECT count(*) FROM t"), 3);
  EXPECT_EQ(LedgerDuplicates(*server_, db_), "") << "a row version applied twice";
  // Updates may collapse onto their insert within one chunk: 5000 to 5010 versions.
  EXPECT_GE(LedgerRows(*server_, db_), 5000);
  EXPECT_LE(LedgerRows(*server_, db_), 5010);
  EXPECT_EQ(a.counters().rows.load(), 2u + 5011u) << "every change counted once";
  EXPECT_FALSE(Pause().has_value());
  ex = Exceptions();
  ASSERT_EQ(ex.size(), 1u);
  EXPECT_EQ(ex[0].state, ExceptionState::kRetried);
  EXPECT_EQ(ex[0].note, "resumed after 5011 change(s) held");
  EXPECT_EQ(Count("SELECT seq FROM handoff_applied"), static_cast<int64_t>(last));
}

TEST_F(TargetPauseTest, ResumeRequestRetriesAtOnce) {
  Sql("CREATE TABLE t(id int PRIMARY KEY, version int)");
  SourceFeed psa("psa");
  const uint64_t last = Append(psa.Txn(Rows("ghost", 1, 100)));
  RunningApplier a(PauseOptions(10min, 10min));  // no retry by itself within the test
  ASSERT_TRUE(WaitUntil([&] { return a.counters().paused.load() == 1; }));
  ASSERT_TRUE(WaitUntil([&] { return Pause().has_value(); }));
  Sql("CREATE TABLE ghost(id int PRIMARY KEY, version int)");
  ASSERT_TRUE(RequestTargetResume(journal_.get(), "erp", "handoff resume by ana").ok());
  ASSERT_TRUE(WaitApplied(a, last, 10s)) << "the request retries at once";
  EXPECT_FALSE(TargetResumePending(journal_.get(), "erp"));
  EXPECT_EQ(Count("SELECT count(*) FROM ghost"), 100);
  auto ex = Exceptions();
  ASSERT_EQ(ex.size(), 1u);
  EXPECT_EQ(ex[0].state, ExceptionState::kRetried);
  EXPECT_EQ(ex[0].actor, "handoff resume by ana");
}

TEST_F(TargetPauseTest, MixedTransactionIsHeldWholeAndCauseChangesAreRecorded) {
  Sql("CREATE TABLE t(id int PRIMARY KEY, version int)");
  SourceFeed psa("psa");
  // One source transaction touching both tables: it cannot be split, so none of it lands.
  std::vector<ChangeEvent> mixed = Rows("t", 1, 5);
  for (auto& e : Rows("ghost", 1, 5)) mixed.push_back(e);
  const uint64_t last = Append(psa.Txn(std::move(mixed)));
  RunningApplier a(PauseOptions(50ms, 200ms));
  ASSERT_TRUE(WaitUntil([&] { return Pause().has_value() && Pause()->tries >= 2; }));
  EXPECT_EQ(Count("SELECT count(*) FROM t"), 0);
  EXPECT_EQ(Pause()->held_from, 1u);
  // The table appears without a primary key: a different target problem, same record.
  Sql("CREATE TABLE ghost(id int, version int)");
  ASSERT_TRUE(WaitUntil([&] { return Pause().has_value() && Pause()->code == "no_primary_key"; }));
  EXPECT_EQ(Exceptions().size(), 1u);
  Sql("ALTER TABLE ghost ADD PRIMARY KEY (id)");
  ASSERT_TRUE(WaitApplied(a, last));
  EXPECT_EQ(Count("SELECT count(*) FROM t"), 5);
  EXPECT_EQ(Count("SELECT count(*) FROM ghost"), 5);
  EXPECT_EQ(a.counters().exceptions.load(), 0u);
}

TEST_F(TargetPauseTest, ReplayStopsAtTheRefusalInsteadOfParking) {
  Sql("CREATE TABLE t(id int PRIMARY KEY, version int)");
  SourceFeed psa("psa");
  Append(psa.Txn(Rows("t", 1, 3)));
  Append(psa.Txn(Rows("ghost", 1, 50)));
  PgApplierOptions o = Options({"t", "ghost"});
  o.replay_from_seq = 1;
  RunningApplier replay(std::move(o));
  ASSERT_TRUE(WaitUntil([&] { return replay.done(); }, 60s));
  Status st = replay.Stop();
  EXPECT_FALSE(st.ok());
  EXPECT_NE(st.message().find("public.ghost"), std::string::npos) << st.ToString();
  EXPECT_TRUE(Exceptions().empty());
  EXPECT_FALSE(Pause().has_value());
}

}  // namespace
}  // namespace handoff::testing
