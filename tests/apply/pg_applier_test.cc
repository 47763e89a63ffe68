// PgApplier against a real PostgreSQL server: row changes, types, TOAST,
// transaction atomicity, big transactions, restart and echo suppression.
#include <gtest/gtest.h>

#include <chrono>
#include <cstdio>

#include "apply_fixture.h"

namespace handoff::testing {
namespace {

using namespace std::chrono_literals;

class PgApplierTest : public ApplyTest {
 protected:
  // Whether the applier's session sits in an open transaction (it has written
  // part of a source transaction and waits for the rest).
  bool ApplierIdleInTransaction() {
    return Count("SELECT count(*) FROM pg_stat_activity WHERE application_name = 'handoff apply erp'"
                 " AND state = 'idle in transaction'") == 1;
  }
};

TEST_F(PgApplierTest, AppliesInsertUpdateDeleteTruncateAcrossTypes) {
  Sql("CREATE TABLE items(id bigint PRIMARY KEY, price numeric(14,4), name text, at timestamptz, doc jsonb,"
      " blob bytea, tags text[], note text)");
  Sql("CREATE TABLE notes(id int PRIMARY KEY, body text NOT NULL)");
  SourceFeed psa("psa");
  const std::string note = "line1\nline2\\back\ttab\r end";
  auto full = [&](const std::string& id, const std::string& price) {
    return std::vector<Column>{T("id", id), T("price", price), T("name", "Zoë – 東京 ✓"),
                               T("at", "2024-03-01 12:34:56.789+00"), T("doc", R"({"a": [1, 2], "b": "x\\ty"})"),
                               T("blob", "\\x00ff10"), T("tags", R"({a,"b c",NULL})"), T("note", note)};
  };
  Append(psa.Txn({Change(Op::kInsert, "items", full("1", "12345678.1234")),
                  Change(Op::kInsert, "items", {T("id", "2"), N("price"), N("name"), N("at"), N("doc"), N("blob"),
                                                N("tags"), N("note")}),
                  Change(Op::kInsert, "items", full("3", "3")), Change(Op::kInsert, "items", full("4", "4")),
                  Change(Op::kInsert, "notes", {T("id", "1"), T("body", "one")}),
                  Change(Op::kInsert, "notes", {T("id", "2"), T("body", "two")})}));
  RunningApplier a(Options({"items", "notes"}));
  uint64_t first = journal_->LastSeq();
  ASSERT_TRUE(WaitApplied(a, first));
  EXPECT_EQ(Count("SELECT count(*) FROM items"), 4);

  uint64_t last = Append(psa.Txn({
      Change(Op::kUpdate, "items", full("2", "-0.5000")),
      Change(Op::kDelete, "items", {}, {T("id", "3")}),
      Change(Op::kUpdate, "items", full("40", "40"), {T("id", "4")}),  // the key moves 4 -> 40
      Change(Op::kTruncate, "notes", {}),
      Change(Op::kInsert, "notes", {T("id", "3"), T("body", "three")}),
  }));
  ASSERT_TRUE(WaitApplied(a, last));
  EXPECT_EQ(Dump("SELECT id, price, name, at = '2024-03-01 12:34:56.789+00', doc::text, encode(blob, 'hex'), tags,"
                 " note = E'line1\\nline2\\\\back\\ttab\\r end' FROM items ORDER BY id"),
            "1|12345678.1234|Zoë – 東京 ✓|t|{\"a\": [1, 2], \"b\": \"x\\\\ty\"}|00ff10|{a,\"b c\",NULL}|t\n"
            "2|-0.5000|Zoë – 東京 ✓|t|{\"a\": [1, 2], \"b\": \"x\\\\ty\"}|00ff10|{a,\"b c\",NULL}|t\n"
            "40|40.0000|Zoë – 東京 ✓|t|{\"a\": [1, 2], \"b\": \"x\\\\ty\"}|00ff10|{a,\"b c\",NULL}|t\n");
  EXPECT_EQ(Dump("SELECT id, body FROM notes ORDER BY id"), "3|three\n");
  EXPECT_EQ(Count("SELECT seq FROM handoff_applied WHERE target = 'erp'"), static_cast<int64_t>(last));
  EXPECT_EQ(a.counters().rows.load(), 11u);
  EXPECT_EQ(a.counters().exceptions.load(), 0u);
  auto applied = journal_->TargetApplied("erp");
  ASSERT_TRUE(applied.ok());
  EXPECT_EQ(*applied, last);
  EXPECT_TRUE(a.Stop().ok());
}

TEST_F(PgApplierTest, NullsAndUnroutedEventsAreHandled) {
  Sql("CREATE TABLE items(id int PRIMARY KEY, v text DEFAULT 'dflt', extra int)");
  SourceFeed psa("psa");
  // A column the target lacks is ignored; a target column the change lacks keeps its default.
  uint64_t last = Append(psa.Txn({Change(Op::kInsert, "items", {T("id", "1"), T("unknown", "x"), N("extra")}),
                                  Change(Op::kInsert, "other_table", {T("id", "1")}),
                                  Change(Op::kRead, "items", {T("id", "2"), T("v", "snap"), T("extra", "7")})}));
  RunningApplier a(Options({"items"}));
  ASSERT_TRUE(WaitApplied(a, last));
  EXPECT_EQ(Dump("SELECT id, v, extra FROM items ORDER BY id"), "1|dflt|\\N\n2|snap|7\n");
}

TEST_F(PgApplierTest, UnchangedToastKeepsTheTargetValue) {
  Sql("CREATE TABLE docs(id int PRIMARY KEY, title text, body text)");
  const std::string big1(100000, 'a'), big3(50000, 'c');
  SourceFeed psa("psa");
  Append(psa.Txn({Change(Op::kInsert, "docs", {T("id", "1"), T("title", "t1"), T("body", big1)}),
                  Change(Op::kInsert, "docs", {T("id", "2"), T("title", "t2"), T("body", "small")})}));
  RunningApplier a(Options({"docs"}));
  ASSERT_TRUE(WaitApplied(a, journal_->LastSeq()));
  uint64_t last = Append(psa.Txn({
      // Only the title changed: the body stays what the target has.
      Change(Op::kUpdate, "docs", {T("id", "1"), T("title", "t1b"), U("body")}),
      Change(Op::kUpdate, "docs", {T("id", "2"), N("title"), U("body")}),
      // Insert then TOAST update in one chunk: merged onto the inserted image.
      Change(Op::kInsert, "docs", {T("id", "3"), T("title", "t3"), T("body", big3)}),
      Change(Op::kUpdate, "docs", {T("id", "3"), T("title", "t3b"), U("body")}),
      // A TOAST update of a row the target lacks cannot invent the body: nothing happens.
      Change(Op::kUpdate, "docs", {T("id", "9"), T("title", "t9"), U("body")}),
  }));
  ASSERT_TRUE(WaitApplied(a, last));
  EXPECT_EQ(Dump("SELECT id, title, length(body), left(body, 1) FROM docs ORDER BY id"),
            "1|t1b|100000|a\n2|\\N|5|s\n3|t3b|50000|c\n");
}

TEST_F(PgApplierTest, InterleavedTransactionsCommitOnlyWhenEveryCommitMarkerIsRead) {
  Sql("CREATE TABLE t(id int PRIMARY KEY, src text NOT NULL)");
  SourceFeed psa("psa"), crm("crm");
  std::vector<ChangeEvent> big;
  for (int i = 1; i <= 6000; ++i) big.push_back(Change(Op::kInsert, "t", {T("id", std::to_string(i)), T("src", "psa")}));
  Append(psa.Txn(big, /*commit=*/false));  // its kCommit is journaled later
  std::vector<ChangeEvent> small;
  for (int i = 1; i <= 10; ++i)
    small.push_back(Change(Op::kInsert, "t", {T("id", std::to_string(100000 + i)), T("src", "crm")}));
  Append(crm.Txn(small));
  RunningApplier a(Options({"t"}));
  // The first 5000-row chunk is written inside the open target transaction...
  ASSERT_TRUE(WaitUntil([&] { return ApplierIdleInTransaction(); }, 30s));
  std::this_thread::sleep_for(300ms);
  // ...but nothing is visible, not even crm's complete transaction.
  EXPECT_EQ(Count("SELECT count(*) FROM t"), 0);
  EXPECT_EQ(Count("SELECT count(*) FROM handoff_applied"), 0);
  EXPECT_EQ(a.counters().transactions.load(), 0u);
  uint64_t last = Append({psa.Commit()});
  ASSERT_TRUE(WaitApplied(a, last));
  EXPECT_EQ(Dump("SELECT src, count(*) FROM t GROUP BY src ORDER BY src"), "crm|10\npsa|6000\n");
  EXPECT_EQ(a.counters().transactions.load(), 1u);
  EXPECT_EQ(a.counters().rows.load(), 6010u);
}

TEST_F(PgApplierTest, BigTransactionIsWrittenInChunksAndCommittedOnce) {
  Sql("CREATE TABLE ledger(id bigint PRIMARY KEY, amount numeric(12,2) NOT NULL, memo text)");
  constexpr int kRows = 60000;
  SourceFeed psa("psa");
  std::vector<ChangeEvent> events;
  for (int i = 1; i <= kRows; ++i)
    events.push_back(Change(Op::kInsert, "ledger",
                            {T("id", std::to_string(i)), T("amount", "1.25"), T("memo", "entry " + std::to_string(i))}));
  for (int i = 1; i <= 100; ++i)  // rows written by the first chunk, changed in a later one
    events.push_back(Change(Op::kUpdate, "ledger", {T("id", std::to_string(i)), T("amount", "2.25"), U("memo")}));
  for (int i = 101; i <= 150; ++i) events.push_back(Change(Op::kDelete, "ledger", {}, {T("id", std::to_string(i))}));
  uint64_t last = Append(psa.Txn(std::move(events)));
  const auto start = std::chrono::steady_clock::now();
  RunningApplier a(Options({"ledger"}));
  ASSERT_TRUE(WaitApplied(a, last, 120s));
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::printf("[ measure  ] %d changes in one source transaction applied in %.2f s (%.0f changes/s)\n",
              kRows + 150, secs, (kRows + 150) / secs);
  EXPECT_EQ(Dump("SELECT count(*), sum(amount), count(memo) FROM ledger"), "59950|75037.50|59950\n");
  EXPECT_EQ(a.counters().transactions.load(), 1u);
  EXPECT_EQ(Count("SELECT seq FROM handoff_applied WHERE target = 'erp'"), static_cast<int64_t>(last));
}

TEST_F(PgApplierTest, RestartResumesFromHandoffAppliedWithoutReapplying) {
  Sql("CREATE TABLE t(id int PRIMARY KEY, v int NOT NULL)");
  // The ledger records the top-level transaction of every application.
  Sql("CREATE TABLE applications(id int NOT NULL, v int NOT NULL, xid bigint NOT NULL DEFAULT txid_current())");
  Sql("CREATE FUNCTION count_application() RETURNS trigger LANGUAGE plpgsql AS $$"
      " BEGIN INSERT INTO applications (id, v) VALUES (NEW.id, NEW.v); RETURN NEW; END $$");
  Sql("CREATE TRIGGER count_application AFTER INSERT OR UPDATE ON t FOR EACH ROW EXECUTE FUNCTION count_application()");
  SourceFeed psa("psa");
  auto txns = [&](int from, int to) {
    uint64_t last = 0;
    for (int i = from; i < to; ++i)
      last = Append(psa.Txn({Change(Op::kInsert, "t", {T("id", std::to_string(2 * i)), T("v", std::to_string(i))}),
                             Change(Op::kInsert, "t", {T("id", std::to_string(2 * i + 1)), T("v", std::to_string(i))})}));
    return last;
  };
  uint64_t first_half = txns(0, 20);
  {
    RunningApplier a(Options({"t"}));
    ASSERT_TRUE(WaitApplied(a, first_half));
    EXPECT_TRUE(a.Stop().ok());
  }
  // The position was written by the same transaction as the rows it covers.
  EXPECT_EQ(Count("SELECT seq FROM handoff_applied WHERE target = 'erp'"), static_cast<int64_t>(first_half));
  EXPECT_EQ(Count("SELECT count(*) FROM applications WHERE xid::text = (SELECT xmin::text FROM handoff_applied)"), 40);
  uint64_t second_half = txns(20, 40);
  RunningApplier b(Options({"t"}));
  ASSERT_TRUE(WaitApplied(b, second_half));
  EXPECT_EQ(b.counters().rows.load(), 40u);  // only the new half
  EXPECT_EQ(Count("SELECT count(*) FROM t"), 80);
  EXPECT_EQ(Count("SELECT count(*) FROM applications"), 80);
  EXPECT_EQ(Count("SELECT count(*) FROM (SELECT id FROM applications GROUP BY id HAVING count(*) > 1) d"), 0);
}

TEST_F(PgApplierTest, AppliedWritesCarryTheHandoffOrigin) {
  Sql("CREATE TABLE t(id int PRIMARY KEY, v text)");
  Sql("SELECT pg_create_logical_replication_slot('origin_check', 'test_decoding')");
  SourceFeed psa("psa");
  uint64_t last = Append(psa.Txn({Change(Op::kInsert, "t", {T("id", "1"), T("v", "from handoff")}),
                                  Change(Op::kInsert, "t", {T("id", "2"), T("v", "from handoff")})}));
  RunningApplier a(Options({"t"}));
  ASSERT_TRUE(WaitApplied(a, last));
  Sql("INSERT INTO t VALUES (3, 'local write')");
  // The pipeline's own origin: handoff_<first 16 digits of the journal id>_<target>.
  EXPECT_EQ(Count("SELECT count(*) FROM pg_replication_origin WHERE roname = 'handoff_" + journal_->id().substr(0, 16) +
                  "_erp'"),
            1);
  // Every change decodes; only the local write survives the only-local filter.
  // (The server runs with synchronous_commit=off: wait until the WAL is flushed.)
  ASSERT_TRUE(WaitUntil([&] {
    return Count("SELECT count(*) FROM pg_logical_slot_peek_changes('origin_check', NULL, NULL)"
                 " WHERE data LIKE '%local write%'") == 1;
  }, 30s));
  const std::string all = Dump(
      "SELECT data FROM pg_logical_slot_peek_changes('origin_check', NULL, NULL, 'skip-empty-xacts', '1',"
      " 'include-xids', '0') WHERE data LIKE 'table public.t:%'");
  EXPECT_NE(all.find("from handoff"), std::string::npos) << all;
  const std::string local = Dump(
      "SELECT data FROM pg_logical_slot_peek_changes('origin_check', NULL, NULL, 'skip-empty-xacts', '1',"
      " 'include-xids', '0', 'only-local', '1') WHERE data LIKE 'table %'");
  EXPECT_EQ(local, "table public.t: INSERT: id[integer]:3 v[text]:'local write'\n");
  Sql("SELECT pg_drop_replication_slot('origin_check')");
}

}  // namespace
}  // namespace handoff::testing

