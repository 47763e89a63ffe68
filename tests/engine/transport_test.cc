#include "handoff/engine/transport.h"

#include <gtest/gtest.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <filesystem>
#include <thread>
#include <zmq.hpp>
#include <zmq_addon.hpp>

#include "handoff/engine/clock.h"

namespace handoff {
namespace {

// A free loopback TCP port (the kernel's pick; released before use).
int FreePort() {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof(a);
  EXPECT_EQ(bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)), 0);
  EXPECT_EQ(getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len), 0);
  close(fd);
  return ntohs(a.sin_port);
}

void Varint(std::string* out, uint64_t v) {
  while (v >= 0x80) {
    out->push_back(static_cast<char>((v & 0x7f) | 0x80));
    v >>= 7;
  }
  out->push_back(static_cast<char>(v));
}
void Str(std::string* out, const std::string& s) {
  Varint(out, s.size());
  out->append(s);
}

// A peer that writes raw intake frames, as any process reaching the endpoint can.
class RawPeer {
 public:
  explicit RawPeer(const std::string& endpoint) : sock_(ctx_, zmq::socket_type::dealer) {
    sock_.set(zmq::sockopt::linger, 0);
    sock_.connect(endpoint);
  }
  // False when no connection to the engine came up within a second.
  bool TrySend(uint8_t type, const std::string& payload) {
    std::string header{'\x01', static_cast<char>(type)};
    std::array<zmq::const_buffer, 2> frames{zmq::buffer(header), zmq::buffer(payload)};
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(1);
    while (!zmq::send_multipart(sock_, frames, zmq::send_flags::dontwait)) {
      if (std::chrono::steady_clock::now() >= deadline) return false;
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return true;
  }
  void Send(uint8_t type, const std::string& payload) { ASSERT_TRUE(TrySend(type, payload)); }
  // The next reply's type and payload, or type 0 when none came within `wait`.
  std::pair<int, std::string> Receive(std::chrono::milliseconds wait) {
    zmq::pollitem_t item{sock_.handle(), 0, ZMQ_POLLIN, 0};
    zmq::poll(&item, 1, wait);
    if (!(item.revents & ZMQ_POLLIN)) return {0, ""};
    std::vector<zmq::message_t> parts;
    (void)zmq::recv_multipart(sock_, std::back_inserter(parts));
    if (parts.size() != 2 || parts[0].size() != 2) return {-1, ""};
    return {static_cast<uint8_t>(parts[0].to_string()[1]), parts[1].to_string()};
  }
  void Hello(const std::string& source) {
    std::string p;
    Str(&p, source);
    Send(1, p);
    ASSERT_EQ(Receive(std::chrono::seconds(5)).first, 3) << "no WELCOME";
  }

 private:
  zmq::context_t ctx_{1};
  zmq::socket_t sock_;
};

// BATCH payload head: source, batch id, upto, event count.
std::string BatchHead(const std::string& source, uint64_t id, SourcePosition upto, uint64_t n) {
  std::string p;
  Str(&p, source);
  Varint(&p, id);
  Varint(&p, upto.lsn);
  Varint(&p, upto.ordinal);
  Varint(&p, n);
  return p;
}

// Reads an ACK payload: batch id, durable position.
bool ParseAck(const std::string& p, uint64_t* id, SourcePosition* pos) {
  size_t i = 0;
  auto next = [&](uint64_t* v) {
    *v = 0;
    for (int shift = 0; i < p.size() && shift <= 63; shift += 7) {
      uint8_t b = static_cast<uint8_t>(p[i++]);
      *v |= uint64_t{b & 0x7fu} << shift;
      if (!(b & 0x80)) return true;
    }
    return false;
  };
  return next(id) && next(&pos->lsn) && next(&pos->ordinal) && i == p.size();
}

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
  void StartServer(const std::string& endpoint, uint64_t max_message_bytes = 64ull << 20) {
    IntakeOptions o;
    o.endpoints = {endpoint};
    o.max_message_bytes = max_message_bytes;
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

// The parts of a streamed transaction travel as their own frame type and
// reach the journal whole: staged, then committed behind a plain transaction.
TEST_F(TransportTest, StreamedTransactionPartsAreJournaledAtTheirCommit) {
  StartServer("inproc://t-stream");
  auto c = std::move(AgentClient::Connect(ctx_, {"inproc://t-stream", "psa", 4})).value();
  ASSERT_TRUE(c->Hello().ok());
  AppendBatch stage = Batch(0, 2);
  stage.upto = {};
  stage.stream = StreamSegment{StreamSegment::Kind::kStage, 77, 77, 0, 0, ""};
  for (auto& e : stage.events) e.xid = 78;
  ASSERT_TRUE(c->Send(stage).ok());
  ASSERT_TRUE(c->Send(Batch(10, 1)).ok());
  ASSERT_TRUE(Drain(c.get()));
  EXPECT_EQ(journal_->LastSeq(), 1u);
  AppendBatch commit{"psa", {20, UINT64_MAX}, {}};
  ChangeEvent marker;
  marker.source = "psa";
  marker.op = Op::kCommit;
  marker.position = {20, 3};
  commit.events.push_back(marker);
  commit.stream = StreamSegment{StreamSegment::Kind::kCommit, 77, 77, 20, 1234, "o"};
  ASSERT_TRUE(c->Send(commit).ok());
  ASSERT_TRUE(Drain(c.get()));
  EXPECT_EQ(c->Durable(), (SourcePosition{20, UINT64_MAX}));
  std::vector<JournalEntry> out;
  ASSERT_TRUE(journal_->Read(1, 10, &out).ok());
  ASSERT_EQ(out.size(), 4u);
  EXPECT_EQ(out[1].event.position, (SourcePosition{20, 1}));
  EXPECT_EQ(out[2].event.position, (SourcePosition{20, 2}));
  EXPECT_EQ(out[2].event.xid, 77u);
  EXPECT_EQ(out[2].event.origin, "o");
  EXPECT_EQ(out[2].event.commit_time_us, 1234);
  EXPECT_EQ(out[3].event.op, Op::kCommit);
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

// Messages that would make the decoder allocate far more than they hold, or
// that exceed the intake's message limit, are refused over a real TCP socket;
// the engine keeps serving and journals a well-formed batch afterwards.
TEST_F(TransportTest, OversizedAndCountAmplifiedMessagesAreRefused) {
  const std::string ep = "tcp://127.0.0.1:" + std::to_string(FreePort());
  StartServer(ep, /*max_message_bytes=*/1 << 20);
  {
    RawPeer peer(ep);
    peer.Hello("psa");
    // Claims 2^40 events in a few bytes.
    peer.Send(2, BatchHead("psa", 1, {1, 1}, 1ull << 40) + std::string(64, '\0'));
    auto reply = peer.Receive(std::chrono::seconds(5));
    ASSERT_EQ(reply.first, 5) << "want ERROR";
    EXPECT_NE(reply.second.find("claims 1099511627776 events"), std::string::npos) << reply.second;
    // One event record claiming 2^40 key columns.
    std::string rec{'\x02', '\0', '\x01', '\x01'};
    for (int i = 0; i < 5; ++i) Varint(&rec, 1);
    Str(&rec, "psa");
    for (int i = 0; i < 5; ++i) Str(&rec, "");
    Varint(&rec, 1ull << 40);
    rec += std::string(32, 'k');
    std::string p = BatchHead("psa", 2, {1, 1}, 1);
    Str(&p, rec);
    peer.Send(2, p);
    reply = peer.Receive(std::chrono::seconds(5));
    ASSERT_EQ(reply.first, 5) << "want ERROR";
    EXPECT_NE(reply.second.find("key list"), std::string::npos) << reply.second;
  }
  {
    // Larger than the 1 MiB limit: the connection is dropped, nothing is answered.
    RawPeer peer(ep);
    peer.Hello("psa");
    peer.Send(2, BatchHead("psa", 1, {1, 1}, 0) + std::string(2 << 20, 'x'));
    EXPECT_EQ(peer.Receive(std::chrono::milliseconds(500)).first, 0);
  }
  EXPECT_EQ(journal_->LastSeq(), 0u);
  auto c = std::move(AgentClient::Connect(ctx_, {ep, "psa", 2})).value();
  ASSERT_TRUE(c->Hello().ok());
  ASSERT_TRUE(c->Send(Batch(10, 3)).ok());
  ASSERT_TRUE(Drain(c.get()));
  EXPECT_EQ(c->Durable(), (SourcePosition{10, 3}));
  EXPECT_EQ(journal_->LastSeq(), 3u);
}

// A process outside the engine may not move a source's position past what its
// batch holds: a forged far-ahead upto is neither journaled nor acknowledged.
// In-process agents (filtered transactions move upto with no events) keep that.
TEST_F(TransportTest, UptoFromOutsideIsLimitedToTheBatch) {
  const std::string ep = "tcp://127.0.0.1:" + std::to_string(FreePort());
  IntakeOptions o;
  o.endpoints = {ep, "inproc://t-upto"};
  server_ = std::move(IntakeServer::Create(ctx_, journal_.get(), o)).value();
  thread_ = std::thread([this] { EXPECT_TRUE(server_->Run().ok()); });
  RawPeer peer(ep);
  peer.Hello("psa");
  peer.Send(2, BatchHead("psa", 1, {1u << 30, UINT64_MAX}, 0));
  auto reply = peer.Receive(std::chrono::seconds(5));
  ASSERT_EQ(reply.first, 4) << "want ACK";
  uint64_t id;
  SourcePosition durable;
  ASSERT_TRUE(ParseAck(reply.second, &id, &durable));
  EXPECT_TRUE(durable.IsZero()) << durable.lsn << "/" << durable.ordinal;
  EXPECT_TRUE(journal_->SourceDurable("psa")->IsZero());
  EXPECT_EQ(server_->counters().upto_limited.load(), 1u);

  // A later real change is journaled (not dropped as a duplicate of the forged position).
  auto c = std::move(AgentClient::Connect(ctx_, {ep, "psa", 2})).value();
  ASSERT_TRUE(c->Hello().ok());
  AppendBatch b = Batch(10, 2);
  ChangeEvent commit = b.events.back();
  commit.op = Op::kCommit;
  commit.position = {10, 3};
  commit.after.clear();
  b.events.push_back(commit);
  b.upto = {10, UINT64_MAX};  // after a commit marker: the transaction's end
  ASSERT_TRUE(c->Send(b).ok());
  AppendBatch ahead = Batch(11, 1);
  ahead.upto = {5000, UINT64_MAX};
  ASSERT_TRUE(c->Send(ahead).ok());
  ASSERT_TRUE(Drain(c.get()));
  EXPECT_EQ(journal_->LastSeq(), 4u);
  EXPECT_EQ(c->Durable(), (SourcePosition{11, 1}));
  // Snapshot markers (lsn 0) pass as sent.
  AppendBatch snap{"psb", {0, 1ull << 40}, {}};
  auto cb = std::move(AgentClient::Connect(ctx_, {ep, "psb", 2})).value();
  ASSERT_TRUE(cb->Hello().ok());
  ASSERT_TRUE(cb->Send(snap).ok());
  ASSERT_TRUE(Drain(cb.get()));
  EXPECT_EQ(cb->Durable(), (SourcePosition{0, 1ull << 40}));

  // In process: an empty batch past a filtered transaction moves the position.
  auto local = std::move(AgentClient::Connect(ctx_, {"inproc://t-upto", "psa", 2})).value();
  ASSERT_TRUE(local->Hello().ok());
  ASSERT_TRUE(local->Send(AppendBatch{"psa", {6000, UINT64_MAX}, {}}).ok());
  ASSERT_TRUE(Drain(local.get()));
  EXPECT_EQ(local->Durable(), (SourcePosition{6000, UINT64_MAX}));
  EXPECT_EQ(server_->counters().upto_limited.load(), 2u);
}

// With CURVE on the intake, a process without a listed key cannot connect,
// and a key may speak only as its own sources; in-process agents are not
// affected.
TEST_F(TransportTest, CurveIntakeAdmitsOnlyListedKeysForTheirSources) {
  if (!CurveAvailable()) GTEST_SKIP() << "libzmq without CURVE";
  const CurveKeys server = NewCurveKeys().value(), a = NewCurveKeys().value(), stranger = NewCurveKeys().value();
  const std::string ep = "tcp://127.0.0.1:" + std::to_string(FreePort());
  IntakeOptions o;
  o.endpoints = {ep, "inproc://t-curve"};
  o.curve = server;
  o.clients = {{a.public_key, {"psa"}}};
  server_ = std::move(IntakeServer::Create(ctx_, journal_.get(), o)).value();
  thread_ = std::thread([this] { EXPECT_TRUE(server_->Run().ok()); });
  auto connect = [&](const CurveKeys* keys, const std::string& source) {
    auto ctx = TransportContext::Create();
    if (keys) ctx->SetClientCurve(*keys, server.public_key);
    AgentClientOptions co{ep, source, 2, std::chrono::milliseconds(1000)};
    return std::make_pair(ctx, std::move(AgentClient::Connect(ctx, co)).value());
  };
  {
    // No key at all: the handshake fails, nothing is answered or journaled.
    RawPeer peer(ep);
    std::string p;
    Str(&p, "psa");
    if (peer.TrySend(1, p)) {
      EXPECT_EQ(peer.Receive(std::chrono::milliseconds(1000)).first, 0);
    }
    if (peer.TrySend(2, BatchHead("psa", 1, {1u << 30, UINT64_MAX}, 0))) {
      EXPECT_EQ(peer.Receive(std::chrono::milliseconds(300)).first, 0);
    }
  }
  {
    auto [ctx, c] = connect(&stranger, "psa");  // a key the engine does not list
    auto hello = c->Hello();
    EXPECT_FALSE(hello.ok());
    EXPECT_EQ(hello.status().code(), StatusCode::kUnavailable);
  }
  {
    auto [ctx, c] = connect(&a, "psb");  // a listed key, but not for this source
    auto hello = c->Hello();
    ASSERT_FALSE(hello.ok());
    EXPECT_EQ(hello.status().code(), StatusCode::kInvalidArgument);
    EXPECT_NE(hello.status().message().find("may not speak as source psb"), std::string::npos);
  }
  // The keyless peer fails the handshake (mechanism mismatch) before ZAP is asked.
  EXPECT_GE(server_->counters().refused_peers.load(), 2u);
  EXPECT_TRUE(journal_->SourceDurable("psa")->IsZero());
  EXPECT_EQ(journal_->LastSeq(), 0u);
  {
    // The key of psa speaks as psa; upto past the events is trusted from it.
    auto [ctx, c] = connect(&a, "psa");
    ASSERT_TRUE(c->Hello().ok());
    AppendBatch b = Batch(10, 2);
    b.upto = {20, UINT64_MAX};
    ASSERT_TRUE(c->Send(b).ok());
    ASSERT_TRUE(Drain(c.get()));
    EXPECT_EQ(c->Durable(), (SourcePosition{20, UINT64_MAX}));
    EXPECT_EQ(journal_->LastSeq(), 2u);
  }
  auto local = std::move(AgentClient::Connect(ctx_, {"inproc://t-curve", "psb", 2})).value();
  ASSERT_TRUE(local->Hello().ok());
  ASSERT_TRUE(local->Send(AppendBatch{"psb", Batch(5, 1).upto, {}}).ok());
  ASSERT_TRUE(Drain(local.get()));
}

}  // namespace
}  // namespace handoff
