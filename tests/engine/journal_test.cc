#include "handoff/engine/journal.h"

#include <gtest/gtest.h>

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <future>
#include <thread>

#include "handoff/engine/clock.h"
#include "handoff/engine/event_codec.h"

// Only to stand in for another process reading the journal.
#include <lmdb.h>

namespace handoff {
namespace {

class JournalTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/handoff-journal-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  std::unique_ptr<Journal> OpenJournal(uint64_t map = 1 << 20, uint64_t max_map = 1ull << 30) {
    JournalOptions o;
    o.path = dir_;
    o.map_size = map;
    o.max_map_size = max_map;
    auto j = Journal::Open(o);
    EXPECT_TRUE(j.ok()) << j.status().ToString();
    return std::move(j).value();
  }

  static ChangeEvent Row(const std::string& source, uint64_t lsn, uint64_t ord, const std::string& payload = "x") {
    ChangeEvent e;
    e.source = source;
    e.position = {lsn, ord};
    e.schema = "public";
    e.table = "t";
    e.op = Op::kInsert;
    e.key_columns = {"id"};
    e.after = {{"id", 20, Column::Kind::kText, std::to_string(ord)}, {"v", 25, Column::Kind::kText, payload}};
    return e;
  }

  // Appends batches of `per_batch` events with `payload` until the journal
  // refuses one; *t numbers the batches (one source transaction each).
  // Returns the events accepted and leaves the refusal in *last.
  static uint64_t FillUntilFull(Journal* j, uint64_t* t, size_t per_batch, const std::string& payload,
                                Status* last) {
    uint64_t accepted = 0;
    for (int i = 0; i < 100000; ++i) {
      *last = AppendOne(j, ++*t, per_batch, payload);
      if (!last->ok()) {
        --*t;
        break;
      }
      accepted += per_batch;
    }
    return accepted;
  }

  static Status AppendOne(Journal* j, uint64_t t, size_t n, const std::string& payload) {
    std::vector<AppendBatch> b{{"psa", {t, n}, {}}};
    for (uint64_t i = 1; i <= n; ++i) b[0].events.push_back(Row("psa", t, i, payload));
    return j->Append(b, nullptr);
  }