namespace handoff::testing {
namespace {

// Inserts take the direct COPY path; an insert of a key the target already
// holds (a re-sync, a manual fix) falls back to the staged upsert, and the
// result is the same as applying the changes one by one.
TEST_F(PgApplierTest, InsertOfAnExistingKeyFallsBackToUpsert) {
  Sql("CREATE TABLE entries(id int PRIMARY KEY, hours numeric(6,2), note text)");
  Sql("INSERT INTO entries VALUES (2, 1.00, 'already here')");
  SourceFeed psa("psa");
  Append(psa.Txn({Change(Op::kInsert, "entries", {T("id", "1"), T("hours", "7.50"), T("note", "new")})}));
  Append(psa.Txn({Change(Op::kInsert, "entries", {T("id", "2"), T("hours", "8.00"), T("note", "resent")}),
                  Change(Op::kInsert, "entries", {T("id", "3"), T("hours", "0.25"), N("note")})}));
  uint64_t last = Append(psa.Txn({Change(Op::kInsert, "entries", {T("id", "4"), T("hours", "1.00"), T("note", "x")})}));
  RunningApplier a(Options({"entries"}));
  ASSERT_TRUE(WaitApplied(a, last));
  EXPECT_EQ(Dump("SELECT id, hours, note FROM entries ORDER BY id"),
            "1|7.50|new\n2|8.00|resent\n3|0.25|\\N\n4|1.00|x\n");
  EXPECT_EQ(a.counters().exceptions.load(), 0u);
}

}  // namespace
}  // namespace handoff::testing
