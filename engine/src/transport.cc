// IntakeServer (ROUTER) and AgentClient (DEALER) over cppzmq.
#include "handoff/engine/transport.h"

#include <algorithm>
#include <cstring>
#include <deque>
#include <fstream>
#include <iterator>
#include <map>
#include <mutex>
#include <set>
#include <thread>
#include <zmq.hpp>
#include <zmq_addon.hpp>

#include "handoff/engine/fault.h"
#include "handoff/engine/log.h"
#include "wire.h"

namespace handoff {
namespace {

using Clock = std::chrono::steady_clock;
constexpr int kLingerMs = 100;

class ZmqContext final : public TransportContext {
 public:
  void* native() override { return &ctx_; }

 private:
  zmq::context_t ctx_{1};
};

zmq::context_t& Ctx(const std::shared_ptr<TransportContext>& c) { return *static_cast<zmq::context_t*>(c->native()); }

// One received batch waiting to be journaled.
struct PendingBatch {
  std::string identity;
  uint64_t batch_id;
  size_t bytes;
};

class ZmqIntakeServer final : public IntakeServer {
 public:
  ZmqIntakeServer(std::shared_ptr<TransportContext> ctx, Journal* journal, IntakeOptions options)
      : ctx_(std::move(ctx)), journal_(journal), options_(std::move(options)), router_(Ctx(ctx_), zmq::socket_type::router) {}

  ~ZmqIntakeServer() override {
    stop_.store(true);
    if (zap_thread_.joinable()) zap_thread_.join();
  }

  Status Bind() {
    if (!options_.curve.secret_key.empty()) HANDOFF_RETURN_IF_ERROR(StartZap());
    try {
      router_.set(zmq::sockopt::linger, kLingerMs);
      router_.set(zmq::sockopt::rcvhwm, 0);
      router_.set(zmq::sockopt::maxmsgsize, static_cast<int64_t>(options_.max_message_bytes));
      if (curve_) {
        router_.set(zmq::sockopt::zap_domain, "handoff-intake");
        router_.set(zmq::sockopt::curve_server, true);
        const std::string& sk = options_.curve.secret_key;
        if (zmq_setsockopt(router_.handle(), ZMQ_CURVE_SECRETKEY, sk.c_str(), sk.size() + 1) != 0)
          return Status::InvalidArgument("intake CURVE secret key is not a Z85 key of 40 characters");
      }
      for (const auto& ep : options_.endpoints) router_.bind(ep);
    } catch (const zmq::error_t& e) {
      return Status::InvalidArgument("cannot bind intake endpoint: " + std::string(e.what()));
    }
    return Status::OK();
  }

  Status Run() override {
    try {
      return Loop();
    } catch (const zmq::error_t& e) {
      if (e.num() == ETERM) return Status::OK();
      return Status::Unavailable(std::string("intake socket failed: ") + e.what());
    }
  }

  void Stop() override { stop_.store(true); }
  const IntakeCounters& counters() const override { return counters_; }
  std::map<std::string, uint64_t> JournaledBySource() const override {
    std::lock_guard<std::mutex> lock(by_source_mu_);
    return journaled_by_source_;
  }