  std::string dir_;
};

TEST_F(JournalTest, AppendAssignsSequenceAndReadsInOrder) {
  auto j = OpenJournal();
  std::vector<AppendBatch> b{{"psa", {10, 3}, {Row("psa", 10, 1), Row("psa", 10, 2), Row("psa", 10, 3)}},
                             {"crm", {7, 1}, {Row("crm", 7, 1)}}};
  AppendResult r;
  ASSERT_TRUE(j->Append(b, &r).ok());
  EXPECT_EQ(r.appended, 4u);
  EXPECT_EQ(r.last_seq, 4u);
  std::vector<JournalEntry> out;
  ASSERT_TRUE(j->Read(2, 100, &out).ok());
  ASSERT_EQ(out.size(), 3u);
  EXPECT_EQ(out[0].seq, 2u);
  EXPECT_EQ(out[0].event.position.ordinal, 2u);
  EXPECT_EQ(out[2].event.source, "crm");
  EXPECT_GT(out[0].journaled_at_us, 0);
  EXPECT_EQ(*j->SourceDurable("psa"), (SourcePosition{10, 3}));
  EXPECT_EQ(*j->SourceDurable("crm"), (SourcePosition{7, 1}));
  EXPECT_EQ(*j->SourceDurable("nobody"), (SourcePosition{}));
}

TEST_F(JournalTest, ResentPositionsAreSkippedAsDuplicates) {
  auto j = OpenJournal();
  std::vector<AppendBatch> b{{"psa", {10, 2}, {Row("psa", 10, 1), Row("psa", 10, 2)}}};
  ASSERT_TRUE(j->Append(b, nullptr).ok());
  std::vector<AppendBatch> again{{"psa", {10, 3}, {Row("psa", 10, 1), Row("psa", 10, 2), Row("psa", 10, 3)}}};
  AppendResult r;
  ASSERT_TRUE(j->Append(again, &r).ok());
  EXPECT_EQ(r.appended, 1u);
  EXPECT_EQ(r.duplicates, 2u);
  EXPECT_EQ(j->LastSeq(), 3u);
}

TEST_F(JournalTest, EmptyBatchAdvancesSourcePosition) {
  auto j = OpenJournal();
  std::vector<AppendBatch> b{{"psa", {99, UINT64_MAX}, {}}};
  ASSERT_TRUE(j->Append(b, nullptr).ok());
  EXPECT_EQ(*j->SourceDurable("psa"), (SourcePosition{99, UINT64_MAX}));
  EXPECT_EQ(j->LastSeq(), 0u);
}

TEST_F(JournalTest, SurvivesReopen) {
  {
    auto j = OpenJournal();
    std::vector<AppendBatch> b{{"psa", {5, 1}, {Row("psa", 5, 1)}}};
    ASSERT_TRUE(j->Append(b, nullptr).ok());
    ASSERT_TRUE(j->SetTargetApplied("erp", 1).ok());
    ASSERT_TRUE(j->PutMeta("k", "v").ok());
  }
  auto j = OpenJournal();
  EXPECT_EQ(j->LastSeq(), 1u);
  EXPECT_EQ(*j->TargetApplied("erp"), 1u);
  EXPECT_EQ(j->GetMeta("k")->value_or(""), "v");
  EXPECT_EQ(*j->SourceDurable("psa"), (SourcePosition{5, 1}));
}

// Streamed transactions (StreamSegment): staged events are out of the
// sequence until their commit, which places them in order at the commit LSN;
// an aborted subtransaction's events and an aborted transaction vanish.
class JournalStreamTest : public JournalTest {
 protected:
  static StreamSegment Seg(StreamSegment::Kind kind, uint32_t xid, uint32_t subxid = 0, uint64_t lsn = 0) {
    StreamSegment s;
    s.kind = kind;
    s.xid = xid;
    s.subxid = subxid == 0 ? xid : subxid;
    s.commit_lsn = lsn;
    s.commit_time_us = 1700000000000000;
    s.origin = "";
    return s;
  }
  // Stages rows {0, from..to} of transaction `xid` made by subtransaction `subxid`.
  static Status Stage(Journal* j, uint32_t xid, uint32_t subxid, uint64_t from, uint64_t to) {
    AppendBatch b{"psa", {}, {}};
    b.stream = Seg(StreamSegment::Kind::kStage, xid);
    for (uint64_t i = from; i <= to; ++i) {
      b.events.push_back(Row("psa", 0, i, "v" + std::to_string(i)));
      b.events.back().xid = subxid;
    }
    std::vector<AppendBatch> v{std::move(b)};
    return j->Append(v, nullptr);
  }
  static Status Commit(Journal* j, uint32_t xid, uint64_t lsn, uint64_t marker, AppendResult* r = nullptr) {
    AppendBatch b{"psa", {lsn, UINT64_MAX}, {}};
    b.stream = Seg(StreamSegment::Kind::kCommit, xid, xid, lsn);
    ChangeEvent c;
    c.source = "psa";
    c.op = Op::kCommit;
    c.position = {lsn, marker};
    b.events.push_back(c);
    std::vector<AppendBatch> v{std::move(b)};
    return j->Append(v, r);
  }
  static Status Drop(Journal* j, StreamSegment seg) {
    std::vector<AppendBatch> v{{"psa", {}, {}}};
    v[0].stream = seg;
    return j->Append(v, nullptr);
  }
};

TEST_F(JournalStreamTest, StagedEventsEnterTheSequenceAtTheirCommit) {
  auto j = OpenJournal();
  ASSERT_TRUE(Stage(j.get(), 700, 700, 1, 3).ok());
  EXPECT_EQ(j->LastSeq(), 0u) << "staged events are not readable before the commit";
  // A plain transaction commits while 700 is in progress: it comes first.
  std::vector<AppendBatch> plain{{"psa", {0x100, UINT64_MAX}, {Row("psa", 0x100, 1)}}};
  ASSERT_TRUE(j->Append(plain, nullptr).ok());
  ASSERT_TRUE(Stage(j.get(), 700, 700, 4, 5).ok());
  EXPECT_EQ(j->LastSeq(), 1u);
  EXPECT_EQ(*j->SourceDurable("psa"), (SourcePosition{0x100, UINT64_MAX}));
  AppendResult r;
  ASSERT_TRUE(Commit(j.get(), 700, 0x200, 6, &r).ok());
  EXPECT_EQ(r.appended, 6u);
  std::vector<JournalEntry> out;
  ASSERT_TRUE(j->Read(1, 100, &out).ok());
  ASSERT_EQ(out.size(), 7u);
  EXPECT_EQ(out[0].event.position, (SourcePosition{0x100, 1}));
  for (int i = 1; i <= 5; ++i) {
    const ChangeEvent& e = out[i].event;
    EXPECT_EQ(e.position, (SourcePosition{0x200, static_cast<uint64_t>(i)}));
    EXPECT_EQ(e.xid, 700u);
    EXPECT_EQ(e.commit_time_us, 1700000000000000);
    EXPECT_EQ(e.correlation_id, "psa:" + FormatPosition(e.position));
    ASSERT_EQ(e.after.size(), 2u);
    EXPECT_EQ(e.after[1].data, "v" + std::to_string(i));
  }
  EXPECT_EQ(out[6].event.op, Op::kCommit);
  EXPECT_EQ(*j->SourceDurable("psa"), (SourcePosition{0x200, UINT64_MAX}));
  // Committing again (a resent transaction) adds nothing.
  ASSERT_TRUE(Commit(j.get(), 700, 0x200, 6, &r).ok());
  EXPECT_EQ(j->LastSeq(), 7u);
}

TEST_F(JournalStreamTest, AbortsDropASubtransactionOrTheWholeTransaction) {
  auto j = OpenJournal();
  ASSERT_TRUE(Stage(j.get(), 800, 800, 1, 2).ok());
  ASSERT_TRUE(Stage(j.get(), 800, 801, 3, 4).ok());  // ROLLBACK TO SAVEPOINT drops these
  ASSERT_TRUE(Stage(j.get(), 800, 800, 5, 5).ok());
  ASSERT_TRUE(Stage(j.get(), 900, 900, 1, 3).ok());  // aborted as a whole
  ASSERT_TRUE(Drop(j.get(), Seg(StreamSegment::Kind::kAbort, 800, 801)).ok());
  ASSERT_TRUE(Drop(j.get(), Seg(StreamSegment::Kind::kAbort, 900, 900)).ok());
  ASSERT_TRUE(Commit(j.get(), 900, 0x280, 4).ok());  // nothing staged is left of 900
  ASSERT_TRUE(Commit(j.get(), 800, 0x300, 6).ok());
  std::vector<JournalEntry> out;
  ASSERT_TRUE(j->Read(1, 100, &out).ok());
  std::vector<uint64_t> ords;
  for (const auto& e : out)
    if (e.event.op == Op::kInsert) ords.push_back(e.event.position.ordinal);
  // Numbered as protocol 1 numbers the changes that survive: no gap.
  EXPECT_EQ(ords, (std::vector<uint64_t>{1, 2, 3}));
  EXPECT_EQ(out.back().event.op, Op::kCommit);
  EXPECT_EQ(out.back().event.position, (SourcePosition{0x300, 4}));
  for (const auto& e : out)
    if (e.event.op == Op::kInsert) {
      EXPECT_EQ(e.event.position.lsn, 0x300u);
    }
}

TEST_F(JournalStreamTest, ResetAndForgetDropWhatASourceStaged) {
  auto j = OpenJournal();
  ASSERT_TRUE(Stage(j.get(), 10, 10, 1, 2).ok());
  ASSERT_TRUE(Drop(j.get(), Seg(StreamSegment::Kind::kReset, 0)).ok());
  ASSERT_TRUE(Commit(j.get(), 10, 0x50, 3).ok());
  std::vector<JournalEntry> out;
  ASSERT_TRUE(j->Read(1, 100, &out).ok());
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].event.op, Op::kCommit);
  ASSERT_TRUE(Stage(j.get(), 11, 11, 1, 2).ok());
  ASSERT_TRUE(j->ForgetSource("psa").ok());
  ASSERT_TRUE(Commit(j.get(), 11, 0x60, 3).ok());
  ASSERT_TRUE(j->Read(2, 100, &out).ok());
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].event.op, Op::kCommit);
}

