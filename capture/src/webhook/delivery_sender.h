// DeliverySender: the webhook agent's one conversation with the engine. HTTP
// threads Submit() whole deliveries and wait on the returned ticket; the
// sender thread (Run) assigns positions, batches deliveries, sends them within
// the credit window and completes each ticket once the engine's acknowledged
// durable position covers it.
//
// Invariants:
//  - positions only grow within a process: lsn = one per delivery, continuing
//    from max(durable position from Hello, last lsn assigned), ordinal 1..n;
//  - a delivery is never split across batches (the journal's delivery-id
//    dedup treats a later append of the same id as a duplicate);
//  - a delivery id already in flight is not sent again: the second request
//    waits on the first one's ticket; ids made durable recently (bounded
//    memory) are answered at once. The journal's dedup covers the rest.
//  - a session that fails (no Hello, no ack within ack_timeout) fails every
//    open ticket (the HTTP side answers 503); the sender retries with backoff
//    (RetryLoop), which starts over once a session is up again.
//
// Thread-safety: Submit/Stop from any thread; Run on one thread.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "handoff/engine/retry_loop.h"
#include "handoff/engine/status.h"
#include "handoff/engine/transport.h"

namespace handoff::webhook {

// The fate of one submitted delivery.
class DeliveryTicket {
 public:
  enum class State { kWaiting, kDurable, kFailed };
  // Waits until the ticket is settled or `timeout` passes; returns the state.
  State Wait(std::chrono::milliseconds timeout);

 private:
  friend class DeliverySender;
  void Settle(State s);
  std::mutex mu_;
  std::condition_variable cv_;
  State state_ = State::kWaiting;
  std::string delivery_id;
  std::vector<ChangeEvent> events;
  SourcePosition upto;
};

struct DeliverySenderOptions {
  std::shared_ptr<TransportContext> context;
  std::string endpoint;
  std::string source;
  size_t credit = 8;
  size_t max_batch_events = 5000;
  std::chrono::milliseconds ack_timeout{10000};
  size_t remember_durable = 65536;  // recent durable delivery ids kept in memory
  std::chrono::milliseconds min_backoff{50};   // between failed engine sessions, doubling
  std::chrono::milliseconds max_backoff{2000};
};

class DeliverySender {
 public:
  explicit DeliverySender(DeliverySenderOptions options);

  // Queues a delivery (events in journal order, delivery_id set on each).
  // Returns nullptr under back-pressure (no engine session, or no credit and
  // a full batch already waiting): answer 503. *duplicate tells whether the
  // id was already in flight or recently durable (the ticket is then shared
  // or already settled, and `events` are dropped).
  std::shared_ptr<DeliveryTicket> Submit(std::string delivery_id, std::vector<ChangeEvent> events, bool* duplicate);

  // Runs sessions until Stop().
  void Run();
  void Stop();

 private:
  // One engine session; *up once its Hello was answered.
  Status RunSession(bool* up);
  Status Pump();
  void SettleDurable(SourcePosition durable);
  void FailAll(const std::string& why);
  void Remember(const std::string& id);

  DeliverySenderOptions opts_;
  std::unique_ptr<AgentClient> client_;  // sender thread only
  uint64_t lsn_ = 0;                     // last lsn assigned (sender thread only)

  StopToken stop_;
  RetryLoop loop_;  // sender thread only
  std::mutex mu_;   // with cv_: the queue and the session state
  std::condition_variable cv_;
  bool session_up_ = false;
  bool credit_ok_ = true;                                  // last seen HasCredit
  std::deque<std::shared_ptr<DeliveryTicket>> queue_;       // submitted, not yet positioned
  size_t queued_events_ = 0;
  std::deque<std::shared_ptr<DeliveryTicket>> positioned_;  // positioned, waiting for an ack
  std::unordered_map<std::string, std::shared_ptr<DeliveryTicket>> open_;  // by delivery id
  std::unordered_set<std::string> recent_;
  std::deque<std::string> recent_order_;
};

}  // namespace handoff::webhook
