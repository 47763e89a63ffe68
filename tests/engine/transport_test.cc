#include "handoff/engine/transport.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <thread>

#include "handoff/engine/clock.h"

namespace handoff {
namespace {

class TransportTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/handoff-transport-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    JournalOptions o;
    o.path = dir_;
    journal_ = std::move(Journal::Open(o)).value();
    ctx_ = TransportContext::Create();
  }
  void TearDown() override {
    StopServer();
    std::filesystem::remove_all(dir_);
  }
  void StartServer(const std::string& endpoint) {
    IntakeOptions o;
    o.endpoints = {endpoint};
    server_ = std::move(IntakeServer::Create(ctx_, journal_.get(), o)).value();
    thread_ = std::thread([this] { EXPECT_TRUE(server_->Run().ok()); });
  }
  void StopServer() {
    if (!server_) return;
    server_->Stop();
    thread_.join();
    server_.reset();
  }
  static AppendBatch Batch(uint64_t lsn, int n) {
    AppendBatch b{"psa", {lsn, static_cast<uint64_t>(n)}, {}};
    for (int i = 1; i <= n; ++i) {
      ChangeEvent e;
      e.source = "psa";
      e.position = {lsn, static_cast<uint64_t>(i)};
      e.table = "t";
      e.after = {{"id", 23, Column::Kind::kText, std::to_string(i)}};
      b.events.push_back(e);
    }
    return b;
  }
  // Polls until nothing is in flight or the deadline passes.
  static bool Drain(AgentClient* c) {
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (c->InFlight() > 0 && std::chrono::steady_clock::now() < deadline)
      EXPECT_TRUE(c->Poll(std::chrono::milliseconds(50)).ok());
    return c->InFlight() == 0;
  }

  std::string dir_;
  std::unique_ptr<Journal> journal_;
  std::shared_ptr<TransportContext> ctx_;
  std::unique_ptr<IntakeServer> server_;
  std::thread thread_;
};

TEST_F(TransportTest, BatchesAreJournaledAndAcknowledgedInproc) {
  StartServer("inproc://t1");
  auto c = std::move(AgentClient::Connect(ctx_, {"inproc://t1", "psa", 2})).value();
  auto hello = c->Hello();
  ASSERT_TRUE(hello.ok()) << hello.status().ToString();
  EXPECT_TRUE(hello->IsZero());
  ASSERT_TRUE(c->Send(Batch(10, 3)).ok());
  ASSERT_TRUE(c->Send(Batch(11, 2)).ok());
  EXPECT_FALSE(c->HasCredit());
  ASSERT_TRUE(Drain(c.get()));
  EXPECT_EQ(c->Durable(), (SourcePosition{11, 2}));
  EXPECT_EQ(journal_->LastSeq(), 5u);
  EXPECT_EQ(server_->counters().events.load(), 5u);
}

TEST_F(TransportTest, ResendAfterEngineRestartIsDeduplicatedOverIpc) {
  std::string ep = "ipc://" + dir_ + "/intake.sock";
  StartServer(ep);
  auto c = std::move(AgentClient::Connect(ctx_, {ep, "psa", 4})).value();
  ASSERT_TRUE(c->Hello().ok());
  ASSERT_TRUE(c->Send(Batch(10, 3)).ok());
  ASSERT_TRUE(Drain(c.get()));
  // The engine restarts; the agent resets and resends from an older position.
  StopServer();
  StartServer(ep);
  ASSERT_TRUE(c->Reset().ok());
  auto hello = c->Hello();
  ASSERT_TRUE(hello.ok()) << hello.status().ToString();
  EXPECT_EQ(*hello, (SourcePosition{10, 3}));
  ASSERT_TRUE(c->Send(Batch(10, 3)).ok());
  ASSERT_TRUE(c->Send(Batch(12, 1)).ok());
  ASSERT_TRUE(Drain(c.get()));
  EXPECT_EQ(journal_->LastSeq(), 4u);
  EXPECT_EQ(server_->counters().duplicates.load(), 3u);
}

TEST_F(TransportTest, HelloTimesOutWithoutEngine) {
  AgentClientOptions o{"inproc://nobody", "psa", 2, std::chrono::milliseconds(200)};
  auto c = std::move(AgentClient::Connect(ctx_, o)).value();
  auto hello = c->Hello();
  ASSERT_FALSE(hello.ok());
  EXPECT_EQ(hello.status().code(), StatusCode::kUnavailable);
}

// A group of batches that no longer fits a full journal as a whole is
// journaled in parts: the batch that fits is acknowledged at once instead of
// the whole group waiting for room it may never get.
TEST_F(TransportTest, FullJournalTakesTheBatchesOfAGroupThatFit) {
  std::string dir = dir_ + "/small";
  JournalOptions jo;
  jo.path = dir;
  jo.map_size = jo.max_map_size = 2 << 20;
  jo.retention_us = 0;
  auto journal = std::move(Journal::Open(jo)).value();
  IntakeOptions o;
  o.endpoints = {"inproc://t-full"};
  o.max_wait = std::chrono::milliseconds(1000);  // both batches land in one group
  auto server = std::move(IntakeServer::Create(ctx_, journal.get(), o)).value();
  std::thread run([&] { EXPECT_TRUE(server->Run().ok()); });
  auto c = std::move(AgentClient::Connect(ctx_, {"inproc://t-full", "psa", 2})).value();
  ASSERT_TRUE(c->Hello().ok());
  // 100 values of 9000 bytes, three pages each: about 1.2 MiB per batch, so
  // one fits the 2 MiB map and two do not.
  auto big = [](uint64_t lsn) {
    AppendBatch b = Batch(lsn, 100);
    for (auto& e : b.events) e.after.push_back({"v", 25, Column::Kind::kText, std::string(9000, 'v')});
    return b;
  };
  ASSERT_TRUE(c->Send(big(10)).ok());
  ASSERT_TRUE(c->Send(big(11)).ok());
  auto wait_durable = [&](SourcePosition want) {
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
    while (c->Durable() < want && std::chrono::steady_clock::now() < deadline)
      EXPECT_TRUE(c->Poll(std::chrono::milliseconds(50)).ok());
    return !(c->Durable() < want);
  };
  EXPECT_TRUE(wait_durable({10, 100})) << "the batch that fits was held with the group";
  EXPECT_EQ(journal->LastSeq(), 100u);
  EXPECT_EQ(c->InFlight(), 1u);
  // The second is held (it is tried after the first was acknowledged).
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  while (!server->counters().holding.load() && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  EXPECT_TRUE(server->counters().holding.load());
  EXPECT_EQ(journal->LastSeq(), 100u);
  // Retention frees the first batch; the second follows without a resend.
  ASSERT_TRUE(journal->SetTargetApplied("erp", 100).ok());
  ASSERT_TRUE(journal->ApplyRetention({"erp"}, NowMicros() + 1).ok());
  EXPECT_TRUE(wait_durable({11, 100}));
  EXPECT_EQ(journal->LastSeq(), 200u);
  server->Stop();
  run.join();
}

}  // namespace
}  // namespace handoff
