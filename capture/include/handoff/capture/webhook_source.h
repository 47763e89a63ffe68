// The `webhook` source kind: an embedded HTTP server taking signed deliveries
// from SaaS platforms (Standard Webhooks, Stripe-style, hex HMAC-SHA256) and
// journaling them through the same batch/ack/credit protocol as every agent.
//
// A delivery is answered 2xx only once the engine has acknowledged a position
// covering it, i.e. once it is durable in the journal. The replies:
//   200  journaled (or a duplicate of a journaled delivery; or a handshake)
//   401  missing/bad signature or a timestamp outside tolerance_us
//   400  malformed body (JSON {"error": reason}); nothing journaled
//   413  body larger than max_body
//   503  (with Retry-After) no engine session, no credit, or no acknowledgement
//        within ack_timeout; the sender retries and dedup keeps it single
//   404  any other path or method
//   431, 408, 503  from the HTTP gate: request head over source.http's limits,
//        not complete within head_timeout, or too many connections open
//        (GuardedHttpServer); every refusal is logged, rate-limited per reason
//
// Positions: lsn = a delivery counter continuing from the durable position
// returned by Hello (one per delivery), ordinal = 1.. per event of the
// delivery. Each delivery first journals an audit Op::kMessage event (schema
// "webhook", table = format, columns "body" and "headers"), then its changes,
// all carrying the delivery id; the journal deduplicates on (source,
// delivery id), so a redelivery after a crash or timeout is journaled once.
// Webhook changes carry xid 0: each is applied on its own.
//
// Thread-safety: Run() on one thread; Stop(), counters() and port() from any.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "handoff/engine/config.h"
#include "handoff/engine/status.h"
#include "handoff/engine/transport.h"

namespace handoff {

struct WebhookSourceOptions {
  WebhookSourceConfig source;  // kind "webhook": listen, path, format, signature, secrets, ...
  std::shared_ptr<TransportContext> context;
  std::string intake_endpoint;
  size_t credit = 8;
  size_t max_batch_events = 5000;
  std::chrono::milliseconds ack_timeout{10000};  // longest a delivery waits for durability
  // Clock seam for tests (signature timestamps); default: the system clock.
  std::function<int64_t()> now_unix_seconds;
};

struct WebhookSourceCounters {
  std::atomic<uint64_t> received{0};       // requests on the delivery path
  std::atomic<uint64_t> accepted{0};       // answered 2xx after durability
  std::atomic<uint64_t> duplicates{0};     // recognised by the agent as already in flight or durable
  std::atomic<uint64_t> bad_signature{0};  // 401
  std::atomic<uint64_t> malformed{0};      // 400
  std::atomic<uint64_t> too_large{0};      // 413
  std::atomic<uint64_t> busy{0};           // 503
  std::atomic<uint64_t> changes{0};        // change events sent to the engine (audit events excluded)
  std::atomic<uint64_t> echoes{0};         // deliveries marked X-Handoff-Origin: handoff (the engine's own writes)
};

class WebhookSourceAgent {
 public:
  // Validates the options and binds the listening socket (so port() is known).
  static Result<std::unique_ptr<WebhookSourceAgent>> Create(WebhookSourceOptions options);
  virtual ~WebhookSourceAgent() = default;
  // Serves until Stop(); engine failures are retried with backoff.
  virtual Status Run() = 0;
  virtual void Stop() = 0;
  virtual const WebhookSourceCounters& counters() const = 0;
  // The bound TCP port (listen may name port 0).
  virtual int port() const = 0;
};

}  // namespace handoff