// A transaction larger than one move chunk: every event arrives, in order,
// and the journal survives reopening in between.
TEST_F(JournalStreamTest, LargeTransactionMovesInChunks) {
  constexpr uint64_t kRows = 10000;
  {
    auto j = OpenJournal(1 << 20, 1ull << 30);
    for (uint64_t from = 1; from <= kRows; from += 1000) ASSERT_TRUE(Stage(j.get(), 42, 42, from, from + 999).ok());
  }
  auto j = OpenJournal(1 << 20, 1ull << 30);
  AppendResult r;
  ASSERT_TRUE(Commit(j.get(), 42, 0x9000, kRows + 1, &r).ok());
  EXPECT_EQ(r.appended, kRows + 1);
  std::vector<JournalEntry> out;
  ASSERT_TRUE(j->Read(1, kRows + 10, &out).ok());
  ASSERT_EQ(out.size(), kRows + 1);
  for (uint64_t i = 0; i < kRows; ++i) ASSERT_EQ(out[i].event.position, (SourcePosition{0x9000, i + 1}));
}

// Compact records: each table's shape is written once; the records read
// back whole after a reopen, and a reader in another process that opened the
// journal before a new table's first record reads that record too.
TEST_F(JournalTest, CompactRecordsReadBackAcrossReopenAndProcesses) {
  {
    auto j = OpenJournal();
    ASSERT_TRUE(AppendOne(j.get(), 1, 50, "first").ok());
  }
  auto j = OpenJournal();
  std::vector<JournalEntry> out;
  ASSERT_TRUE(j->Read(1, 100, &out).ok());
  ASSERT_EQ(out.size(), 50u);
  EXPECT_EQ(out[49].event, Row("psa", 1, 50, "first"));
  int to_child[2], from_child[2];
  ASSERT_EQ(pipe(to_child), 0);
  ASSERT_EQ(pipe(from_child), 0);
  pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    // Opened before the new table's shape exists.
    JournalOptions o;
    o.path = dir_;
    o.create_if_missing = false;
    auto reader = Journal::Open(o);
    char go = 0;
    if (write(from_child[1], "r", 1) != 1 || read(to_child[0], &go, 1) != 1 || !reader.ok()) _exit(2);
    std::vector<JournalEntry> got;
    if (!(*reader)->Read(51, 10, &got).ok() || got.size() != 1) _exit(3);
    ChangeEvent want = Row("crm", 9, 1);
    want.table = "accounts";
    _exit(got[0].event == want ? 0 : 4);
  }
  char ready = 0;
  ASSERT_EQ(read(from_child[0], &ready, 1), 1);
  ChangeEvent other = Row("crm", 9, 1);
  other.table = "accounts";
  std::vector<AppendBatch> b{{"crm", {9, 1}, {other}}};
  ASSERT_TRUE(j->Append(b, nullptr).ok());
  ASSERT_EQ(write(to_child[1], "g", 1), 1);
  int status = 0;
  ASSERT_EQ(waitpid(pid, &status, 0), pid);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "child status " << status;
}

