// Who may write into the journal, through the real binaries: a `handoff run`
// engine whose tcp:// or ipc:// intake uses CURVE, `handoff agent` processes
// with keys made by `handoff agent keygen`, and raw ZeroMQ peers that craft
// HELLO and BATCH frames with the project's own wire encoder.
//  - An agent with its key journals its source's changes end to end.
//  - A peer without a key, or with a key the engine does not list, gets no
//    answer: its forged row is neither journaled nor applied, and the engine
//    logs the refusal.
//  - An agent whose key is listed for one source but that names another is
//    refused (logged) and journals nothing for it.
//  - Without CURVE (loopback), a peer does get in, but its forged `upto` is
//    cut back to its events: the journal's durable position and the slot's
//    confirmed_flush_lsn never jump ahead, and later source inserts all
//    arrive.
#include <signal.h>
#include <sys/stat.h>

#include <fstream>
#include <regex>
#include <sstream>
#include <thread>
#include <zmq.hpp>
#include <zmq_addon.hpp>

#include "handoff/engine/journal.h"
#include "handoff/engine/transport.h"
#include "spine_fixture.h"
#include "wire.h"

namespace handoff::testing {
namespace {

constexpr auto kCatchUp = std::chrono::seconds(90);
constexpr uint64_t kFar = uint64_t{1} << 40;  // an LSN far beyond any this test writes

struct KeyPair {
  std::string pub, sec;
};

// A ZeroMQ DEALER that speaks the intake protocol from outside any agent.
class RawPeer {
 public:
  RawPeer(const std::string& endpoint, const KeyPair* key, const std::string& server_public)
      : sock_(ctx_, zmq::socket_type::dealer) {
    sock_.set(zmq::sockopt::linger, 0);
    if (key) {
      sock_.set(zmq::sockopt::curve_serverkey, server_public);
      sock_.set(zmq::sockopt::curve_publickey, key->pub);
      sock_.set(zmq::sockopt::curve_secretkey, key->sec);
    }
    sock_.connect(endpoint);
  }
  // Queues a message (ZeroMQ holds it until a connection is up).
  void Send(wire::MsgType type, const std::string& payload) {
    const std::string header = wire::Header(type);
    std::array<zmq::const_buffer, 2> frames{zmq::buffer(header), zmq::buffer(payload)};
    (void)zmq::send_multipart(sock_, frames, zmq::send_flags::dontwait);
  }
  // The next reply, or false when none came within `wait`.
  bool Receive(std::chrono::milliseconds wait, wire::MsgType* type, std::string* payload) {
    zmq::pollitem_t item{sock_.handle(), 0, ZMQ_POLLIN, 0};
    zmq::poll(&item, 1, wait);
    if (!(item.revents & ZMQ_POLLIN)) return false;
    std::vector<zmq::message_t> parts;
    (void)zmq::recv_multipart(sock_, std::back_inserter(parts));
    if (parts.size() != 2 || !wire::ParseHeader(parts[0].to_string_view(), type).ok()) return false;
    *payload = parts[1].to_string();
    return true;
  }
  // HELLO; the durable position the WELCOME reports.
  SourcePosition Hello(const std::string& source) {
    Send(wire::MsgType::kHello, wire::EncodeHello(source));
    wire::MsgType type;
    std::string payload, name, state;
    SourcePosition pos;
    EXPECT_TRUE(Receive(std::chrono::seconds(10), &type, &payload)) << "no answer to HELLO";
    // A PostgreSQL source that has journaled its state gets it back (type 7).
    EXPECT_TRUE(type == wire::MsgType::kWelcome || type == wire::MsgType::kStateWelcome) << static_cast<int>(type);
    EXPECT_TRUE(wire::DecodeWelcome(payload, type, &name, &pos, &state).ok());
    return pos;
  }
  // Sends a batch and returns the durable position its ACK reports.
  SourcePosition SendBatch(uint64_t id, const AppendBatch& batch) {
    Send(wire::MsgType::kBatch, wire::EncodeBatch(id, batch));
    wire::MsgType type;
    std::string payload;
    uint64_t acked = 0;
    SourcePosition pos;
    EXPECT_TRUE(Receive(std::chrono::seconds(10), &type, &payload)) << "no ACK";
    EXPECT_EQ(type, wire::MsgType::kAck);
    EXPECT_TRUE(wire::DecodeAck(payload, &acked, &pos).ok());
    EXPECT_EQ(acked, id);
    return pos;
  }

