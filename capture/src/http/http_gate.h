// Gate: the connection side of GuardedHttpServer (see its header for the
// rules). One gate thread polls every connection that has no complete request
// yet, reads what arrives into the connection's buffer and refuses what breaks
// a limit; a fixed set of workers serves complete requests through `serve`,
// and the gate thread cuts requests that outlive request_timeout.
// Thread-safety: Admit from the accept thread, Stop once from any thread.
#pragma once

#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "handoff/capture/guarded_http_server.h"
#include "http/head_scanner.h"
#include "http/rejection_log.h"

namespace handoff::http {

using Clock = std::chrono::steady_clock;

struct Conn {
  Conn(int f, std::string p, const HttpServerLimits& l)
      : fd(f), peer(std::move(p)), scan(l.max_header_bytes, l.max_headers) {}
  int fd;
  std::string peer;
  std::string buf;  // read from the socket, not yet consumed by httplib
  HeadScanner scan;
  Clock::time_point born = Clock::now();
  Clock::time_point head_deadline;
  uint64_t requests = 0;
  // Refused and answered: what the client still sends is read and dropped for
  // a moment, so that it sees the answer rather than a reset.
  bool closing = false;
  size_t drained = 0;
};

class Gate {
 public:
  // Serves one request of `c` (c.buf first, then the socket) before
  // `deadline`; leaves unread bytes in c.buf; true to keep the connection.
  using ServeFn = std::function<bool(Conn& c, Clock::time_point deadline, bool close)>;

  Gate(const GuardedHttpOptions& opts, GuardedHttpCounters* counters, ServeFn serve);
  ~Gate() { Stop(); }
  void Admit(int fd);
  void Stop();

 private:
  void GateLoop();
  void WorkerLoop();
  // Decides a connection from its buffer; nullptr once it left the gate.
  void Examine(std::unique_ptr<Conn>& c);
  void ReadMore(std::unique_ptr<Conn>& c);
  void Expire(std::unique_ptr<Conn>& c, Clock::time_point now);
  void CutOverdue(Clock::time_point now);
  void Back(std::unique_ptr<Conn> c);
  void Refuse(std::unique_ptr<Conn>& c, int status, const std::string& reason);
  void Report(const std::string& peer, int status, const std::string& reason);
  void Close(std::unique_ptr<Conn>& c);
  void Wake();

  const GuardedHttpOptions opts_;
  GuardedHttpCounters* counters_;
  ServeFn serve_;
  RejectionLog default_log_;
  int wake_fd_ = -1;

  std::mutex mu_;
  bool stopping_ = false;
  bool stopped_ = false;
  std::vector<std::unique_ptr<Conn>> incoming_;  // new and kept-alive connections for the gate
  std::deque<std::unique_ptr<Conn>> ready_;      // complete requests for the workers
  std::condition_variable ready_cv_;
  std::map<int, Clock::time_point> busy_;        // fd -> request deadline (max() once cut)

  std::thread gate_;
  std::vector<std::thread> workers_;
};

}  // namespace handoff::http