 private:
  Status Loop() {
    std::vector<AppendBatch> batches;
    std::vector<PendingBatch> pending;
    size_t events = 0, bytes = 0;
    auto retry_at = Clock::time_point::min();
    auto next_hold_log = Clock::time_point::min();
    size_t group_limit = SIZE_MAX;  // batches per append; lowered while the journal is full
    while (!stop_.load()) {
      // While the journal refuses (full map), read nothing new: agents run out of credit.
      if (!pending.empty() && Clock::now() < retry_at) {
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
        continue;
      }
      if (pending.empty()) {
        zmq::pollitem_t item{router_.handle(), 0, ZMQ_POLLIN, 0};
        zmq::poll(&item, 1, std::chrono::milliseconds(100));
        if (!(item.revents & ZMQ_POLLIN)) continue;
        auto deadline = Clock::now() + options_.max_wait;
        // Gather until the bounds or the deadline: this is the group commit.
        while (events < options_.max_batch_events && bytes < options_.max_batch_bytes) {
          std::vector<zmq::message_t> parts;
          auto got = zmq::recv_multipart(router_, std::back_inserter(parts), zmq::recv_flags::dontwait);
          if (!got) {
            auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
            if (left.count() <= 0 || batches.empty()) break;
            zmq::pollitem_t again{router_.handle(), 0, ZMQ_POLLIN, 0};
            zmq::poll(&again, 1, left);
            if (!(again.revents & ZMQ_POLLIN)) break;
            continue;
          }
          Handle(parts, &batches, &pending, &events, &bytes);
        }
      }
      if (batches.empty()) continue;
      // A full journal may take a few of the group's batches but not all:
      // then journal them in halves (each batch stays atomic and is
      // acknowledged alone) rather than wait for room for the whole group.
      const size_t take = std::min(batches.size(), group_limit);
      std::vector<AppendBatch> part;
      if (take < batches.size()) part.assign(std::make_move_iterator(batches.begin()),
                                             std::make_move_iterator(batches.begin() + take));
      std::vector<AppendBatch>& group = take < batches.size() ? part : batches;
      AppendResult res;
      Status st = journal_->Append(group, &res);
      if (&group == &part) std::move(part.begin(), part.end(), batches.begin());
      if (!st.ok()) {
        if (st.code() == StatusCode::kCorruption || st.code() == StatusCode::kInternal) return st;
        // Any full journal counts: the map at its limit or the disk (ENOSPC,
        // or a short write on a file system without room).
        counters_.map_full.fetch_add(st.IsResourceExhausted() ? 1 : 0);
        counters_.append_retries.fetch_add(1);
        counters_.SetHoldReason(st.message());
        if (st.IsResourceExhausted() && take > 1) {
          group_limit = (take + 1) / 2;  // try a smaller group at once
          continue;
        }
        // Nothing is acknowledged, so no agent confirms these positions
        // upstream; the source keeps the data until the journal takes it.
        if (!counters_.holding.exchange(true) || Clock::now() >= next_hold_log) {
          LogError("intake", "cannot journal {} batches: {}; holding them unacknowledged and retrying every second",
                   batches.size(), st.ToString());
          next_hold_log = Clock::now() + std::chrono::seconds(30);
        }
        retry_at = Clock::now() + std::chrono::seconds(1);
        continue;
      }
      if (counters_.holding.exchange(false)) LogInfo("intake", "the journal takes writes again; resuming intake");
      // Durable in the journal, not yet acknowledged: a crash here must lose nothing.
      CrashPoint("intake.after_commit");
      counters_.commits.fetch_add(1);
      counters_.events.fetch_add(res.appended);
      counters_.duplicates.fetch_add(res.duplicates);
      counters_.batches.fetch_add(batches.size());
      {
        std::lock_guard<std::mutex> lock(by_source_mu_);
        for (size_t i = 0; i < take; ++i) journaled_by_source_[batches[i].source] += res.AppendedIn(i);
      }
      std::map<std::string, SourcePosition> durable;
      for (size_t i = 0; i < take; ++i) {
        if (durable.count(batches[i].source)) continue;
        auto pos = journal_->SourceDurable(batches[i].source);
        durable[batches[i].source] = pos.ok() ? *pos : SourcePosition{};
      }
      for (size_t i = 0; i < take; ++i)
        Reply(pending[i].identity, wire::MsgType::kAck, wire::EncodeAck(pending[i].batch_id, durable[batches[i].source]));
      // The rest of a split group goes next, before anything new is read.
      batches.erase(batches.begin(), batches.begin() + take);
      pending.erase(pending.begin(), pending.begin() + take);
      if (batches.empty()) {
        events = bytes = 0;
        group_limit = SIZE_MAX;
      }
    }
    return Status::OK();
  }

