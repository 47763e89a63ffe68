// PgCaptureAgent against a real PostgreSQL 15 and an in-process engine:
// types, snapshot/stream boundary, row images, TOAST, truncate, messages and
// schema changes.
#include <gtest/gtest.h>
#include <libpq-fe.h>

#include <atomic>
#include <limits>
#include <map>
#include <set>
#include <thread>

#include "capture_harness.h"
#include "handoff/engine/schema_change.h"
#include "handoff/engine/clock.h"

namespace handoff::testing {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;
constexpr uint64_t kMax = std::numeric_limits<uint64_t>::max();

int64_t IdOf(const ChangeEvent& e) {
  const Column* c = e.FindAfter("id");
  if (c == nullptr) c = e.FindBefore("id");
  return c && c->kind == Column::Kind::kText ? std::stoll(c->data) : -1;
}

// Every column of `e` equals the server's text output of that row, with the
// attribute's type OID.
void ExpectRowMatches(const ChangeEvent& e, const std::vector<std::string>& expected,
                      const std::vector<std::vector<std::string>>& attrs) {
  ASSERT_EQ(e.after.size(), expected.size());
  for (size_t i = 0; i < expected.size(); ++i) {
    const Column& c = e.after[i];
    SCOPED_TRACE(c.name);
    EXPECT_EQ(c.name, attrs[i][0]);
    EXPECT_EQ(std::to_string(c.type_oid), attrs[i][1]);
    if (expected[i] == "\\N") {
      EXPECT_EQ(c.kind, Column::Kind::kNull);
    } else {
      EXPECT_EQ(c.kind, Column::Kind::kText);
      EXPECT_EQ(c.data, expected[i]);
    }
  }
}

TEST_F(CaptureTest, EveryTypeRoundTripsAsExactText) {
  Sql("CREATE TABLE typed(id int4 PRIMARY KEY, i2 int2, i8 int8, num numeric, txt text, flag bool, d date,"
      " ts timestamp, tstz timestamptz, u uuid, j json, jb jsonb, bin bytea, ia int[], ta text[])");
  const std::string values =
      "-32768, 9223372036854775807, 12345678901234567890.123456789012345678901234567890,"
      " E'Zo\\u00eb \u6771\u4eac \u2713 tab\\there\\nnewline \\\\back \"q\"', true, '2024-02-29',"
      " '2024-01-02 03:04:05.123456', '2024-01-02 03:04:05.123456+02', 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11',"
      " '{\"b\": 1,   \"a\": [1, 2]}', '{\"b\": 1, \"a\": [1, 2.50]}', '\\xdeadbeef00', '{1,NULL,-3}',"
      " '{\"a b\",\"c,d\",NULL,\"\u00e9\"}'";
  Sql("INSERT INTO typed VALUES (1, " + values + "), (2, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,"
      " NULL, NULL, NULL, NULL, NULL)");
  StartAgent(Options({"public.typed"}));
  ASSERT_TRUE(WaitForCount(Op::kRead, 2, seconds(20)));
  Sql("INSERT INTO typed VALUES (3, " + values + ")");
  Sql("INSERT INTO typed (id) VALUES (4)");
  Sql("SELECT pg_logical_emit_message(true, 'handoff-test', 'hello')");
  ASSERT_TRUE(WaitForCount(Op::kMessage, 1, seconds(20)));

  auto rows = pg().Query(db_, "SELECT * FROM typed ORDER BY id");
  ASSERT_TRUE(rows.ok());
  auto attrs = pg().Query(db_, "SELECT attname, atttypid FROM pg_attribute WHERE attrelid = 'typed'::regclass"
                               " AND attnum > 0 ORDER BY attnum");
  ASSERT_TRUE(attrs.ok());
  std::map<int64_t, ChangeEvent> by_id;
  for (const auto& e : Events()) {
    if (e.op == Op::kRead || e.op == Op::kInsert) by_id[IdOf(e)] = e;
  }
  ASSERT_EQ(by_id.size(), 4u);
  for (const auto& row : *rows) {
    SCOPED_TRACE("id " + row[0]);
    const ChangeEvent& e = by_id[std::stoll(row[0])];
    EXPECT_EQ(e.op, std::stoll(row[0]) <= 2 ? Op::kRead : Op::kInsert);
    EXPECT_EQ(e.key_columns, std::vector<std::string>{"id"});
    ExpectRowMatches(e, row, *attrs);
  }
  auto msg = Events(Op::kMessage);
  ASSERT_EQ(msg.size(), 1u);
  ASSERT_EQ(msg[0].after.size(), 1u);
  EXPECT_EQ(msg[0].after[0].name, "handoff-test");
  EXPECT_EQ(msg[0].after[0].data, "hello");
}

TEST_F(CaptureTest, SnapshotThenStreamHasNothingMissingOrDoubled) {
  Sql("CREATE TABLE b(id int PRIMARY KEY, v text)");
  Sql("INSERT INTO b SELECT g, 'pre' FROM generate_series(1, 20000) g");
  std::atomic<bool> go{true};
  std::atomic<int> next{20001};
  // Writers race the slot creation and the COPY.
  std::thread writer([&] {
    while (go.load() && next.load() < 20600) {
      int id = next.load();
      if (!pg().Exec(db_, "INSERT INTO b SELECT g, 'live' FROM generate_series(" + std::to_string(id) + ", " +
                              std::to_string(id + 4) + ") g").ok()) break;
      next += 5;
    }
  });
  StartAgent(Options({"public.b"}));
  writer.join();
  const int total = next.load() - 1;
  ASSERT_TRUE(WaitUntil([&] { return Events(Op::kRead).size() + Events(Op::kInsert).size() >= size_t(total); },
                        seconds(60)));
  std::this_thread::sleep_for(milliseconds(300));  // anything doubled would show up by now
  auto events = Events();
  std::map<int64_t, int> seen;
  size_t last_read = 0, first_insert = events.size();
  for (size_t i = 0; i < events.size(); ++i) {
    if (events[i].op == Op::kRead) last_read = i;
    if (events[i].op == Op::kInsert && first_insert == events.size()) first_insert = i;
    if (events[i].op == Op::kRead || events[i].op == Op::kInsert) ++seen[IdOf(events[i])];
  }
  EXPECT_LT(last_read, first_insert);
  ASSERT_EQ(seen.size(), size_t(total));
  for (const auto& [id, n] : seen) ASSERT_EQ(n, 1) << "id " << id;
  EXPECT_EQ(seen.begin()->first, 1);
  EXPECT_EQ(seen.rbegin()->first, total);
  EXPECT_EQ(agent_->agent().counters().snapshot_rows.load(), Events(Op::kRead).size());
  // Snapshot rows of attempt 1 are {0, 1 << 40 | n} with n = 1, 2, ...;
  // streamed ones carry an LSN.
  auto reads = Events(Op::kRead);
  for (size_t i = 0; i < reads.size(); ++i) {
    ASSERT_EQ(reads[i].position.lsn, 0u);
    ASSERT_EQ(reads[i].position.ordinal, (uint64_t{1} << 40) + i + 1);
  }
  for (const auto& e : Events(Op::kInsert)) ASSERT_GT(e.position.lsn, 0u);
  go = false;
}

TEST_F(CaptureTest, UpdateDeleteTruncateCarryImagesAndPositions) {
  Sql("CREATE TABLE t(id int PRIMARY KEY, v text); CREATE TABLE f(id int PRIMARY KEY, v text);"
      " ALTER TABLE f REPLICA IDENTITY FULL");
  StartAgent(Options({"public.t", "public.f"}));
  ASSERT_TRUE(WaitSnapshotDone());
  int64_t before_us = NowMicros();
  Sql("BEGIN; INSERT INTO t VALUES (1, 'a'), (2, 'b'); UPDATE t SET v = 'c' WHERE id = 1; COMMIT");
  Sql("DELETE FROM t WHERE id = 2");
  Sql("INSERT INTO f VALUES (9, 'x'); UPDATE f SET v = 'y'");
  Sql("TRUNCATE t");
  ASSERT_TRUE(WaitForCount(Op::kTruncate, 1, seconds(20)));
  auto events = Events();
  std::vector<std::string> shape;
  for (const auto& e : events) shape.push_back(std::string(OpName(e.op)) + ":" + e.table);
  ASSERT_EQ(shape, (std::vector<std::string>{"insert:t", "insert:t", "update:t", "commit:", "delete:t", "commit:",
                                             "insert:f", "update:f", "commit:", "truncate:t", "commit:"}))
      << ::testing::PrintToString(shape);
  // One transaction: same LSN, ordinals 1..3 then the commit at 4.
  for (int i = 0; i < 4; ++i) {
    EXPECT_EQ(events[i].position.lsn, events[0].position.lsn);
    EXPECT_EQ(events[i].position.ordinal, uint64_t(i + 1));
    EXPECT_EQ(events[i].xid, events[0].xid);
  }
  EXPECT_NE(events[0].xid, 0u);
  EXPECT_GE(events[0].commit_time_us, before_us - 5'000'000);
  EXPECT_LE(events[0].commit_time_us, NowMicros() + 5'000'000);
  EXPECT_EQ(events[0].source_kind, SourceKind::kPostgres);
  EXPECT_EQ(events[0].schema, "public");
  EXPECT_EQ(events[0].correlation_id, source_ + ":" + FormatPosition(events[0].position));
  for (size_t i = 1; i < events.size(); ++i) EXPECT_LT(events[i - 1].position, events[i].position);
  // Default identity: update without old image; delete with the key only.
  EXPECT_FALSE(events[2].has_before);
  EXPECT_EQ(events[2].FindAfter("v")->data, "c");
  EXPECT_TRUE(events[4].has_before);
  ASSERT_EQ(events[4].before.size(), 1u);
  EXPECT_EQ(events[4].before[0].data, "2");
  EXPECT_TRUE(events[4].after.empty());
  // FULL identity: the whole old row.
  EXPECT_TRUE(events[7].has_before);
  ASSERT_EQ(events[7].before.size(), 2u);
  EXPECT_EQ(events[7].before[1].data, "x");
  EXPECT_EQ(events[7].after[1].data, "y");
  // pgoutput marks every column of a FULL table as key; the primary key says which identify the row.
  EXPECT_EQ(events[7].key_columns, (std::vector<std::string>{"id"}));
  EXPECT_EQ(events[9].schema, "public");
  EXPECT_TRUE(events[9].after.empty());
  EXPECT_EQ(events[9].truncate_count, 1u);
  EXPECT_EQ(events[9].truncate_index, 0u);
  EXPECT_EQ(events[9].truncate_options, 0u);
  EXPECT_EQ(agent_->agent().counters().changes.load(), 7u);
}

TEST_F(CaptureTest, UnchangedToastColumnIsMarkedNotNull) {
  Sql("CREATE TABLE doc(id int PRIMARY KEY, body text, n int); ALTER TABLE doc ALTER COLUMN body SET STORAGE EXTERNAL");
  StartAgent(Options({"public.doc"}));
  ASSERT_TRUE(WaitSnapshotDone());
  Sql("INSERT INTO doc SELECT 1, string_agg(md5(g::text), '') , 0 FROM generate_series(1, 400) g");
  Sql("UPDATE doc SET n = 1 WHERE id = 1");
  ASSERT_TRUE(WaitForCount(Op::kUpdate, 1, seconds(20)));
  auto ins = Events(Op::kInsert);
  ASSERT_EQ(ins.size(), 1u);
  EXPECT_EQ(ins[0].FindAfter("body")->data.size(), 400u * 32);
  auto upd = Events(Op::kUpdate);
  const Column* body = upd[0].FindAfter("body");
  ASSERT_NE(body, nullptr);
  EXPECT_EQ(body->kind, Column::Kind::kUnchangedToast);
  EXPECT_TRUE(body->data.empty());
  EXPECT_EQ(upd[0].FindAfter("n")->data, "1");
}

TEST_F(CaptureTest, SchemaChangeMidStream) {
  Sql("CREATE TABLE s(id int PRIMARY KEY, v text)");
  StartAgent(Options({"public.s"}));
  ASSERT_TRUE(WaitSnapshotDone());
  Sql("INSERT INTO s VALUES (1, 'one')");
  Sql("ALTER TABLE s ADD COLUMN extra numeric");
  Sql("INSERT INTO s VALUES (2, 'two', 3.14159265358979323846)");
  Sql("ALTER TABLE s ALTER COLUMN v TYPE varchar(20)");
  Sql("UPDATE s SET v = 'uno' WHERE id = 1");
  ASSERT_TRUE(WaitForCount(Op::kUpdate, 1, seconds(20)));
  auto ins = Events(Op::kInsert);
  ASSERT_EQ(ins.size(), 2u);
  EXPECT_EQ(ins[0].after.size(), 2u);
  ASSERT_EQ(ins[1].after.size(), 3u);
  EXPECT_EQ(ins[1].after[2].name, "extra");
  EXPECT_EQ(ins[1].after[2].type_oid, 1700u);
  EXPECT_EQ(ins[1].after[2].data, "3.14159265358979323846");
  auto upd = Events(Op::kUpdate);
  EXPECT_EQ(upd[0].FindAfter("v")->type_oid, 1043u);  // varchar
  EXPECT_EQ(upd[0].FindAfter("v")->data, "uno");
  EXPECT_TRUE(upd[0].FindAfter("extra")->is_null());
  // Each change of the columns is journaled once, before the first row of the
  // new shape, with the old and new columns and their types.
  auto schema = Events(Op::kSchema);
  ASSERT_EQ(schema.size(), 2u);
  EXPECT_EQ(schema[0].table, "s");
  EXPECT_LT(schema[0].position, ins[1].position);
  EXPECT_GT(schema[0].position, ins[0].position);
  ASSERT_EQ(schema[0].before.size(), 2u);
  ASSERT_EQ(schema[0].after.size(), 3u);
  EXPECT_EQ(schema[0].after[2].name, "extra");
  EXPECT_EQ(schema[0].after[2].data, "numeric");
  EXPECT_EQ(schema[0].after[2].type_oid, 1700u);
  EXPECT_EQ(DescribeSchemaChange(schema[0]), "added extra (numeric)");
  EXPECT_LT(schema[1].position, upd[0].position);
  EXPECT_EQ(DescribeSchemaChange(schema[1]), "v is now character varying(20) (was text)");
  EXPECT_EQ(schema[1].key_columns, std::vector<std::string>{"id"});
}

TEST_F(CaptureTest, SchemaChangeBeforeTheFirstStreamedChange) {
  // Altered right after the snapshot, before any change: the snapshot's
  // catalog is the baseline, so the change is still seen.
  Sql("CREATE TABLE s2(id int PRIMARY KEY, v text)");
  Sql("INSERT INTO s2 VALUES (1, 'one')");
  StartAgent(Options({"public.s2"}));
  ASSERT_TRUE(WaitSnapshotDone());
  Sql("ALTER TABLE s2 DROP COLUMN v, ADD COLUMN w int");
  Sql("INSERT INTO s2 VALUES (2, 5)");
  ASSERT_TRUE(WaitForCount(Op::kInsert, 1, seconds(20)));
  auto schema = Events(Op::kSchema);
  ASSERT_EQ(schema.size(), 1u);
  EXPECT_EQ(DescribeSchemaChange(schema[0]), "added w (integer); dropped v");
}

// Protocol 2 with streaming: with logical_decoding_work_mem at its minimum
// the walsender streams the large transactions while they run. The journal
// holds each committed one whole and in commit order (after a small one that
// committed while it ran), without the rows of a rolled-back savepoint, and
// nothing of a streamed transaction that aborted.
// With `streaming: false` (protocol 1) the journal holds the same.
class StreamingTest : public CaptureTest, public ::testing::WithParamInterface<bool> {};

TEST_P(StreamingTest, LargeTransactionsAreJournaledWholeAtCommit) {
  const bool streaming = GetParam();
  Sql("CREATE TABLE big(id int PRIMARY KEY, v text)");
  Sql("ALTER DATABASE " + db_ + " SET logical_decoding_work_mem = '64kB'");
  auto o = Options({"public.big"});
  o.source.streaming = streaming;
  StartAgent(o);
  ASSERT_TRUE(WaitSnapshotDone());

  PGconn* open = PQconnectdb(pg().Dsn(db_).c_str());
  ASSERT_EQ(PQstatus(open), CONNECTION_OK) << PQerrorMessage(open);
  auto run = [&](const std::string& sql) {
    PGresult* r = PQexec(open, sql.c_str());
    const bool ok = PQresultStatus(r) == PGRES_COMMAND_OK || PQresultStatus(r) == PGRES_TUPLES_OK;
    EXPECT_TRUE(ok) << sql << ": " << PQerrorMessage(open);
    PQclear(r);
  };
  const std::string pad = "repeat('x', 200)";
  run("BEGIN");
  run("INSERT INTO big SELECT g, " + pad + " FROM generate_series(1, 5000) g");
  run("SAVEPOINT s");
  run("INSERT INTO big SELECT g, " + pad + " FROM generate_series(5001, 6000) g");
  run("ROLLBACK TO SAVEPOINT s");
  run("INSERT INTO big SELECT g, " + pad + " FROM generate_series(6001, 7000) g");
  // Streamed before this commits: wait until the server has sent some of it.
  if (streaming) {
    ASSERT_TRUE(WaitUntil([&] { return agent_->agent().counters().streamed_blocks.load() > 0; }, seconds(30)))
        << "the open transaction was not streamed";
  }
  Sql("INSERT INTO big VALUES (100000, 'small, committed first')");
  run("COMMIT");
  run("BEGIN");
  run("INSERT INTO big SELECT g, " + pad + " FROM generate_series(20000, 25000) g");
  run("UPDATE big SET v = 'never' WHERE id <= 10");
  run("ROLLBACK");
  PQfinish(open);
  Sql("INSERT INTO big VALUES (200000, 'after')");
  ASSERT_TRUE(WaitUntil(
      [&] {
        for (const auto& e : Events(Op::kInsert))
          if (IdOf(e) == 200000) return true;
        return false;
      },
      seconds(60)));

  std::vector<int64_t> ids;
  std::vector<ChangeEvent> all = Events();
  std::vector<SourcePosition> positions;
  for (const auto& e : all) {
    EXPECT_NE(e.op, Op::kUpdate) << "an update of the aborted transaction was journaled";
    if (e.op != Op::kInsert) continue;
    ids.push_back(IdOf(e));
    positions.push_back(e.position);
  }
  std::vector<int64_t> want{100000};
  for (int64_t i = 1; i <= 5000; ++i) want.push_back(i);
  for (int64_t i = 6001; i <= 7000; ++i) want.push_back(i);
  want.push_back(200000);
  ASSERT_EQ(ids.size(), want.size());
  EXPECT_EQ(ids, want);
  // The large transaction: one commit LSN, ordinals rising, then its commit marker.
  for (size_t i = 2; i < 6001; ++i) {
    ASSERT_EQ(positions[i].lsn, positions[1].lsn);
    ASSERT_LT(positions[i - 1].ordinal, positions[i].ordinal);
  }
  EXPECT_LT(positions[0], positions[1]);
  size_t commits_after = 0;
  for (const auto& e : all)
    if (e.op == Op::kCommit && e.position.lsn == positions[1].lsn) {
      ++commits_after;
      EXPECT_GT(e.position.ordinal, positions[6000].ordinal);
    }
  EXPECT_EQ(commits_after, 1u);
  for (const auto& e : all)
    if (e.op == Op::kInsert && e.position.lsn == positions[1].lsn) {
      EXPECT_EQ(e.correlation_id, source_ + ":" + FormatPosition(e.position));
      EXPECT_GT(e.commit_time_us, 0);
      EXPECT_NE(e.xid, 0u);
      break;
    }
  const auto& c = agent_->agent().counters();
  EXPECT_EQ(c.streamed_transactions.load() >= 1, streaming);
  EXPECT_EQ(c.streamed_aborts.load() >= 1, streaming);
  if (!streaming) {
    EXPECT_EQ(c.streamed_blocks.load(), 0u);
  }
  // Confirmed upstream past the last commit: nothing is held back.
  EXPECT_TRUE(WaitUntil([&] { return ConfirmedFlush() >= positions.back().lsn; }, seconds(20)));
  StopAgent();
}

INSTANTIATE_TEST_SUITE_P(Protocol, StreamingTest, ::testing::Values(true, false),
                         [](const ::testing::TestParamInfo<bool>& i) { return i.param ? "Streamed" : "AtCommit"; });

}  // namespace
}  // namespace handoff::testing