 private:
  zmq::context_t ctx_{1};
  zmq::socket_t sock_;
};

// A forged insert into consultants at `at`, followed by its commit marker.
std::vector<ChangeEvent> ForgedRow(const std::string& source, SourcePosition at, const std::string& email) {
  ChangeEvent e;
  e.source = source;
  e.position = at;
  e.xid = 4242;
  e.schema = "public";
  e.table = "consultants";
  e.op = Op::kInsert;
  e.key_columns = {"email"};
  e.after = {{"email", 25, Column::Kind::kText, email}, {"name", 25, Column::Kind::kText, "forged"}};
  ChangeEvent c = e;
  c.op = Op::kCommit;
  c.position.ordinal = at.ordinal + 1;
  c.schema = c.table = "";
  c.key_columns.clear();
  c.after.clear();
  return {e, c};
}

class IntakeAuthProcessTest : public SpineTest {
 protected:
  KeyPair Keygen() {
    std::string out, err;
    EXPECT_EQ(Handoff({"agent", "keygen"}, &out, &err), 0) << err;
    std::smatch m;
    EXPECT_TRUE(std::regex_search(out, m, std::regex("public_key: (\\S{40})\nsecret_key: (\\S{40})\n"))) << out;
    return m.size() == 3 ? KeyPair{m[1], m[2]} : KeyPair{};
  }
  std::string SecretFile(const std::string& name, const std::string& secret) {
    const std::string path = dir_ + "/" + name + ".key";
    std::ofstream(path) << secret << "\n";
    chmod(path.c_str(), 0600);
    return path;
  }
  // engine: the `engine:` map. Sources: `name_` (PostgreSQL, external) and
  // `name_`b (a Debezium file, external).
  std::string WriteConfigFile(const std::string& file, const std::string& engine) {
    std::ostringstream c;
    c << "journal: { path: " << dir_ << "/journal }\n"
      << "engine: " << engine << "\n"
      << "sources:\n  - { name: " << name_ << ", kind: postgres, external: true, dsn: \"" << server_->Dsn(src_db_)
      << "\", tables: [public.time_entries, public.documents, public.consultants] }\n"
      << "  - { name: " << name_ << "b, kind: debezium, external: true, file: " << dir_ << "/b.ndjson }\n"
      << "targets:\n  - { name: erp, kind: postgres, dsn: \"" << server_->Dsn(dst_db_) << "\" }\n"
      << "routes:\n  - { from: " << name_ << "b.public.notes, to: erp.public.notes }\n";
    for (const auto& [t, k] : kSpineTables)
      c << "  - { from: " << name_ << ".public." << t << ", to: erp.public." << t << " }\n";
    const std::string path = dir_ + "/" + file;
    std::ofstream(path) << c.str();
    return path;
  }
  void Prepare() {
    CreateDatabases(name_);
    ASSERT_TRUE(server_->Exec(dst_db_, "CREATE TABLE notes (k text PRIMARY KEY, body text)").ok());
    ASSERT_TRUE(
        server_->Exec(src_db_, "INSERT INTO time_entries (id, consultant_id) SELECT g, 1 FROM generate_series(1, 50) g")
            .ok());
    std::ofstream(dir_ + "/b.ndjson")
        << R"({"payload":{"op":"c","after":{"k":"b1","body":"from b"},"source":{"schema":"public","table":"notes","lsn":1}}})"
        << "\n";
  }
  void StartAgent(ChildProcess* p, const std::string& config, const std::string& source, const std::string& log) {
    p->Start({HandoffBinary(), "agent", "--config", config, "--source", source}, dir_ + "/" + log);
  }
  void InsertMore(int from, int txns) {
    for (int t = 0; t < txns; ++t)
      ASSERT_TRUE(server_
                      ->Exec(src_db_,
                             "INSERT INTO time_entries (id, consultant_id, notes) SELECT g, 2, 'n' || g FROM "
                             "generate_series(" +
                                 std::to_string(from + t * 10) + ", " + std::to_string(from + t * 10 + 9) + ") g")
                      .ok());
  }
  bool WaitForStreaming(const std::string& log_name) {
    return WaitUntil(
        [&] {
          std::ifstream in(dir_ + "/" + log_name);
          std::stringstream ss;
          ss << in.rdbuf();
          return ss.str().find("streaming from slot") != std::string::npos;
        },
        std::chrono::seconds(30));
  }
  size_t Count(const std::string& needle) {
    const std::string log = LogTail(1 << 22);
    size_t n = 0;
    for (size_t at = log.find(needle); at != std::string::npos; at = log.find(needle, at + 1)) ++n;
    return n;
  }
  // Every journaled event, read after the engine stopped.
  std::vector<ChangeEvent> Journaled() {
    JournalOptions o;
    o.path = dir_ + "/journal";
    auto j = Journal::Open(o);
    EXPECT_TRUE(j.ok()) << j.status().ToString();
    std::vector<ChangeEvent> all;
    if (!j.ok()) return all;
    std::vector<JournalEntry> batch;
    for (uint64_t next = 1;; next = batch.back().seq + 1) {
      batch.clear();
      EXPECT_TRUE((*j)->Read(next, 1000, &batch).ok());
      if (batch.empty()) break;
      for (auto& e : batch) all.push_back(std::move(e.event));
    }
    return all;
  }
  std::string ConfirmedFlush() {
    return server_->Dump(src_db_,
                         "SELECT confirmed_flush_lsn FROM pg_replication_slots WHERE database = '" + src_db_ + "'");
  }
  void TearDown() override {
    for (ChildProcess* p : {&agent_, &agent_b_})
      if (p->running()) p->Stop(SIGKILL);
    if (HasFailure()) {
      for (const char* f : {"/agent.log", "/agent_b.log"}) {
        std::ifstream in(dir_ + f);
        std::stringstream ss;
        ss << in.rdbuf();
        std::fprintf(stderr, "---- %s ----\n%s\n", f, ss.str().substr(0, 4000).c_str());
      }
    }
    SpineTest::TearDown();
  }

