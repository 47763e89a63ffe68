// Agent <-> engine transport over ZeroMQ (DEALER -> ROUTER), with the batch /
// ack / credit protocol of engine/src/wire_format.md. The same code runs over
// inproc:// (agents as threads) and tcp:// or ipc:// (separate processes).
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "handoff/engine/change_event.h"
#include "handoff/engine/journal.h"
#include "handoff/engine/status.h"

namespace handoff {

// A ZeroMQ context shared by the sockets of one process; inproc:// endpoints
// only connect within one context.
// Thread-safety: safe to share.
// CURVE keys in Z85 (40 characters each).
struct CurveKeys {
  std::string public_key;
  std::string secret_key;
};

class TransportContext {
 public:
  static std::shared_ptr<TransportContext> Create();
  virtual ~TransportContext() = default;
  virtual void* native() = 0;  // the zmq::context_t, for engine internals
  // Agent clients of this context connect to non-inproc endpoints with
  // CURVE: `client` is their key pair, `server_public` the engine's key.
  // Set before Connect(); not thread-safe against it.
  void SetClientCurve(CurveKeys client, std::string server_public) {
    client_curve_ = std::move(client);
    server_public_ = std::move(server_public);
  }
  const CurveKeys& client_curve() const { return client_curve_; }
  const std::string& server_public() const { return server_public_; }

 private:
  CurveKeys client_curve_;
  std::string server_public_;
};

// Whether libzmq can do CURVE; a new key pair.
bool CurveAvailable();
Result<CurveKeys> NewCurveKeys();
// Reads a secret key file: the Z85 key, surrounding whitespace ignored.
Result<std::string> ReadCurveSecret(const std::string& path);

// One client key of the intake and the sources it may speak as.
struct IntakeClient {
  std::string public_key;  // Z85
  std::vector<std::string> sources;
};

struct IntakeOptions {
  std::vector<std::string> endpoints;             // bound ROUTER endpoints
  size_t max_batch_events = 20000;                // group-commit bounds
  size_t max_batch_bytes = 16u << 20;
  std::chrono::milliseconds max_wait{2};
  // ZMQ_MAXMSGSIZE of the intake socket: a peer sending a larger message is
  // disconnected by ZeroMQ before the message is buffered.
  uint64_t max_message_bytes = 64ull << 20;
  // With a server key, non-inproc connections must complete a CURVE
  // handshake with one of `clients`' keys (checked by a ZAP handler), and a
  // connection may HELLO and send batches only for that key's sources.
  CurveKeys curve;
  std::vector<IntakeClient> clients;
};

struct IntakeCounters {
  std::atomic<uint64_t> batches{0};
  std::atomic<uint64_t> events{0};
  std::atomic<uint64_t> duplicates{0};
  std::atomic<uint64_t> commits{0};
  std::atomic<uint64_t> map_full{0};       // appends refused because the journal is full
  std::atomic<uint64_t> append_retries{0};  // refused appends retried (any reason)
  std::atomic<bool> holding{false};         // batches held unacknowledged: the journal refuses writes
  std::atomic<uint64_t> refused_peers{0};   // CURVE handshakes refused, HELLO/BATCH for a source the key may not use
  std::atomic<uint64_t> upto_limited{0};    // batches whose upto was cut back to their events (untrusted peer)

  // Why the journal refused the held batches (its Status message; "journal
  // full: no space left on device at ..." or "journal full: map is full ...").
  std::string HoldReason() const {
    std::lock_guard<std::mutex> lock(hold_mu_);
    return hold_reason_;
  }
  void SetHoldReason(std::string reason) {
    std::lock_guard<std::mutex> lock(hold_mu_);
    hold_reason_ = std::move(reason);
  }

 private:
  mutable std::mutex hold_mu_;
  std::string hold_reason_;
};

// The engine side: receives agent batches, journals them with group commit,
// acknowledges the durable position.
// Thread-safety: Run() on one thread; Stop() from any.
class IntakeServer {
 public:
  static Result<std::unique_ptr<IntakeServer>> Create(std::shared_ptr<TransportContext> ctx,
                                                      Journal* journal, IntakeOptions options);
  virtual ~IntakeServer() = default;
  // Serves until Stop(). Returns the first fatal error, or OK after Stop().
  virtual Status Run() = 0;
  virtual void Stop() = 0;
  virtual const IntakeCounters& counters() const = 0;
  // Events journaled per source since the server started.
  virtual std::map<std::string, uint64_t> JournaledBySource() const = 0;
};

struct AgentClientOptions {
  std::string endpoint;
  std::string source;
  size_t credit = 8;  // unacknowledged batches allowed in flight
  std::chrono::milliseconds hello_timeout{5000};
};

// The agent side. Owned and used by one thread.
class AgentClient {
 public:
  static Result<std::unique_ptr<AgentClient>> Connect(std::shared_ptr<TransportContext> ctx,
                                                      AgentClientOptions options);
  virtual ~AgentClient() = default;

  // Asks the engine for the source's durable position (where to resume).
  // Fails with kUnavailable when the engine does not answer in time.
  virtual Result<SourcePosition> Hello() = 0;

  // Sends one batch. REQUIRES: HasCredit(). Positions must grow across calls.
  virtual Status Send(AppendBatch batch) = 0;

  // Processes acknowledgements that have arrived, waiting up to `wait` for one
  // when none is pending. Returns an error the engine reported (for example
  // kResourceExhausted while the journal is full), else OK.
  virtual Status Poll(std::chrono::milliseconds wait) = 0;

  virtual bool HasCredit() const = 0;
  virtual size_t InFlight() const = 0;
  // Highest position the engine has acknowledged as durable for this source.
  virtual SourcePosition Durable() const = 0;
  // The source's state as of the position Hello() returned (what the last
  // batch with a state left in the journal); empty when it has none.
  virtual const std::string& State() const = 0;
  // Time since the oldest in-flight batch was sent (zero if none): lets an
  // agent notice a vanished engine and resend.
  virtual std::chrono::milliseconds OldestInFlightAge() const = 0;
  // Drops in-flight state and reconnects (after the engine restarted).
  virtual Status Reset() = 0;
};

}  // namespace handoff