  void Handle(std::vector<zmq::message_t>& parts, std::vector<AppendBatch>* batches,
              std::vector<PendingBatch>* pending, size_t* events, size_t* bytes) {
    if (parts.size() != 3) {
      LogWarn("intake", "dropping a message with {} frames (want identity, header, payload)", parts.size());
      return;
    }
    std::string identity = parts[0].to_string();
    wire::MsgType type;
    Status st = wire::ParseHeader(parts[1].to_string_view(), &type);
    if (st.ok() && type == wire::MsgType::kHello) {
      std::string source;
      st = wire::DecodeHello(parts[2].to_string_view(), &source);
      if (st.ok()) st = CheckPeerSource(parts[1], source);
      if (st.ok()) {
        auto pos = journal_->SourceDurable(source);
        auto state = pos.ok() ? journal_->GetMeta(SourceStateKey(source)) : Result<std::optional<std::string>>(pos.status());
        if (state.ok()) {
          greeted_.insert(identity);
          const std::string s = state->value_or("");
          Reply(identity, s.empty() ? wire::MsgType::kWelcome : wire::MsgType::kStateWelcome,
                wire::EncodeWelcome(source, *pos, s));
          return;
        }
        st = state.status();
      }
    } else if (st.ok() && (type == wire::MsgType::kBatch || type == wire::MsgType::kStateBatch ||
                              type == wire::MsgType::kStreamBatch)) {
      uint64_t id = 0;
      AppendBatch batch;
      st = wire::DecodeBatch(parts[2].to_string_view(), type, &id, &batch);
      if (st.ok()) st = CheckPeerSource(parts[1], batch.source);
      if (st.ok() && !greeted_.count(identity)) {
        // A connection this engine never welcomed: the engine restarted (or
        // the link was re-established) and earlier batches of it may be lost.
        // Acknowledging this one would also acknowledge those; make the agent
        // say HELLO again and resume from the durable position instead.
        Reply(identity, wire::MsgType::kError,
              wire::EncodeError(id, Status::Unavailable("no HELLO on this connection since the engine started; "
                                                        "say HELLO and resume from the durable position")));
        return;
      }
      // Authenticated peers (CURVE, key allowed this source) are trusted like in-process ones.
      if (st.ok() && !curve_ && !FromThisProcess(parts[1])) LimitUpto(&batch);
      if (st.ok()) {
        *events += batch.events.size();
        *bytes += parts[2].size();
        pending->push_back({identity, id, parts[2].size()});
        batches->push_back(std::move(batch));
        return;
      }
    } else if (st.ok()) {
      st = Status::InvalidArgument("unexpected message type from an agent");
    }
    LogWarn("intake", "rejecting an agent message: {}", st.ToString());
    Reply(identity, wire::MsgType::kError, wire::EncodeError(0, st));
  }

  // The ZAP handler (RFC 27) of this context: accepts a CURVE handshake only
  // with a listed client key and makes that key the connection's User-Id.
  // Bound before the ROUTER, so no connection is ever let through unchecked.
  Status StartZap() {
    if (!CurveAvailable()) return Status::InvalidArgument("intake CURVE is configured but libzmq has no CURVE support");
    uint8_t raw[32];
    if (options_.curve.secret_key.size() != 40 || !zmq_z85_decode(raw, options_.curve.secret_key.c_str()))
      return Status::InvalidArgument("intake CURVE secret key is not a Z85 key of 40 characters");
    for (const IntakeClient& c : options_.clients) {
      if (c.public_key.size() != 40 || !zmq_z85_decode(raw, c.public_key.c_str()))
        return Status::InvalidArgument("intake client key '" + c.public_key + "' is not a Z85 key of 40 characters");
      allowed_[c.public_key].insert(c.sources.begin(), c.sources.end());
    }
    try {
      zap_ = std::make_unique<zmq::socket_t>(Ctx(ctx_), zmq::socket_type::rep);
      zap_->set(zmq::sockopt::linger, 0);
      zap_->bind("inproc://zeromq.zap.01");
    } catch (const zmq::error_t& e) {
      return Status::InvalidArgument(std::string("cannot bind the intake's ZAP handler: ") + e.what());
    }
    // A peer without a CURVE key fails the handshake before ZAP is asked; the
    // ROUTER's monitor reports that, so such a refusal is logged too.
    const std::string monitor_ep =
        "inproc://handoff-intake-monitor-" + std::to_string(reinterpret_cast<uintptr_t>(this));
    if (zmq_socket_monitor(router_.handle(), monitor_ep.c_str(),
                           ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL | ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL) != 0)
      return Status::InvalidArgument(std::string("cannot monitor the intake socket: ") + zmq_strerror(zmq_errno()));
    try {
      monitor_ = std::make_unique<zmq::socket_t>(Ctx(ctx_), zmq::socket_type::pair);
      monitor_->set(zmq::sockopt::linger, 0);
      monitor_->connect(monitor_ep);
    } catch (const zmq::error_t& e) {
      return Status::InvalidArgument(std::string("cannot monitor the intake socket: ") + e.what());
    }
    curve_ = true;
    zap_thread_ = std::thread([this] { ZapLoop(); });
    return Status::OK();
  }