// A journal written before compact records (version 2 events) reads as it
// did, and new records are appended after its events.
TEST_F(JournalTest, VersionTwoRecordsOfAnOlderJournalStillRead) {
  {
    auto j = OpenJournal();
  }
  {
    // Two version 2 records, put as an older build wrote them.
    MDB_env* env = nullptr;
    MDB_txn* txn = nullptr;
    MDB_dbi dbi;
    ASSERT_EQ(mdb_env_create(&env), 0);
    ASSERT_EQ(mdb_env_set_maxdbs(env, 16), 0);
    ASSERT_EQ(mdb_env_open(env, dir_.c_str(), 0, 0644), 0);
    ASSERT_EQ(mdb_txn_begin(env, nullptr, 0, &txn), 0);
    ASSERT_EQ(mdb_dbi_open(txn, "events", 0, &dbi), 0);
    for (uint64_t seq = 1; seq <= 2; ++seq) {
      std::string rec, key(8, '\0');
      EncodeEvent(Row("psa", 3, seq, "old"), 1700000000000000, &rec);
      for (int i = 0; i < 8; ++i) key[i] = static_cast<char>((seq >> (8 * (7 - i))) & 0xff);
      MDB_val k{key.size(), key.data()}, v{rec.size(), rec.data()};
      ASSERT_EQ(mdb_put(txn, dbi, &k, &v, 0), 0);
    }
    ASSERT_EQ(mdb_txn_commit(txn), 0);
    mdb_env_close(env);
  }
  auto j = OpenJournal();
  ASSERT_TRUE(AppendOne(j.get(), 4, 1, "new").ok());
  std::vector<JournalEntry> out;
  ASSERT_TRUE(j->Read(1, 10, &out).ok());
  ASSERT_EQ(out.size(), 3u);
  EXPECT_EQ(out[0].event, Row("psa", 3, 1, "old"));
  EXPECT_EQ(out[1].event, Row("psa", 3, 2, "old"));
  EXPECT_EQ(out[0].journaled_at_us, 1700000000000000);
  EXPECT_EQ(out[2].seq, 3u);
  EXPECT_EQ(out[2].event, Row("psa", 4, 1, "new"));
}

// The puts after_append gives can be what does not fit: the journal grows
// the map and writes the whole transaction again, calling it again with the
// same seqs; what it wrote the first time is not there twice.
TEST_F(JournalTest, AfterAppendRunsAgainWhenItsPutsGrowTheMap) {
  auto j = OpenJournal(1 << 20, 64 << 20);
  std::vector<AppendBatch> b{{"psa", {8, 1}, {Row("psa", 8, 1)}}};
  SideWrites side;
  int calls = 0;
  std::vector<uint64_t> seen;
  side.after_append = [&](const AppendResult& r, std::vector<std::pair<std::string, std::string>>* puts) {
    ++calls;
    seen.push_back(r.seqs.at(0).at(0));
    puts->emplace_back("big", std::string(3 << 20, 'x'));  // more than the 1 MiB map holds
  };
  ASSERT_TRUE(j->AppendWithMeta(b, side, nullptr).ok());
  EXPECT_GE(calls, 2);
  for (uint64_t s : seen) EXPECT_EQ(s, 1u);
  EXPECT_EQ(j->LastSeq(), 1u);
  auto v = j->GetMeta("big");
  ASSERT_TRUE(v.ok() && v->has_value());
  EXPECT_EQ((*v)->size(), size_t{3} << 20);
}

