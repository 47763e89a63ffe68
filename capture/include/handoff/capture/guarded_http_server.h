// GuardedHttpServer: an httplib::Server that slow or oversized clients cannot
// starve. httplib's own loop gives every accepted connection a pool thread
// that waits in recv() (its timeout is per call, so one byte now and then
// holds the thread forever) and keeps every header it is sent. Here instead:
//
//  - the accept thread hands each socket to one gate thread, which reads the
//    request head (and a body of up to 64 KiB when Content-Length announces
//    one) with poll(), counting header bytes and lines as they arrive;
//  - only a complete head goes to a worker, which runs httplib's request
//    parsing and routing on the bytes the gate read, then the socket;
//  - over max_header_bytes or max_headers: 431; head not complete within
//    head_timeout: 408 (or a silent close when nothing was sent); more than
//    max_connections open: 503; every answer closes the connection;
//  - a request in a worker is cut (shutdown) once request_timeout passes, body
//    and reply included; a kept-alive connection goes back to the gate between
//    requests (idle time counts as head time) and takes no new request once
//    connection_timeout has passed.
//
// Each server has its own gate and workers, so one attacked listener leaves
// the others answering. Limits: HttpServerLimits (handoff/engine/config.h).
//
// Use: Create, register handlers on server(), bind, listen_after_bind() on one
// thread, stop() from another. server().new_task_queue belongs to the guard.
// Thread-safety: counters() from any thread; callbacks run on the gate thread
// (on_reject for 503 on the accept thread) and must be thread-safe.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "handoff/engine/config.h"

namespace httplib {
class Server;
}

namespace handoff {

// A connection the gate refused before any handler saw it.
struct HttpRejection {
  std::string peer;    // "address:port"
  int status = 0;      // 431, 408 or 503; 0: closed without an answer
  std::string reason;  // short, for a log line
};

struct GuardedHttpOptions {
  std::string name;  // in log lines: "webhook source hooks", "admin"
  HttpServerLimits limits;
  std::function<void(const HttpRejection&)> on_reject;  // default: a warning per rejection
  std::function<void()> on_tick;                        // about once a second, on the gate thread
};

struct GuardedHttpCounters {
  std::atomic<uint64_t> accepted{0};       // connections taken
  std::atomic<uint64_t> head_too_large{0};  // 431
  std::atomic<uint64_t> head_timeouts{0};  // 408 (or closed silently when idle)
  std::atomic<uint64_t> over_capacity{0};  // 503
  std::atomic<uint64_t> requests_cut{0};   // shut down at request_timeout
  std::atomic<uint64_t> open{0};           // connections open now
};

class GuardedHttpServer {
 public:
  static std::unique_ptr<GuardedHttpServer> Create(GuardedHttpOptions options);
  virtual ~GuardedHttpServer() = default;
  virtual httplib::Server& server() = 0;
  virtual const GuardedHttpCounters& counters() const = 0;
};

}  // namespace handoff