  void ZapLoop() {
    try {
      while (!stop_.load()) {
        zmq::pollitem_t items[2]{{zap_->handle(), 0, ZMQ_POLLIN, 0}, {monitor_->handle(), 0, ZMQ_POLLIN, 0}};
        zmq::poll(items, 2, std::chrono::milliseconds(100));
        if (items[1].revents & ZMQ_POLLIN) ReportFailedHandshake();
        if (!(items[0].revents & ZMQ_POLLIN)) continue;
        std::vector<zmq::message_t> req;
        if (!zmq::recv_multipart(*zap_, std::back_inserter(req))) continue;
        // REP owes every request a reply; a malformed one (libzmq sends none) is refused.
        const std::string mechanism = req.size() >= 6 ? req[5].to_string() : "";
        const std::string request_id = req.size() >= 2 ? req[1].to_string() : "";
        const std::string address = req.size() >= 4 ? req[3].to_string() : "";
        std::string key;
        if (mechanism == "CURVE" && req.size() >= 7 && req[6].size() == 32) {
          char z85[41];
          zmq_z85_encode(z85, static_cast<const uint8_t*>(req[6].data()), 32);
          key = z85;
        }
        const bool ok = !key.empty() && allowed_.count(key) > 0;
        if (!ok) {
          counters_.refused_peers.fetch_add(1);
          const std::string why = key.empty() ? "no CURVE key" : "key " + key + " is not in engine.intake_clients";
          uint64_t unlogged = 0;
          if (ShouldLogRefusal(address + why, &unlogged))
            LogWarn("intake", "refusing a {} connection from {}: {}{}", mechanism, address, why, Unlogged(unlogged));
        }
        std::array<std::string, 6> reply{"1.0", request_id, ok ? "200" : "400",
                                         ok ? "OK" : "unknown client key", ok ? key : "", ""};
        std::array<zmq::const_buffer, 6> frames;
        for (size_t i = 0; i < reply.size(); ++i) frames[i] = zmq::buffer(reply[i]);
        (void)zmq::send_multipart(*zap_, frames);
      }
    } catch (const zmq::error_t& e) {
      if (e.num() != ETERM) LogError("intake", "ZAP handler stopped: {}", e.what());
    }
  }

  // A monitor event of the ROUTER (zmq_socket_monitor(3)): a 6-byte frame
  // (event, value) and the endpoint. Handshakes ZAP refused are logged by ZAP.
  void ReportFailedHandshake() {
    std::vector<zmq::message_t> ev;
    if (!zmq::recv_multipart(*monitor_, std::back_inserter(ev), zmq::recv_flags::dontwait) || ev.size() != 2 ||
        ev[0].size() != 6)
      return;
    uint16_t event;
    uint32_t value;
    std::memcpy(&event, ev[0].data(), 2);
    std::memcpy(&value, static_cast<const char*>(ev[0].data()) + 2, 4);
    counters_.refused_peers.fetch_add(1);
    std::string why;
    if (event == ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL)
      why = std::string("its handshake broke off (") + zmq_strerror(static_cast<int>(value)) + ")";
    else if (value == ZMQ_PROTOCOL_ERROR_ZMTP_MECHANISM_MISMATCH)
      why = "it offered no CURVE key";
    else
      why = "ZMTP protocol error " + std::to_string(value);
    uint64_t unlogged = 0;
    if (ShouldLogRefusal(ev[1].to_string(), &unlogged))  // the peer's address is not in the event
      LogWarn("intake", "refusing a connection on {}: {}; a peer must complete a CURVE handshake with a key in "
              "engine.intake_clients{}", ev[1].to_string(), why, Unlogged(unlogged));
  }

  // A refused peer that reconnects in a loop must not flood the log: each
  // peer and reason (for failed handshakes: the endpoint) is logged at most
  // every 10 s, with the count not logged.
  bool ShouldLogRefusal(const std::string& what, uint64_t* unlogged) {
    if (refusal_log_.size() > 1000) refusal_log_.clear();
    auto& [next, count] = refusal_log_[what];
    const auto now = Clock::now();
    if (now < next) {
      ++count;
      return false;
    }
    *unlogged = count;
    count = 0;
    next = now + std::chrono::seconds(10);
    return true;
  }
  static std::string Unlogged(uint64_t n) {
    return n ? " (" + std::to_string(n) + " more like it since the last such line)" : "";
  }