// A forgotten source starts from nothing: its position and delivery ids go
// (in one transaction), its events stay, and other sources keep theirs.
TEST_F(JournalTest, ForgetSourceRemovesPositionAndDeliveryIdsOnly) {
  auto j = OpenJournal();
  auto delivered = [](const std::string& source, uint64_t ord, const std::string& id) {
    ChangeEvent e = Row(source, 0, ord);
    e.delivery_id = id;
    return e;
  };
  std::vector<AppendBatch> b{{"hook", {0, 2}, {delivered("hook", 1, "d1"), delivered("hook", 2, "d2")}},
                             {"hooka", {0, 1}, {delivered("hooka", 1, "d1")}},
                             {"psa", {10, 1}, {Row("psa", 10, 1)}}};
  ASSERT_TRUE(j->Append(b, nullptr).ok());
  auto had = j->ForgetSource("hook");
  ASSERT_TRUE(had.ok()) << had.status().ToString();
  EXPECT_EQ(*had, (SourcePosition{0, 2}));
  EXPECT_EQ(*j->SourceDurable("hook"), (SourcePosition{}));
  EXPECT_EQ(*j->SourceDurable("hooka"), (SourcePosition{0, 1}));
  EXPECT_EQ(*j->SourceDurable("psa"), (SourcePosition{10, 1}));
  EXPECT_EQ(j->LastSeq(), 4u) << "the forgotten source's events are history and stay";
  auto sources = j->Sources();
  ASSERT_TRUE(sources.ok());
  for (const auto& [name, pos] : *sources) EXPECT_NE(name, "hook");
  // The same positions and delivery ids are taken again; "hooka"'s id still dedups.
  std::vector<AppendBatch> again{{"hook", {0, 2}, {delivered("hook", 1, "d1"), delivered("hook", 2, "d2")}},
                                 {"hooka", {0, 2}, {delivered("hooka", 2, "d1")}}};
  AppendResult r;
  ASSERT_TRUE(j->Append(again, &r).ok());
  EXPECT_EQ(r.appended, 2u);
  EXPECT_EQ(r.duplicates, 1u);
  // Forgetting what is not there is no error; retention of old ids still works.
  EXPECT_EQ(*j->ForgetSource("nobody"), (SourcePosition{}));
  ASSERT_TRUE(j->ForgetSource("hook").ok());
  EXPECT_TRUE(j->Trim(0, NowMicros() + 1000000).ok());
}

TEST_F(JournalTest, MapGrowsWhenFull) {
  auto j = OpenJournal(1 << 20, 64 << 20);  // starts at 1 MiB
  std::string payload(4000, 'p');
  for (uint64_t t = 1; t <= 20; ++t) {
    std::vector<AppendBatch> b{{"psa", {t, 100}, {}}};
    for (uint64_t i = 1; i <= 100; ++i) b[0].events.push_back(Row("psa", t, i, payload));
    ASSERT_TRUE(j->Append(b, nullptr).ok()) << "batch " << t;
  }
  EXPECT_EQ(j->LastSeq(), 2000u);
  EXPECT_GT(j->Stats().map_size, 1u << 20);
}

TEST_F(JournalTest, FullMapIsBackPressureAndLosesNothing) {
  auto j = OpenJournal(1 << 20, 2 << 20);  // may grow to 2 MiB only
  std::string payload(4000, 'p');
  uint64_t accepted = 0;
  Status last;
  for (uint64_t t = 1; t <= 50; ++t) {
    std::vector<AppendBatch> b{{"psa", {t, 100}, {}}};
    for (uint64_t i = 1; i <= 100; ++i) b[0].events.push_back(Row("psa", t, i, payload));
    last = j->Append(b, nullptr);
    if (!last.ok()) break;
    accepted = t;
  }
  EXPECT_EQ(last.code(), StatusCode::kResourceExhausted);
  EXPECT_NE(last.message().find("journal"), std::string::npos);
  // Nothing of the refused batch was written; everything accepted is readable.
  EXPECT_EQ(j->LastSeq(), accepted * 100);
  EXPECT_EQ(*j->SourceDurable("psa"), (SourcePosition{accepted, 100}));
  std::vector<JournalEntry> out;
  ASSERT_TRUE(j->Read(1, 1000000, &out).ok());
  EXPECT_EQ(out.size(), accepted * 100);
  // After trimming applied events there is room again.
  ASSERT_TRUE(j->SetTargetApplied("erp", accepted * 100).ok());
  auto trimmed = j->Trim(accepted * 100, NowMicros() + 1);
  ASSERT_TRUE(trimmed.ok());
  EXPECT_EQ(*trimmed, accepted * 100 - 1);  // the newest stays
  std::vector<AppendBatch> b{{"psa", {1000, 1}, {Row("psa", 1000, 1, payload)}}};
  EXPECT_TRUE(j->Append(b, nullptr).ok());
  EXPECT_EQ(j->LastSeq(), accepted * 100 + 1);
}

