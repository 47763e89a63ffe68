// CaptureSession against a real PostgreSQL and a fake engine whose
// acknowledgements the test controls: the flush LSN never passes what the
// engine acknowledged, and an engine that stops acknowledging ends the session.
#include "capture_session.h"

#include <gtest/gtest.h>

#include <deque>
#include <limits>
#include <mutex>
#include <set>
#include <thread>

#include "capture_harness.h"

namespace handoff::testing {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;
constexpr uint64_t kMax = std::numeric_limits<uint64_t>::max();

// Thread-safety: all members guarded by mu_ (the session thread calls the
// AgentClient methods, the test thread inspects and steers).
class FakeAgentClient final : public AgentClient {
 public:
  SourcePosition hello;
  std::atomic<bool> ack{true};

  Result<SourcePosition> Hello() override {
    std::lock_guard<std::mutex> l(mu_);
    durable_ = std::max(durable_, hello);
    return hello;
  }
  Status Send(AppendBatch batch) override {
    std::lock_guard<std::mutex> l(mu_);
    // The staged parts of a streamed transaction (and a session's reset)
    // move no position; every other batch moves it forward.
    const bool staged = batch.stream && batch.stream->kind != StreamSegment::Kind::kCommit;
    if (!session_sent_.empty() && !staged) {
      EXPECT_LT(session_sent_.back(), batch.upto) << "batch positions must grow";
    }
    if (!staged) {
      for (const auto& e : batch.events) EXPECT_LE(e.position, batch.upto);
    }
    if (!staged) session_sent_.push_back(batch.upto);
    inflight_.push_back({batch.upto, std::chrono::steady_clock::now()});
    sent_.push_back(std::move(batch));
    return Status::OK();
  }
  Status Poll(milliseconds wait) override {
    if (wait.count() > 0) std::this_thread::sleep_for(std::min(wait, milliseconds(2)));
    std::lock_guard<std::mutex> l(mu_);
    if (ack) {
      for (const auto& f : inflight_) durable_ = std::max(durable_, f.upto);
      inflight_.clear();
    }
    return Status::OK();
  }
  bool HasCredit() const override { return InFlight() < 4; }
  size_t InFlight() const override {
    std::lock_guard<std::mutex> l(mu_);
    return inflight_.size();
  }
  SourcePosition Durable() const override {
    std::lock_guard<std::mutex> l(mu_);
    return durable_;
  }
  const std::string& State() const override { return state_; }
  milliseconds OldestInFlightAge() const override {
    std::lock_guard<std::mutex> l(mu_);
    if (inflight_.empty()) return milliseconds(0);
    return std::chrono::duration_cast<milliseconds>(std::chrono::steady_clock::now() - inflight_.front().sent);
  }
  Status Reset() override {
    std::lock_guard<std::mutex> l(mu_);
    inflight_.clear();
    session_sent_.clear();
    return Status::OK();
  }
  std::vector<AppendBatch> Sent() const {
    std::lock_guard<std::mutex> l(mu_);
    return sent_;
  }

 private:
  std::string state_;
  struct Pending {
    SourcePosition upto;
    std::chrono::steady_clock::time_point sent;
  };
  mutable std::mutex mu_;
  std::deque<Pending> inflight_;
  std::vector<SourcePosition> session_sent_;
  std::vector<AppendBatch> sent_;
  SourcePosition durable_;
};

// Runs one CaptureSession on a thread.
class SessionThread {
 public:
  explicit SessionThread(CaptureSessionContext ctx) : session_(std::move(ctx)) {
    thread_ = std::thread([this] {
      result_ = session_.Run();
      done_ = true;
    });
  }
  ~SessionThread() { thread_.join(); }
  bool done() const { return done_; }
  const Status& result() const { return result_; }