  // With CURVE, a network peer may speak only as the sources of its key.
  Status CheckPeerSource(zmq::message_t& frame, const std::string& source) {
    if (!curve_ || FromThisProcess(frame)) return Status::OK();
    const char* user = zmq_msg_gets(frame.handle(), "User-Id");
    const std::string key = user ? user : "";
    auto it = allowed_.find(key);
    if (it != allowed_.end() && it->second.count(source)) return Status::OK();
    counters_.refused_peers.fetch_add(1);
    return Status::InvalidArgument("intake client key " + (key.empty() ? std::string("(none)") : key) +
                                   " may not speak as source " + source);
  }

  // inproc:// peers are threads of this process; messages that came over a
  // network transport (tcp://, ipc://) carry the ZMTP handshake's metadata.
  static bool FromThisProcess(zmq::message_t& frame) {
    return zmq_msg_gets(frame.handle(), "Socket-Type") == nullptr;
  }

  // A peer outside this process is not trusted with `upto` beyond what its
  // batch shows: the recorded (and acknowledged) position is cut back to the
  // last event, or to {lsn, end} after a commit marker or a standalone
  // message. Snapshot positions (lsn 0) are taken as sent. A forged far-ahead
  // upto would otherwise be confirmed upstream and make the journal drop
  // later real events as duplicates.
  void LimitUpto(AppendBatch* batch) {
    if (batch->upto.lsn == 0) return;
    SourcePosition allowed;
    const ChangeEvent* last = nullptr;
    for (const ChangeEvent& e : batch->events)
      if (!last || e.position > last->position) last = &e;
    if (last) {
      allowed = last->position;
      const bool standalone = last->op == Op::kMessage && last->xid == 0 && last->position.ordinal == 1 &&
                              last->source_kind == SourceKind::kPostgres;
      if (last->op == Op::kCommit || standalone) allowed.ordinal = UINT64_MAX;
    }
    if (!(allowed < batch->upto)) return;
    counters_.upto_limited.fetch_add(1);
    auto& next = next_limit_log_[batch->source];
    if (Clock::now() >= next) {
      LogWarn("intake",
              "source {}: a peer outside this process sent upto {}/{} past its last event; recording {}/{} "
              "(positions past the events are taken only from in-process agents)",
              batch->source, batch->upto.lsn, batch->upto.ordinal, allowed.lsn, allowed.ordinal);
      next = Clock::now() + std::chrono::seconds(60);
    }
    batch->upto = allowed;
  }

  void Reply(const std::string& identity, wire::MsgType type, const std::string& payload) {
    const std::string header = wire::Header(type);
    std::array<zmq::const_buffer, 3> frames{zmq::buffer(identity), zmq::buffer(header), zmq::buffer(payload)};
    // A vanished agent must not block intake.
    (void)zmq::send_multipart(router_, frames, zmq::send_flags::dontwait);
  }

  std::shared_ptr<TransportContext> ctx_;
  Journal* journal_;
  IntakeOptions options_;
  zmq::socket_t router_;
  std::set<std::string> greeted_;  // identities that said HELLO to this engine
  bool curve_ = false;
  std::map<std::string, std::set<std::string>> allowed_;  // client key (Z85) -> sources; read-only once bound
  std::unique_ptr<zmq::socket_t> zap_;  // used by zap_thread_ only
  std::unique_ptr<zmq::socket_t> monitor_;  // the ROUTER's handshake failures; used by zap_thread_ only
  std::map<std::string, std::pair<Clock::time_point, uint64_t>> refusal_log_;  // zap_thread_ only
  std::thread zap_thread_;
  std::map<std::string, Clock::time_point> next_limit_log_;  // per source, rate-limits LimitUpto's warning
  std::atomic<bool> stop_{false};
  IntakeCounters counters_;
  mutable std::mutex by_source_mu_;
  std::map<std::string, uint64_t> journaled_by_source_;  // guarded by by_source_mu_
};

class ZmqAgentClient final : public AgentClient {
 public:
  ZmqAgentClient(std::shared_ptr<TransportContext> ctx, AgentClientOptions options)
      : ctx_(std::move(ctx)), options_(std::move(options)) {}