// Small events fill the map page by page. Appends stop short of the last
// pages, so positions and the retention that frees space still get written.
TEST_F(JournalTest, FullMapOfSmallEventsStillTakesPositionsAndTrims) {
  auto j = OpenJournal(2 << 20, 2 << 20);
  uint64_t accepted = 0;
  Status last;
  for (uint64_t t = 1; t <= 2000 && last.ok(); ++t) {
    std::vector<AppendBatch> b{{"psa", {t, 50}, {}}};
    for (uint64_t i = 1; i <= 50; ++i) b[0].events.push_back(Row("psa", t, i, "small"));
    last = j->Append(b, nullptr);
    if (last.ok()) accepted = t;
  }
  ASSERT_EQ(last.code(), StatusCode::kResourceExhausted) << "the map never filled";
  ASSERT_GT(accepted, 10u);
  const uint64_t used_full = j->Stats().used_bytes;
  EXPECT_GE(j->Stats().map_size - used_full, 200u << 10) << "appends went into the housekeeping reserve";
  // Housekeeping writes still fit: the applied position, an exception, the trim.
  ASSERT_TRUE(j->SetTargetApplied("erp", accepted * 50).ok());
  ExceptionRecord x;
  x.target = "erp";
  x.seq = 7;
  x.reason = "refused";
  ASSERT_TRUE(j->PutException(x).ok());
  auto trimmed = j->Trim(*j->TargetApplied("erp"), NowMicros() + 1);
  ASSERT_TRUE(trimmed.ok()) << trimmed.status().ToString();
  EXPECT_GT(*trimmed, accepted * 25);
  EXPECT_LT(j->Stats().used_bytes, used_full);
  // And the journal takes events again, numbered on from where it stopped.
  std::vector<AppendBatch> b{{"psa", {accepted + 1, 1}, {Row("psa", accepted + 1, 1, "small")}}};
  ASSERT_TRUE(j->Append(b, nullptr).ok());
  EXPECT_EQ(j->LastSeq(), accepted * 50 + 1);
}

TEST_F(JournalTest, RetentionKeepsWhatATargetHasNotApplied) {
  auto j = OpenJournal();
  std::vector<AppendBatch> b{{"psa", {1, 5}, {}}};
  for (uint64_t i = 1; i <= 5; ++i) b[0].events.push_back(Row("psa", 1, i));
  ASSERT_TRUE(j->Append(b, nullptr).ok());
  ASSERT_TRUE(j->SetTargetApplied("erp", 3).ok());
  // "crm" has applied nothing: nothing may go.
  EXPECT_EQ(*j->ApplyRetention({"erp", "crm"}, NowMicros() + 30ll * 24 * 3600 * 1000000), 0u);
  EXPECT_EQ(*j->ApplyRetention({"erp"}, NowMicros() + 30ll * 24 * 3600 * 1000000), 3u);
  // Inside the replay window nothing goes.
  ASSERT_TRUE(j->SetTargetApplied("erp", 5).ok());
  EXPECT_EQ(*j->ApplyRetention({"erp"}, NowMicros()), 0u);
  EXPECT_EQ(j->Stats().first_seq, 4u);
}

TEST_F(JournalTest, ExceptionsRoundTripAndFilterByState) {
  auto j = OpenJournal();
  ExceptionRecord r;
  r.target = "erp";
  r.seq = 17;
  r.reason = "time_entries id=5: null value in column \"hours\"";
  r.code = "23502";
  r.new_image = "{\"id\":5}";
  r.created_us = 1;
  ASSERT_TRUE(j->PutException(r).ok());
  r.seq = 18;
  r.state = ExceptionState::kDiscarded;
  r.actor = "ana";
  ASSERT_TRUE(j->PutException(r).ok());
  auto open = j->Exceptions(ExceptionState::kOpen);
  ASSERT_TRUE(open.ok());
  ASSERT_EQ(open->size(), 1u);
  EXPECT_EQ((*open)[0].seq, 17u);
  EXPECT_EQ((*open)[0].code, "23502");
  auto one = j->GetException("erp", 18);
  ASSERT_TRUE(one.ok() && one->has_value());
  EXPECT_EQ((*one)->actor, "ana");
  EXPECT_EQ(j->Exceptions(std::nullopt)->size(), 2u);
}

TEST_F(JournalTest, WaitForWakesOnAppend) {
  auto j = OpenJournal();
  std::thread writer([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    std::vector<AppendBatch> b{{"psa", {1, 1}, {Row("psa", 1, 1)}}};
    ASSERT_TRUE(j->Append(b, nullptr).ok());
  });
  EXPECT_TRUE(j->WaitFor(1, std::chrono::milliseconds(5000)));
  writer.join();
  EXPECT_FALSE(j->WaitFor(2, std::chrono::milliseconds(20)));
}

// A batch far larger than the housekeeping reserve, appended right after the
// retention that made room for it: the pages retention freed must be usable
// by the very next write, not only after some unrelated later commit.
TEST_F(JournalTest, FullMapTakesALargeBatchRightAfterRetention) {
  auto j = OpenJournal(2 << 20, 2 << 20);
  const std::string payload(900, 'p');
  uint64_t t = 0;
  Status last;
  const uint64_t accepted = FillUntilFull(j.get(), &t, 20, payload, &last);
  ASSERT_EQ(last.code(), StatusCode::kResourceExhausted) << "the map never filled";
  ASSERT_GT(accepted, 1000u);
  ASSERT_TRUE(j->SetTargetApplied("erp", accepted).ok());
  auto trimmed = j->Trim(*j->TargetApplied("erp"), NowMicros() + 1);
  ASSERT_TRUE(trimmed.ok()) << trimmed.status().ToString();
  ASSERT_EQ(*trimmed, accepted - 1);
  // About 700 KiB in one transaction: nearly three times the reserve.
  Status big = AppendOne(j.get(), ++t, 700, payload);
  ASSERT_TRUE(big.ok()) << big.ToString();
  // And the whole map is usable again, not just the first batch's worth.
  const uint64_t again = FillUntilFull(j.get(), &t, 20, payload, &last);
  EXPECT_EQ(last.code(), StatusCode::kResourceExhausted);
  EXPECT_GT(700 + again, accepted * 9 / 10);
}

