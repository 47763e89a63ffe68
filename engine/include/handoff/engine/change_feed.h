// The change feed: every journaled change, in journal order, published on a
// ZeroMQ PUB socket for dashboards and reporting layers.
//
// Each message has three frames: the topic `<source>.<schema>.<table>`
// (`<source>.transaction` for a commit marker), the journal seq as decimal
// text (a subscriber can see a gap), and the body made by the encoder (the
// handoff binary plugs in Debezium JSON). SUB sockets filter by topic prefix.
//
// Delivery. PUB drops messages for a subscriber that is not connected or too
// slow (beyond the send high-water mark); the journal is the record, and
// `handoff journal dump --from-seq` fills a gap. The publisher remembers the
// last seq it handed to the socket in the journal's meta store, so after a
// restart it resumes there rather than skipping what was journaled meanwhile.
//
// Thread-safety: Run() on one thread; Stop() from any.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "handoff/engine/journal.h"
#include "handoff/engine/status.h"
#include "handoff/engine/transport.h"

namespace handoff {

struct ChangeFeedOptions {
  std::string endpoint;  // bound PUB endpoint (tcp://, ipc://, inproc://)
  Journal* journal = nullptr;
  // The message body of an event; an empty body publishes nothing for it.
  std::function<std::string(const ChangeEvent&)> encode;
  int send_hwm = 100000;  // messages queued per subscriber before PUB drops
};

struct ChangeFeedCounters {
  std::atomic<uint64_t> published{0};
  std::atomic<uint64_t> last_seq{0};
};

class ChangeFeedPublisher {
 public:
  // Binds the socket. Fails with kInvalidArgument when the endpoint cannot be bound.
  static Result<std::unique_ptr<ChangeFeedPublisher>> Create(std::shared_ptr<TransportContext> ctx,
                                                             ChangeFeedOptions options);
  virtual ~ChangeFeedPublisher() = default;
  // Publishes until Stop().
  virtual Status Run() = 0;
  virtual void Stop() = 0;
  virtual const ChangeFeedCounters& counters() const = 0;
};

// The topic of an event on the feed.
std::string FeedTopic(const ChangeEvent& event);

// A bound ZeroMQ PULL socket (the `debezium` source's network input).
// Thread-safety: one thread.
class MessagePuller {
 public:
  static Result<std::unique_ptr<MessagePuller>> Bind(std::shared_ptr<TransportContext> ctx,
                                                     const std::string& endpoint);
  virtual ~MessagePuller() = default;
  // Waits up to `wait` for one message and appends its frames, concatenated,
  // to *out. Returns whether a message arrived.
  virtual Result<bool> Receive(std::string* out, std::chrono::milliseconds wait) = 0;
};

}  // namespace handoff