  Status Open() {
    try {
      dealer_ = std::make_unique<zmq::socket_t>(Ctx(ctx_), zmq::socket_type::dealer);
      dealer_->set(zmq::sockopt::linger, kLingerMs);
      dealer_->set(zmq::sockopt::sndhwm, 0);
      // Engine replies are a few bytes; nothing larger is read from the socket.
      dealer_->set(zmq::sockopt::maxmsgsize, int64_t{1} << 20);
      dealer_->set(zmq::sockopt::reconnect_ivl, 100);
      dealer_->set(zmq::sockopt::reconnect_ivl_max, 2000);
      if (options_.endpoint.rfind("inproc://", 0) != 0 && !ctx_->server_public().empty()) {
        const CurveKeys& k = ctx_->client_curve();
        const std::string& server = ctx_->server_public();
        if (zmq_setsockopt(dealer_->handle(), ZMQ_CURVE_SERVERKEY, server.c_str(), server.size() + 1) != 0 ||
            zmq_setsockopt(dealer_->handle(), ZMQ_CURVE_PUBLICKEY, k.public_key.c_str(), k.public_key.size() + 1) != 0 ||
            zmq_setsockopt(dealer_->handle(), ZMQ_CURVE_SECRETKEY, k.secret_key.c_str(), k.secret_key.size() + 1) != 0)
          return Status::InvalidArgument("intake CURVE keys must be Z85 keys of 40 characters");
      }
      dealer_->connect(options_.endpoint);
    } catch (const zmq::error_t& e) {
      return Status::InvalidArgument("cannot connect to intake " + options_.endpoint + ": " + e.what());
    }
    return Status::OK();
  }

  Result<SourcePosition> Hello() override {
    HANDOFF_RETURN_IF_ERROR(SendFrames(wire::MsgType::kHello, wire::EncodeHello(options_.source)));
    auto deadline = Clock::now() + options_.hello_timeout;
    while (Clock::now() < deadline) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
      std::vector<zmq::message_t> parts;
      if (!Receive(left, &parts)) break;
      wire::MsgType type;
      if (!wire::ParseHeader(parts[0].to_string_view(), &type).ok()) continue;
      if (type == wire::MsgType::kWelcome || type == wire::MsgType::kStateWelcome) {
        std::string source, state;
        SourcePosition pos;
        HANDOFF_RETURN_IF_ERROR(wire::DecodeWelcome(parts[1].to_string_view(), type, &source, &pos, &state));
        if (source != options_.source) continue;
        durable_ = std::max(durable_, pos);
        state_ = std::move(state);
        return pos;
      }
      if (type == wire::MsgType::kError) {
        uint64_t id;
        Status err;
        HANDOFF_RETURN_IF_ERROR(wire::DecodeError(parts[1].to_string_view(), &id, &err));
        return err;
      }
      // Stale acks from before a reset are ignored.
    }
    return Status::Unavailable("engine intake at " + options_.endpoint + " did not answer within " +
                               std::to_string(options_.hello_timeout.count()) + " ms");
  }

  Status Send(AppendBatch batch) override {
    uint64_t id = ++next_id_;
    HANDOFF_RETURN_IF_ERROR(SendFrames(wire::BatchType(batch), wire::EncodeBatch(id, batch)));
    inflight_.push_back({id, batch.upto, Clock::now()});
    return Status::OK();
  }

  Status Poll(std::chrono::milliseconds wait) override {
    bool first = true;
    while (true) {
      std::vector<zmq::message_t> parts;
      if (!Receive(first ? wait : std::chrono::milliseconds(0), &parts)) return Status::OK();
      first = false;
      wire::MsgType type;
      HANDOFF_RETURN_IF_ERROR(wire::ParseHeader(parts[0].to_string_view(), &type));
      if (type == wire::MsgType::kAck) {
        uint64_t id;
        SourcePosition pos;
        HANDOFF_RETURN_IF_ERROR(wire::DecodeAck(parts[1].to_string_view(), &id, &pos));
        while (!inflight_.empty() && inflight_.front().id <= id) inflight_.pop_front();
        durable_ = std::max(durable_, pos);
      } else if (type == wire::MsgType::kError) {
        uint64_t id;
        Status err;
        HANDOFF_RETURN_IF_ERROR(wire::DecodeError(parts[1].to_string_view(), &id, &err));
        return err;
      }
    }
  }

