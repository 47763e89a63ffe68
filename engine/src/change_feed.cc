// ChangeFeedPublisher and MessagePuller over cppzmq.
#include "handoff/engine/change_feed.h"

#include <zmq.hpp>
#include <zmq_addon.hpp>

#include <chrono>
#include <cstdlib>
#include <vector>

#include "handoff/engine/log.h"

namespace handoff {
namespace {

constexpr int kLingerMs = 100;
constexpr size_t kReadBatch = 1000;
constexpr std::chrono::milliseconds kPoll{100};         // bounds Stop() latency
constexpr std::chrono::milliseconds kSaveEvery{1000};  // how often the published seq is remembered
const char* const kMetaKey = "feed.published_seq";

zmq::context_t& Ctx(const std::shared_ptr<TransportContext>& c) { return *static_cast<zmq::context_t*>(c->native()); }

class ZmqChangeFeed final : public ChangeFeedPublisher {
 public:
  ZmqChangeFeed(std::shared_ptr<TransportContext> ctx, ChangeFeedOptions o)
      : ctx_(std::move(ctx)), opts_(std::move(o)), pub_(Ctx(ctx_), zmq::socket_type::pub) {}

  Status Bind() {
    try {
      pub_.set(zmq::sockopt::linger, kLingerMs);
      pub_.set(zmq::sockopt::sndhwm, opts_.send_hwm);
      pub_.bind(opts_.endpoint);
    } catch (const zmq::error_t& e) {
      return Status::InvalidArgument("cannot bind the change feed at " + opts_.endpoint + ": " + e.what());
    }
    return Status::OK();
  }

  Status Run() override {
    uint64_t next = 0;
    auto saved = opts_.journal->GetMeta(kMetaKey);
    if (!saved.ok()) return saved.status();
    if (saved->has_value()) {
      next = std::strtoull((*saved)->c_str(), nullptr, 10) + 1;
    } else {
      next = opts_.journal->LastSeq() + 1;  // first start: the feed begins now
    }
    uint64_t first = opts_.journal->Stats().first_seq;
    if (first > next) next = first;  // retention removed the rest
    LogInfo("feed", "publishing on {} from seq {}", opts_.endpoint, next);
    std::vector<JournalEntry> entries;
    auto save_at = std::chrono::steady_clock::now() + kSaveEvery;
    uint64_t unsaved = 0;
    try {
      while (!stop_.load()) {
        entries.clear();
        HANDOFF_RETURN_IF_ERROR(opts_.journal->Read(next, kReadBatch, &entries));
        for (const JournalEntry& e : entries) {
          std::string topic = FeedTopic(e.event);
          std::string seq = std::to_string(e.seq);
          std::string body = opts_.encode(e.event);
          next = e.seq + 1;
          unsaved = e.seq;
          if (body.empty()) continue;  // the encoding has no record for it (a schema change)
          pub_.send(zmq::buffer(topic), zmq::send_flags::sndmore);
          pub_.send(zmq::buffer(seq), zmq::send_flags::sndmore);
          pub_.send(zmq::buffer(body), zmq::send_flags::none);
          counters_.published.fetch_add(1, std::memory_order_relaxed);
          counters_.last_seq.store(e.seq, std::memory_order_relaxed);
        }
        if (unsaved != 0 && std::chrono::steady_clock::now() >= save_at) {
          HANDOFF_RETURN_IF_ERROR(opts_.journal->PutMeta(kMetaKey, std::to_string(unsaved)));
          unsaved = 0;
          save_at = std::chrono::steady_clock::now() + kSaveEvery;
        }
        if (entries.empty()) opts_.journal->WaitFor(next, kPoll);
      }
    } catch (const zmq::error_t& e) {
      return Status::Unavailable(std::string("change feed socket failed: ") + e.what());
    }
    if (unsaved != 0) HANDOFF_RETURN_IF_ERROR(opts_.journal->PutMeta(kMetaKey, std::to_string(unsaved)));
    return Status::OK();
  }

  void Stop() override { stop_.store(true); }
  const ChangeFeedCounters& counters() const override { return counters_; }

 private:
  std::shared_ptr<TransportContext> ctx_;
  ChangeFeedOptions opts_;
  zmq::socket_t pub_;
  std::atomic<bool> stop_{false};
  ChangeFeedCounters counters_;
};

class ZmqPuller final : public MessagePuller {
 public:
  explicit ZmqPuller(std::shared_ptr<TransportContext> ctx)
      : ctx_(std::move(ctx)), pull_(Ctx(ctx_), zmq::socket_type::pull) {}

  Status Bind(const std::string& endpoint) {
    try {
      pull_.set(zmq::sockopt::linger, kLingerMs);
      pull_.bind(endpoint);
    } catch (const zmq::error_t& e) {
      return Status::InvalidArgument("cannot bind " + endpoint + ": " + e.what());
    }
    return Status::OK();
  }

  Result<bool> Receive(std::string* out, std::chrono::milliseconds wait) override {
    try {
      zmq::pollitem_t item{pull_.handle(), 0, ZMQ_POLLIN, 0};
      zmq::poll(&item, 1, wait);
      if (!(item.revents & ZMQ_POLLIN)) return false;
      std::vector<zmq::message_t> frames;
      if (!zmq::recv_multipart(pull_, std::back_inserter(frames), zmq::recv_flags::dontwait)) return false;
      for (const auto& f : frames) out->append(static_cast<const char*>(f.data()), f.size());
      return true;
    } catch (const zmq::error_t& e) {
      return Status::Unavailable(std::string("PULL socket failed: ") + e.what());
    }
  }

 private:
  std::shared_ptr<TransportContext> ctx_;
  zmq::socket_t pull_;
};

}  // namespace

std::string FeedTopic(const ChangeEvent& e) {
  if (e.op == Op::kCommit) return e.source + ".transaction";
  return e.source + "." + e.schema + "." + e.table;
}

Result<std::unique_ptr<ChangeFeedPublisher>> ChangeFeedPublisher::Create(std::shared_ptr<TransportContext> ctx,
                                                                         ChangeFeedOptions options) {
  if (options.journal == nullptr || !options.encode)
    return Status::InvalidArgument("change feed needs a journal and an encoder");
  auto p = std::make_unique<ZmqChangeFeed>(std::move(ctx), std::move(options));
  HANDOFF_RETURN_IF_ERROR(p->Bind());
  return std::unique_ptr<ChangeFeedPublisher>(std::move(p));
}

Result<std::unique_ptr<MessagePuller>> MessagePuller::Bind(std::shared_ptr<TransportContext> ctx,
                                                           const std::string& endpoint) {
  auto p = std::make_unique<ZmqPuller>(std::move(ctx));
  HANDOFF_RETURN_IF_ERROR(p->Bind(endpoint));
  return std::unique_ptr<MessagePuller>(std::move(p));
}

}  // namespace handoff
