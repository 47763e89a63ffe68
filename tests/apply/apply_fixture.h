// Test fixture for the PostgreSQL applier: one throwaway PostgreSQL server per
// test binary, a fresh database and journal per test, helpers that build
// source transactions and run a PgApplier on its own thread.
//
// Thread-safety: test-thread only, except RunningApplier which owns its thread.
#pragma once

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "handoff/apply/pg_applier.h"
#include "handoff/engine/journal.h"
#include "pg_server.h"

namespace handoff::testing {

// Column helpers: text value, NULL, unchanged TOAST.
inline Column T(const std::string& name, const std::string& value) {
  return {name, 25, Column::Kind::kText, value};
}
inline Column N(const std::string& name) { return {name, 25, Column::Kind::kNull, ""}; }
inline Column U(const std::string& name) { return {name, 25, Column::Kind::kUnchangedToast, ""}; }

inline ChangeEvent Change(Op op, const std::string& table, std::vector<Column> after,
                          std::vector<Column> before = {}) {
  ChangeEvent e;
  e.schema = "public";
  e.table = table;
  e.op = op;
  e.key_columns = {"id"};
  e.after = std::move(after);
  e.has_before = !before.empty();
  e.before = std::move(before);
  return e;
}

// Stamps events of one PostgreSQL-like source: each transaction gets a new
// commit LSN, ordinals from 1, an xid and a trailing kCommit event.
class SourceFeed {
 public:
  explicit SourceFeed(std::string name) : name_(std::move(name)) {}
  // A whole transaction (with kCommit), or only its changes when !commit
  // (then Commit() later yields the kCommit of that same transaction).
  std::vector<ChangeEvent> Txn(std::vector<ChangeEvent> changes, bool commit = true) {
    lsn_ += 1000;
    ++xid_;
    ord_ = 0;
    for (auto& e : changes) Stamp(&e);
    if (commit) changes.push_back(Commit());
    return changes;
  }
  ChangeEvent Commit() {
    ChangeEvent c;
    c.op = Op::kCommit;
    Stamp(&c);
    return c;
  }
  const std::string& name() const { return name_; }

 private:
  void Stamp(ChangeEvent* e) {
    e->source = name_;
    e->source_kind = SourceKind::kPostgres;
    e->position = {lsn_, ++ord_};
    e->xid = xid_;
    e->commit_time_us = 1700000000000000 + static_cast<int64_t>(lsn_);
  }
  std::string name_;
  uint64_t lsn_ = 0, ord_ = 0, xid_ = 700;
};

// A PgApplier running Run() on its own thread; stopped by the destructor.
class RunningApplier {
 public:
  explicit RunningApplier(PgApplierOptions options) {
    auto a = PgApplier::Create(std::move(options));
    EXPECT_TRUE(a.ok()) << a.status().ToString();
    applier_ = std::move(a).value();
    thread_ = std::thread([this] {
      status_ = applier_->Run();
      done_ = true;
    });
  }
  ~RunningApplier() { (void)Stop(); }
  Status Stop() {
    if (thread_.joinable()) {
      applier_->Stop();
      thread_.join();
    }
    return status_;
  }
  bool done() const { return done_; }
  const ApplyCounters& counters() const { return applier_->counters(); }

 private:
  std::unique_ptr<PgApplier> applier_;
  std::thread thread_;
  Status status_;
  std::atomic<bool> done_{false};
};

// Polls `pred` every 20 ms until it holds or `timeout` passes.
inline bool WaitUntil(const std::function<bool()>& pred, std::chrono::milliseconds timeout = std::chrono::seconds(60)) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (pred()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return pred();
}

// The one server of this binary, started by a GoogleTest Environment before
// the first test and stopped after the last (apply_fixture.cc).
PgServer* SharedServer();

class ApplyTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { server_ = SharedServer(); }

  void SetUp() override {
    static int counter = 0;
    db_ = "apply_" + std::to_string(++counter);
    ASSERT_TRUE(server_->CreateDatabase(db_).ok());
    char tmpl[] = "/tmp/handoff-apply-journal-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    journal_dir_ = tmpl;
    JournalOptions o;
    o.path = journal_dir_;
    o.map_size = 256ull << 20;
    auto j = Journal::Open(o);
    ASSERT_TRUE(j.ok()) << j.status().ToString();
    journal_ = std::move(j).value();
  }
  void TearDown() override {
    journal_.reset();
    std::filesystem::remove_all(journal_dir_);
  }

  void Sql(const std::string& sql) {
    Status st = server_->Exec(db_, sql);
    ASSERT_TRUE(st.ok()) << sql << ": " << st.ToString();
  }
  std::string Dump(const std::string& sql) { return server_->Dump(db_, sql); }
  int64_t Count(const std::string& sql) {
    auto rows = server_->Query(db_, sql);
    if (!rows.ok() || rows->empty()) return -1;
    return std::stoll((*rows)[0][0]);
  }

  // Journals `events` of one source in one batch.
  uint64_t Append(const std::vector<ChangeEvent>& events) {
    std::vector<AppendBatch> batches{{events.front().source, events.back().position, events}};
    AppendResult r;
    Status st = journal_->Append(batches, &r);
    EXPECT_TRUE(st.ok()) << st.ToString();
    EXPECT_EQ(r.appended, events.size());
    return r.last_seq;
  }

  // Options for target "erp" on this test's database, routing `tables` of
  // source "psa" (and "crm") to public tables of the same name.
  PgApplierOptions Options(const std::vector<std::string>& tables) {
    PgApplierOptions o;
    o.target.name = "erp";
    o.target.kind = "postgres";
    o.target.dsn = *ConnParams::Parse(server_->Dsn(db_));
    o.journal = journal_.get();
    o.min_backoff = std::chrono::milliseconds(50);
    o.max_backoff = std::chrono::milliseconds(500);
    for (const auto& source : {"psa", "crm"})
      for (const auto& t : tables) o.routes.push_back({source, "public", t, "erp", "public", t});
    return o;
  }

  bool WaitApplied(const RunningApplier& a, uint64_t seq, std::chrono::milliseconds timeout = std::chrono::seconds(60)) {
    return WaitUntil([&] { return a.counters().applied_seq.load() >= seq; }, timeout);
  }

  static inline PgServer* server_ = nullptr;
  std::string db_;
  std::string journal_dir_;
  std::unique_ptr<Journal> journal_;
};

}  // namespace handoff::testing