  bool HasCredit() const override { return inflight_.size() < options_.credit; }
  size_t InFlight() const override { return inflight_.size(); }
  SourcePosition Durable() const override { return durable_; }
  const std::string& State() const override { return state_; }
  std::chrono::milliseconds OldestInFlightAge() const override {
    if (inflight_.empty()) return std::chrono::milliseconds(0);
    return std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - inflight_.front().sent);
  }

  Status Reset() override {
    inflight_.clear();
    dealer_.reset();
    return Open();
  }

 private:
  struct InFlightBatch {
    uint64_t id;
    SourcePosition upto;
    Clock::time_point sent;
  };

  Status SendFrames(wire::MsgType type, const std::string& payload) {
    try {
      const std::string header = wire::Header(type);
      std::array<zmq::const_buffer, 2> frames{zmq::buffer(header), zmq::buffer(payload)};
      // Never block: with no engine connected a DEALER send would wait forever.
      if (!zmq::send_multipart(*dealer_, frames, zmq::send_flags::dontwait))
        return Status::Unavailable("engine intake at " + options_.endpoint + " is not accepting messages");
    } catch (const zmq::error_t& e) {
      return Status::Unavailable(std::string("intake send failed: ") + e.what());
    }
    return Status::OK();
  }

  bool Receive(std::chrono::milliseconds wait, std::vector<zmq::message_t>* parts) {
    try {
      zmq::pollitem_t item{dealer_->handle(), 0, ZMQ_POLLIN, 0};
      zmq::poll(&item, 1, wait);
      if (!(item.revents & ZMQ_POLLIN)) return false;
      auto got = zmq::recv_multipart(*dealer_, std::back_inserter(*parts), zmq::recv_flags::dontwait);
      return got && parts->size() == 2;
    } catch (const zmq::error_t&) {
      return false;
    }
  }

  std::shared_ptr<TransportContext> ctx_;
  AgentClientOptions options_;
  std::unique_ptr<zmq::socket_t> dealer_;
  uint64_t next_id_ = 0;
  std::deque<InFlightBatch> inflight_;
  SourcePosition durable_;
  std::string state_;  // from the last WELCOME
};

}  // namespace

std::shared_ptr<TransportContext> TransportContext::Create() { return std::make_shared<ZmqContext>(); }

bool CurveAvailable() { return zmq_has("curve") != 0; }

Result<CurveKeys> NewCurveKeys() {
  char pub[41], sec[41];
  if (!CurveAvailable() || zmq_curve_keypair(pub, sec) != 0)
    return Status::Unavailable("libzmq cannot make CURVE keys (built without CURVE support)");
  return CurveKeys{pub, sec};
}

Result<std::string> ReadCurveSecret(const std::string& path) {
  std::ifstream in(path);
  if (!in) return Status::InvalidArgument("cannot read CURVE secret key file " + path);
  std::string key;
  in >> key;
  uint8_t raw[32];
  if (key.size() != 40 || !zmq_z85_decode(raw, key.c_str()))
    return Status::InvalidArgument("CURVE secret key file " + path + " does not hold a Z85 key of 40 characters");
  return key;
}

Result<std::unique_ptr<IntakeServer>> IntakeServer::Create(std::shared_ptr<TransportContext> ctx, Journal* journal,
                                                           IntakeOptions options) {
  auto s = std::make_unique<ZmqIntakeServer>(std::move(ctx), journal, std::move(options));
  HANDOFF_RETURN_IF_ERROR(s->Bind());
  return std::unique_ptr<IntakeServer>(std::move(s));
}

Result<std::unique_ptr<AgentClient>> AgentClient::Connect(std::shared_ptr<TransportContext> ctx,
                                                          AgentClientOptions options) {
  auto c = std::make_unique<ZmqAgentClient>(std::move(ctx), std::move(options));
  HANDOFF_RETURN_IF_ERROR(c->Open());
  return std::unique_ptr<AgentClient>(std::move(c));
}

}  // namespace handoff