 private:
  CaptureSession session_;
  Status result_;
  std::atomic<bool> done_{false};
  std::thread thread_;
};

class CaptureSessionTest : public CaptureTest {
 protected:
  CaptureSessionContext Context() {
    options_ = Options({"public.q"});
    options_.status_interval = milliseconds(50);
    CaptureSessionContext ctx;
    ctx.options = &options_;
    ctx.slot = slot();
    ctx.publication = slot();
    ctx.tables = {TableName{"public", "q", {}}};
    ctx.counters = &counters_;
    ctx.stop = &stop_;
    ctx.client = &client_;
    ctx.ack_timeout = seconds(3);
    return ctx;
  }
  PgCaptureOptions options_;
  CaptureCounters counters_;
  std::atomic<bool> stop_{false};
  FakeAgentClient client_;
};

std::set<int> InsertedIds(const std::vector<AppendBatch>& batches) {
  std::set<int> ids;
  for (const auto& b : batches)
    for (const auto& e : b.events)
      if (e.op == Op::kInsert) ids.insert(std::stoi(e.FindAfter("id")->data));
  return ids;
}

// A journal holding nothing of the source: a slot of its name is someone
// else's and is kept (the session is refused); without one, the slot marker
// is acknowledged before the slot is created, then the attempt begins.
TEST_F(CaptureSessionTest, ForeignSlotIsKeptAndTheSlotMarkerComesFirst) {
  Sql("CREATE TABLE q(id int PRIMARY KEY)");
  Sql("SELECT pg_create_logical_replication_slot('" + slot() + "', 'pgoutput')");
  {
    SessionThread s(Context());
    ASSERT_TRUE(WaitUntil([&] { return s.done(); }, seconds(20)));
    EXPECT_EQ(s.result().code(), StatusCode::kConflict) << s.result().ToString();
    EXPECT_NE(s.result().message().find("handoff source drop"), std::string::npos) << s.result().ToString();
  }
  EXPECT_TRUE(client_.Sent().empty());
  EXPECT_EQ(Scalar("SELECT count(*) FROM pg_replication_slots WHERE slot_name = '" + slot() + "'"), "1");
  Sql("SELECT pg_drop_replication_slot('" + slot() + "')");
  {
    SessionThread s(Context());
    ASSERT_TRUE(WaitUntil([&] { return client_.Sent().size() >= 2; }, seconds(20)));
    stop_ = true;
  }
  auto sent = client_.Sent();
  EXPECT_EQ(sent[0].upto, (SourcePosition{0, 1}));
  EXPECT_EQ(sent[1].upto, (SourcePosition{0, uint64_t{1} << 40}));
}

TEST_F(CaptureSessionTest, FlushNeverPassesWhatTheEngineAcknowledged) {
  Sql("CREATE TABLE q(id int PRIMARY KEY)");
  client_.ack = false;
  // The slot marker is durable already (a journal holding nothing waits for
  // it to be acknowledged before it creates the slot).
  client_.hello = {0, 1};
  uint64_t initial = 0;
  {
    SessionThread s(Context());
    ASSERT_TRUE(WaitUntil([&] { return !client_.Sent().empty(); }, seconds(20)));
    initial = ConfirmedFlush();
    ASSERT_GT(initial, 0u);
    for (int i = 1; i <= 5; ++i) Sql("INSERT INTO q VALUES (" + std::to_string(i) + ")");
    ASSERT_TRUE(WaitUntil([&] { return s.done(); }, seconds(20)));
    EXPECT_EQ(s.result().code(), StatusCode::kUnavailable) << s.result().ToString();
    EXPECT_NE(s.result().message().find("has not acknowledged"), std::string::npos) << s.result().ToString();
  }
  // Nothing was durable, so nothing may have been confirmed.
  EXPECT_EQ(ConfirmedFlush(), initial);
  EXPECT_EQ(counters_.confirmed_lsn.load(), 0u);
  auto sent = client_.Sent();
  ASSERT_GE(sent.size(), 3u);
  EXPECT_TRUE(sent[0].events.empty());
  EXPECT_EQ(sent[0].upto, (SourcePosition{0, uint64_t{1} << 40}));  // snapshot attempt 1 began
  EXPECT_TRUE(sent[1].events.empty());
  EXPECT_EQ(sent[1].upto, (SourcePosition{0, kMax}));  // the snapshot-end marker
  EXPECT_EQ(InsertedIds(sent), (std::set<int>{1, 2, 3, 4, 5}));
  // Once a transaction's Commit is seen, the batch covers the whole of it.
  EXPECT_EQ(sent.back().upto.ordinal, kMax);
  EXPECT_EQ(sent.back().events.back().op, Op::kCommit);

  // The engine comes back holding only the snapshot marker: the slot resends.
  client_.ack = true;
  ASSERT_TRUE(client_.Reset().ok());
  client_.hello = {0, kMax};
  SessionThread s(Context());
  for (int i = 6; i <= 8; ++i) Sql("INSERT INTO q VALUES (" + std::to_string(i) + ")");
  uint64_t after = ParseLsn(Scalar("SELECT pg_current_wal_insert_lsn()"));
  EXPECT_TRUE(WaitUntil([&] { return ConfirmedFlush() >= after; }, seconds(20)))
      << FormatLsn(ConfirmedFlush()) << " < " << FormatLsn(after);
  auto all = client_.Sent();
  std::vector<AppendBatch> second(all.begin() + static_cast<std::ptrdiff_t>(sent.size()), all.end());
  EXPECT_EQ(InsertedIds(second), (std::set<int>{1, 2, 3, 4, 5, 6, 7, 8}));
  stop_ = true;
  ASSERT_TRUE(WaitUntil([&] { return s.done(); }, seconds(2)));
  EXPECT_EQ(s.result().code(), StatusCode::kCancelled);
}

}  // namespace
}  // namespace handoff::testing