// A read transaction older than the trim keeps the pages the trim freed:
// LMDB reuses a freed page only once no reader can still see it. The free
// space the journal reports must not count them, appends must be refused
// (not fail mid-transaction) while the reader lasts, and must resume once
// it ends.
TEST_F(JournalTest, LongReaderHoldsFreedPagesUntilItEnds) {
  auto j = OpenJournal(2 << 20, 2 << 20);
  const std::string payload(900, 'p');
  uint64_t t = 0;
  Status last;
  const uint64_t accepted = FillUntilFull(j.get(), &t, 20, payload, &last);
  ASSERT_EQ(last.code(), StatusCode::kResourceExhausted) << "the map never filled";
  ASSERT_TRUE(j->SetTargetApplied("erp", accepted).ok());
  const uint64_t used_full = j->Stats().used_bytes;

  // Another thread scans the meta store and stalls inside the scan, so its
  // read snapshot predates the trim below.
  std::promise<void> inside, release;
  std::shared_future<void> released = release.get_future().share();
  std::thread reader([&] {
    bool signalled = false;
    Status st = j->ScanMeta("", [&](std::string_view, std::string_view) {
      if (!signalled) {
        signalled = true;
        inside.set_value();
        released.wait();
      }
      return true;
    });
    EXPECT_TRUE(st.ok()) << st.ToString();
  });
  bool ended = false;
  auto end_reader = [&] {
    if (ended) return;
    ended = true;
    release.set_value();
    reader.join();
  };
  // Ends the reader on every way out, failed assertions included.
  struct Guard {
    std::function<void()> f;
    ~Guard() { f(); }
  } guard{[&] { end_reader(); }};
  inside.get_future().wait();
  auto trimmed = j->Trim(*j->TargetApplied("erp"), NowMicros() + 1);
  ASSERT_TRUE(trimmed.ok()) << trimmed.status().ToString();
  ASSERT_EQ(*trimmed, accepted - 1);
  // The reader still sees the trimmed events, so their pages are not free.
  EXPECT_GT(j->Stats().used_bytes, used_full * 9 / 10);
  Status pinned = AppendOne(j.get(), ++t, 700, payload);
  EXPECT_EQ(pinned.code(), StatusCode::kResourceExhausted) << pinned.ToString();
  EXPECT_NE(pinned.message().find("read transaction of pid " + std::to_string(getpid())), std::string::npos)
      << pinned.message();
  if (!pinned.ok()) --t;
  end_reader();
  // The reader is gone: the same batch fits, and so does a map's worth more.
  EXPECT_LT(j->Stats().used_bytes, used_full / 4);
  Status big = AppendOne(j.get(), ++t, 700, payload);
  ASSERT_TRUE(big.ok()) << big.ToString();
  const uint64_t again = FillUntilFull(j.get(), &t, 20, payload, &last);
  EXPECT_GT(700 + again, accepted * 9 / 10);
}

// A process that was killed while reading leaves its reader slot behind; the
// slot's old snapshot would keep every page freed since. The journal clears
// such slots when it meets a full map, so retention's space is usable.
TEST_F(JournalTest, ReaderSlotOfAKilledProcessDoesNotHoldSpace) {
  auto j = OpenJournal(2 << 20, 2 << 20);
  const std::string payload(900, 'p');
  uint64_t t = 0;
  Status last;
  const uint64_t accepted = FillUntilFull(j.get(), &t, 20, payload, &last);
  ASSERT_EQ(last.code(), StatusCode::kResourceExhausted) << "the map never filled";
  ASSERT_TRUE(j->SetTargetApplied("erp", accepted).ok());

  // A child process opens the journal read-only, begins a read transaction,
  // says so, and waits to be killed.
  int ready[2];
  ASSERT_EQ(pipe(ready), 0);
  pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    close(ready[0]);
    MDB_env* env = nullptr;
    MDB_txn* txn = nullptr;
    char ok = 'n';
    if (mdb_env_create(&env) == 0 && mdb_env_set_maxdbs(env, 16) == 0 &&
        mdb_env_open(env, dir_.c_str(), MDB_RDONLY | MDB_NOTLS, 0644) == 0 &&
        mdb_txn_begin(env, nullptr, MDB_RDONLY, &txn) == 0)
      ok = 'y';
    if (write(ready[1], &ok, 1) != 1) _exit(1);
    for (;;) pause();
  }
  close(ready[1]);
  char ok = 0;
  ASSERT_EQ(read(ready[0], &ok, 1), 1);
  close(ready[0]);
  ASSERT_EQ(ok, 'y') << "the child could not open the journal";
  auto trimmed = j->Trim(*j->TargetApplied("erp"), NowMicros() + 1);
  ASSERT_TRUE(trimmed.ok()) << trimmed.status().ToString();
  ASSERT_EQ(*trimmed, accepted - 1);
  ASSERT_EQ(kill(child, SIGKILL), 0);
  int wstatus = 0;
  ASSERT_EQ(waitpid(child, &wstatus, 0), child);
  Status big = AppendOne(j.get(), ++t, 700, payload);
  ASSERT_TRUE(big.ok()) << big.ToString();
  const uint64_t again = FillUntilFull(j.get(), &t, 20, payload, &last);
  EXPECT_GT(700 + again, accepted * 9 / 10);
}