  void RunCurveScenario(const std::string& intake);
  void RunForgedUptoScenario(const std::string& intake);

  ChildProcess agent_, agent_b_;
};

void IntakeAuthProcessTest::RunCurveScenario(const std::string& intake) {
  Prepare();
  // (a) Keys made by `handoff agent keygen`; key `a` may speak only as name_.
  const KeyPair engine = Keygen(), a = Keygen(), stranger = Keygen();
  ASSERT_FALSE(engine.pub.empty());
  ASSERT_NE(engine.pub, a.pub);
  ASSERT_NE(a.sec, stranger.sec);
  config_ = WriteConfigFile("engine.yaml", "{ intake: \"" + intake + "\", intake_curve: { public_key: \"" + engine.pub +
                                               "\", secret_key_file: " + SecretFile("engine", engine.sec) +
                                               " }, intake_clients: [ { public_key: \"" + a.pub + "\", sources: [" +
                                               name_ + "] } ] }");
  const std::string agent_config =
      WriteConfigFile("agent.yaml", "{ intake: \"" + intake + "\", intake_curve: { public_key: \"" + engine.pub +
                                        "\" }, intake_client_key: { public_key: \"" + a.pub +
                                        "\", secret_key_file: " + SecretFile("agent", a.sec) + " } }");
  StartEngine();
  StartAgent(&agent_, agent_config, name_, "agent.log");
  ASSERT_TRUE(WaitForStreaming("agent.log"));
  InsertMore(1000, 5);
  ASSERT_TRUE(WaitForEqual(kCatchUp));
  EXPECT_EQ(Count("refusing"), 0u) << LogTail();

  // (b) No key, then a key the engine does not list: HELLO and a batch with a
  // forged row and a forged upto get no answer at all.
  for (const KeyPair* key : {static_cast<const KeyPair*>(nullptr), &stranger}) {
    RawPeer peer(intake, key, engine.pub);
    peer.Send(wire::MsgType::kHello, wire::EncodeHello(name_));
    peer.Send(wire::MsgType::kBatch,
              wire::EncodeBatch(1, {name_, {kFar, UINT64_MAX}, ForgedRow(name_, {kFar - 1, 1}, "forged@evil")}));
    wire::MsgType type;
    std::string payload;
    EXPECT_FALSE(peer.Receive(std::chrono::milliseconds(1500), &type, &payload)) << (key ? "stranger" : "keyless");
  }
  ASSERT_TRUE(WaitUntil([&] { return Count("refusing a connection on ") >= 1; }, std::chrono::seconds(10)))
      << LogTail();
  // The keyless peer retried its handshake while it lived; one line says so.
  EXPECT_EQ(Count("refusing a connection on "), 1u) << LogTail();
  ASSERT_TRUE(WaitUntil([&] { return Count("key " + stranger.pub + " is not in engine.intake_clients") >= 1; },
                        std::chrono::seconds(10)))
      << LogTail();

  // (c) The listed key names another source: refused at HELLO, logged, retried.
  StartAgent(&agent_b_, agent_config, name_ + "b", "agent_b.log");
  const std::string wrong = "intake client key " + a.pub + " may not speak as source " + name_ + "b";
  ASSERT_TRUE(WaitUntil([&] { return Count(wrong) >= 2; }, std::chrono::seconds(30))) << LogTail();

  // The authorised agent carries on; nothing forged arrived anywhere.
  InsertMore(2000, 3);
  ASSERT_TRUE(WaitForEqual(kCatchUp));
  EXPECT_EQ(server_->Dump(dst_db_, "SELECT count(*) FROM notes"), "0\n");
  EXPECT_EQ(server_->Dump(dst_db_, "SELECT count(*) FROM consultants WHERE email = 'forged@evil'"), "0\n");
  const std::string flushed = ConfirmedFlush();
  EXPECT_EQ(agent_b_.Stop(SIGTERM), 0);
  EXPECT_EQ(agent_.Stop(SIGTERM), 0);
  ASSERT_EQ(StopEngine(SIGTERM), 0);
  EXPECT_EQ(server_->Dump(src_db_, "SELECT pg_lsn '" + flushed.substr(0, flushed.size() - 1) + "' < pg_lsn '" +
                                       FormatLsn(kFar - 1) + "'"),
            "t\n");
  size_t ours = 0;
  for (const ChangeEvent& e : Journaled()) {
    EXPECT_EQ(e.source, name_) << "journaled for " << e.source << " at " << FormatPosition(e.position);
    EXPECT_LT(e.position.lsn, kFar - 1) << "a forged position was journaled";
    ours += e.source == name_ && e.op != Op::kCommit;
  }
  EXPECT_EQ(ours, 130u);  // 50 snapshot rows + 80 streamed, each once
}

void IntakeAuthProcessTest::RunForgedUptoScenario(const std::string& intake) {
  Prepare();
  const std::string engine_map = "{ intake: \"" + intake + "\" }";
  config_ = WriteConfigFile("engine.yaml", engine_map);
  StartEngine();
  StartAgent(&agent_, config_, name_, "agent.log");
  ASSERT_TRUE(WaitForStreaming("agent.log"));
  InsertMore(1000, 3);
  ASSERT_TRUE(WaitForEqual(kCatchUp));

  // Without CURVE a loopback peer gets in. Its upto is cut back to its events.
  RawPeer peer(intake, nullptr, "");
  const SourcePosition durable = peer.Hello(name_);
  ASSERT_GT(durable.lsn, 0u);
  // No events, upto far ahead: nothing moves.
  EXPECT_EQ(peer.SendBatch(1, {name_, {kFar, UINT64_MAX}, {}}), durable);
  // One forged row right after the durable position (below anything the
  // source writes next), upto far ahead: recorded only up to the row's commit.
  const SourcePosition at{durable.lsn + 1, 1};
  EXPECT_EQ(peer.SendBatch(2, {name_, {kFar, UINT64_MAX}, ForgedRow(name_, at, "forged@peer")}),
            (SourcePosition{at.lsn, UINT64_MAX}));
  ASSERT_TRUE(WaitUntil([&] { return Count("past its last event") >= 1; }, std::chrono::seconds(10))) << LogTail();
  // Without CURVE events are not checked (README): the forged row itself is applied.
  ASSERT_TRUE(WaitUntil(
      [&] { return server_->Dump(dst_db_, "SELECT count(*) FROM consultants WHERE email = 'forged@peer'") == "1\n"; },
      std::chrono::seconds(30)));
  ASSERT_TRUE(server_->Exec(dst_db_, "DELETE FROM consultants WHERE email = 'forged@peer'").ok());

  // Later inserts, with the agent running and after it restarts, all arrive.
  InsertMore(3000, 5);
  ASSERT_TRUE(WaitForEqual(kCatchUp));
  EXPECT_EQ(agent_.Stop(SIGTERM), 0);
  InsertMore(4000, 5);
  StartAgent(&agent_, config_, name_, "agent.log");
  ASSERT_TRUE(WaitForEqual(kCatchUp));
  const SourcePosition after = peer.Hello(name_);
  EXPECT_LT(after.lsn, kFar) << FormatPosition(after);
  EXPECT_GT(after, durable);
  ASSERT_TRUE(WaitUntil(
      [&] {
        const std::string f = ConfirmedFlush();
        return f.size() > 1 && server_->Dump(src_db_, "SELECT pg_lsn '" + f.substr(0, f.size() - 1) + "' >= pg_lsn '" +
                                                          FormatLsn(after.lsn) + "'") == "t\n";
      },
      std::chrono::seconds(30)));
  const std::string f = ConfirmedFlush();
  EXPECT_EQ(
      server_->Dump(src_db_, "SELECT pg_lsn '" + f.substr(0, f.size() - 1) + "' <= pg_current_wal_lsn() AND pg_lsn '" +
                                 f.substr(0, f.size() - 1) + "' < pg_lsn '" + FormatLsn(kFar) + "'"),
      "t\n")
      << f;
  EXPECT_EQ(agent_.Stop(SIGTERM), 0);
  ASSERT_EQ(StopEngine(SIGTERM), 0);
  size_t rows = 0;
  for (const ChangeEvent& e : Journaled()) rows += e.table == "time_entries";
  EXPECT_EQ(rows, 50u + 130u);  // the snapshot and every inserted row, each once
}

TEST_F(IntakeAuthProcessTest, CurveOverTcpAdmitsOnlyTheListedAgentForItsSource) {
  if (!CurveAvailable()) GTEST_SKIP() << "libzmq without CURVE";
  RunCurveScenario("tcp://127.0.0.1:" + std::to_string(FreeTcpPort()));
}

TEST_F(IntakeAuthProcessTest, CurveOverIpcAdmitsOnlyTheListedAgentForItsSource) {
  if (!CurveAvailable()) GTEST_SKIP() << "libzmq without CURVE";
  RunCurveScenario("ipc://" + dir_ + "/intake.sock");
}

TEST_F(IntakeAuthProcessTest, ForgedUptoOverTcpMovesNothingUpstream) {
  RunForgedUptoScenario("tcp://127.0.0.1:" + std::to_string(FreeTcpPort()));
}

TEST_F(IntakeAuthProcessTest, ForgedUptoOverIpcMovesNothingUpstream) {
  RunForgedUptoScenario("ipc://" + dir_ + "/intake.sock");
}

}  // namespace
}  // namespace handoff::testing