// A journal on a file system without room for its initial map is a clear
// error at open, not SIGBUS from LMDB touching its mapped lock file.
TEST_F(JournalTest, FullFileSystemAtOpenIsAnError) {
  const std::string mnt = dir_ + "/small";
  std::filesystem::create_directories(mnt);
  if (std::system(("mount -t tmpfs -o size=1m tmpfs " + mnt + " 2>/dev/null").c_str()) != 0)
    GTEST_SKIP() << "cannot mount a 1 MiB tmpfs here (needs root); the full-disk check is not exercised";
  JournalOptions o;
  o.path = mnt + "/journal";
  o.map_size = 1ull << 30;
  auto j = Journal::Open(o);
  ASSERT_FALSE(j.ok());
  EXPECT_TRUE(j.status().IsResourceExhausted()) << j.status().ToString();
  EXPECT_NE(j.status().message().find("no space left on device at " + o.path + ", need "), std::string::npos)
      << j.status().ToString();
  // Filled to the last byte, even the lock file has no room.
  std::system(("dd if=/dev/zero of=" + mnt + "/fill bs=4k 2>/dev/null").c_str());
  o.map_size = 0;
  auto full = Journal::Open(o);
  EXPECT_FALSE(full.ok());
  if (!full.ok()) {
    EXPECT_NE(full.status().message().find("no space left on device"), std::string::npos) << full.status().ToString();
  }
  std::filesystem::remove(mnt + "/fill");
  // With room for a small map it opens and takes writes.
  o.map_size = 256 << 10;
  o.max_map_size = 512 << 10;
  auto ok = Journal::Open(o);
  EXPECT_TRUE(ok.ok()) << ok.status().ToString();
  ok = Status::Cancelled("closed");
  std::system(("umount " + mnt).c_str());
}

// A meta reader answers from the snapshot it opened: later writes are not seen
// through it, and a new reader sees them.
TEST_F(JournalTest, MetaReaderReadsOneSnapshot) {
  auto j = OpenJournal();
  ASSERT_TRUE(j->PutMeta("k:1", "one").ok());
  ASSERT_TRUE(j->PutMeta("k:2", "two").ok());
  auto r = j->ReadMeta();
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  ASSERT_TRUE(j->PutMeta("k:1", "changed").ok());
  ASSERT_TRUE(j->PutMeta("k:3", "three").ok());
  auto v = (*r)->Get("k:1");
  ASSERT_TRUE(v.ok() && v->has_value());
  EXPECT_EQ(**v, "one");
  EXPECT_FALSE((*r)->Get("k:3")->has_value());
  std::vector<std::string> seen;
  ASSERT_TRUE((*r)->Scan("k:", [&](std::string_view k, std::string_view val) {
    seen.push_back(std::string(k) + "=" + std::string(val));
    return true;
  }).ok());
  EXPECT_EQ(seen, (std::vector<std::string>{"k:1=one", "k:2=two"}));
  r->reset();
  auto fresh = j->ReadMeta();
  ASSERT_TRUE(fresh.ok());
  EXPECT_EQ(**(*fresh)->Get("k:1"), "changed");
  EXPECT_EQ(**(*fresh)->Get("k:3"), "three");
}

// A reader's position recorded beside a batch is written in its transaction.
TEST_F(JournalTest, AppendWithMetaRecordsTargetPositions) {
  auto j = OpenJournal();
  std::vector<AppendBatch> batches{{"src", {1, 1}, {Row("src", 1, 1)}}};
  SideWrites side;
  side.meta_puts.emplace_back("router.seq", "1");
  side.targets_applied.emplace_back("router", 1);
  ASSERT_TRUE(j->AppendWithMeta(batches, side, nullptr).ok());
  auto applied = j->TargetApplied("router");
  ASSERT_TRUE(applied.ok());
  EXPECT_EQ(*applied, 1u);
  auto targets = j->Targets();
  ASSERT_TRUE(targets.ok());
  ASSERT_EQ(targets->size(), 1u);
  EXPECT_EQ((*targets)[0].first, "router");
}

}  // namespace
}  // namespace handoff
