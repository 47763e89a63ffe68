#include "http/http_gate.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>

#include "handoff/engine/log.h"

namespace handoff::http {
namespace {

constexpr auto kGateTick = std::chrono::milliseconds(200);
// How long, and how much, a refused client may still send before the close.
constexpr auto kLinger = std::chrono::seconds(1);
constexpr size_t kLingerBytes = 1u << 20;

std::string PeerOf(int fd) {
  sockaddr_storage ss{};
  socklen_t len = sizeof ss;
  if (getpeername(fd, reinterpret_cast<sockaddr*>(&ss), &len) != 0) return "-";
  char host[INET6_ADDRSTRLEN] = "-";
  int port = 0;
  if (ss.ss_family == AF_INET) {
    auto* a = reinterpret_cast<sockaddr_in*>(&ss);
    inet_ntop(AF_INET, &a->sin_addr, host, sizeof host);
    port = ntohs(a->sin_port);
  } else if (ss.ss_family == AF_INET6) {
    auto* a = reinterpret_cast<sockaddr_in6*>(&ss);
    inet_ntop(AF_INET6, &a->sin6_addr, host, sizeof host);
    port = ntohs(a->sin6_port);
  }
  return std::string(host) + ":" + std::to_string(port);
}

const char* StatusText(int status) {
  switch (status) {
    case 408: return "Request Timeout";
    case 431: return "Request Header Fields Too Large";
    default: return "Service Unavailable";
  }
}

// A short answer that never blocks the calling thread; the socket closes
// after it, so a client still sending may see a reset instead.
void SendRefusal(int fd, int status, const std::string& reason) {
  std::string body = "{\"error\":\"" + reason + "\"}";
  std::string msg = "HTTP/1.1 " + std::to_string(status) + " " + StatusText(status) +
                    "\r\nContent-Type: application/json\r\nContent-Length: " + std::to_string(body.size()) +
                    "\r\nConnection: close\r\n" + (status == 503 ? "Retry-After: 1\r\n" : "") + "\r\n" + body;
  (void)send(fd, msg.data(), msg.size(), MSG_DONTWAIT | MSG_NOSIGNAL);
  shutdown(fd, SHUT_WR);
}

std::chrono::microseconds Us(int64_t us) { return std::chrono::microseconds(us); }

}  // namespace

Gate::Gate(const GuardedHttpOptions& opts, GuardedHttpCounters* counters, ServeFn serve)
    : opts_(opts), counters_(counters), serve_(std::move(serve)), default_log_("http", opts.name) {
  wake_fd_ = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  gate_ = std::thread([this] { GateLoop(); });
  for (uint64_t i = 0; i < std::max<uint64_t>(1, opts_.limits.threads); ++i)
    workers_.emplace_back([this] { WorkerLoop(); });
}

void Gate::Wake() {
  uint64_t one = 1;
  (void)!write(wake_fd_, &one, sizeof one);
}

void Gate::Stop() {
  {
    std::lock_guard<std::mutex> lk(mu_);
    if (stopped_) return;
    stopped_ = stopping_ = true;
  }
  Wake();
  ready_cv_.notify_all();
  if (gate_.joinable()) gate_.join();
  for (auto& w : workers_) w.join();
  std::lock_guard<std::mutex> lk(mu_);
  for (auto& c : incoming_) Close(c);
  for (auto& c : ready_) Close(c);
  incoming_.clear();
  ready_.clear();
  if (wake_fd_ >= 0) close(wake_fd_);
  wake_fd_ = -1;
}

void Gate::Report(const std::string& peer, int status, const std::string& reason) {
  if (opts_.on_reject) {
    opts_.on_reject(HttpRejection{peer, status, reason});
    return;
  }
  const std::string key = std::to_string(status) + " " + reason;
  default_log_.Note(key, "refused " + (status ? std::to_string(status) : std::string("(closed)")) + " from " +
                             peer + ": " + reason);
}

void Gate::Admit(int fd) {
  counters_->accepted.fetch_add(1, std::memory_order_relaxed);
  if (counters_->open.load() >= opts_.limits.max_connections) {
    counters_->over_capacity.fetch_add(1, std::memory_order_relaxed);
    const std::string why = "more than max_connections (" + std::to_string(opts_.limits.max_connections) + ") open";
    std::string peer = PeerOf(fd);
    SendRefusal(fd, 503, why);
    close(fd);
    Report(peer, 503, why);
    return;
  }
  counters_->open.fetch_add(1);
  auto c = std::make_unique<Conn>(fd, PeerOf(fd), opts_.limits);
  c->head_deadline = c->born + Us(opts_.limits.head_timeout_us);
  Back(std::move(c));
}

void Gate::Back(std::unique_ptr<Conn> c) {
  {
    std::lock_guard<std::mutex> lk(mu_);
    if (!stopping_) {
      incoming_.push_back(std::move(c));
      c = nullptr;
    }
  }
  if (c) {
    Close(c);
  } else {
    Wake();
  }
}

void Gate::Close(std::unique_ptr<Conn>& c) {
  if (!c) return;
  shutdown(c->fd, SHUT_RDWR);
  close(c->fd);
  counters_->open.fetch_sub(1);
  c.reset();
}

void Gate::Refuse(std::unique_ptr<Conn>& c, int status, const std::string& reason) {
  SendRefusal(c->fd, status, reason);
  c->closing = true;
  c->buf = std::string();
  c->head_deadline = Clock::now() + kLinger;
  Report(c->peer, status, reason);
}

void Gate::Examine(std::unique_ptr<Conn>& c) {
  const HttpServerLimits& l = opts_.limits;
  switch (c->scan.Scan(c->buf)) {
    case HeadVerdict::kWait: return;
    case HeadVerdict::kTooLarge:
      counters_->head_too_large.fetch_add(1, std::memory_order_relaxed);
      return Refuse(c, 431, "request head larger than max_header_bytes (" + std::to_string(l.max_header_bytes) + ")");
    case HeadVerdict::kTooManyHeaders:
      counters_->head_too_large.fetch_add(1, std::memory_order_relaxed);
      return Refuse(c, 431, "more than max_headers (" + std::to_string(l.max_headers) + ") header lines");
    case HeadVerdict::kReady: {
      std::lock_guard<std::mutex> lk(mu_);
      ready_.push_back(std::move(c));
      ready_cv_.notify_one();
      return;
    }
  }
}

void Gate::ReadMore(std::unique_ptr<Conn>& c) {
  char tmp[16384];
  if (c->closing) {
    ssize_t n = recv(c->fd, tmp, sizeof tmp, MSG_DONTWAIT);
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) return;
    if (n <= 0 || (c->drained += static_cast<size_t>(n)) > kLingerBytes) Close(c);
    return;
  }
  const size_t limit = c->scan.read_limit();
  const size_t room = limit > c->buf.size() ? std::min(sizeof tmp, limit - c->buf.size()) : 0;
  if (room == 0) return Examine(c);
  ssize_t n = recv(c->fd, tmp, room, MSG_DONTWAIT);
  if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) return;
  if (n <= 0) return Close(c);  // the client closed or reset: nothing to answer
  c->buf.append(tmp, static_cast<size_t>(n));
  Examine(c);
}

void Gate::Expire(std::unique_ptr<Conn>& c, Clock::time_point now) {
  if (now < c->head_deadline) return;
  if (c->closing) return Close(c);
  counters_->head_timeouts.fetch_add(1, std::memory_order_relaxed);
  if (!c->buf.empty()) return Refuse(c, 408, "request not complete within head_timeout");
  // Nothing sent: a kept-alive connection that went quiet is normal; a new
  // one that never spoke is worth a line.
  std::string peer = c->peer;
  const bool fresh = c->requests == 0;
  Close(c);
  if (fresh) Report(peer, 0, "no request within head_timeout");
}

void Gate::CutOverdue(Clock::time_point now) {
  std::lock_guard<std::mutex> lk(mu_);
  for (auto& [fd, deadline] : busy_)
    if (deadline <= now) {
      // The worker still owns the descriptor (it erases this entry before it
      // closes), so shutting it down here cannot hit a reused number.
      shutdown(fd, SHUT_RDWR);
      deadline = Clock::time_point::max();
      counters_->requests_cut.fetch_add(1, std::memory_order_relaxed);
    }
}

void Gate::GateLoop() {
  std::vector<std::unique_ptr<Conn>> conns;
  std::vector<pollfd> fds;
  Clock::time_point next_tick = Clock::now() + std::chrono::seconds(1);
  for (;;) {
    std::vector<std::unique_ptr<Conn>> fresh;
    {
      std::lock_guard<std::mutex> lk(mu_);
      if (stopping_) break;
      fresh.swap(incoming_);
    }
    for (auto& c : fresh) {
      if (!c->buf.empty()) Examine(c);  // a kept-alive connection may hold its next request already
      if (c) conns.push_back(std::move(c));
    }
    Clock::time_point now = Clock::now();
    Clock::time_point wake_at = now + kGateTick;
    fds.assign(1, pollfd{wake_fd_, POLLIN, 0});
    for (auto& c : conns) {
      fds.push_back(pollfd{c->fd, POLLIN, 0});
      wake_at = std::min(wake_at, c->head_deadline);
    }
    auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(wake_at - now).count();
    int rc = poll(fds.data(), fds.size(), static_cast<int>(std::max<int64_t>(ms, 0) + 1));
    if (rc > 0 && fds[0].revents) {
      uint64_t v;
      (void)!read(wake_fd_, &v, sizeof v);
    }
    for (size_t i = 0; rc > 0 && i < conns.size(); ++i)
      if (fds[i + 1].revents) ReadMore(conns[i]);
    now = Clock::now();
    for (auto& c : conns)
      if (c) Expire(c, now);
    std::erase_if(conns, [](const std::unique_ptr<Conn>& c) { return !c; });
    CutOverdue(now);
    if (now >= next_tick) {
      next_tick = now + std::chrono::seconds(1);
      default_log_.Flush();
      if (opts_.on_tick) opts_.on_tick();
    }
  }
  for (auto& c : conns) Close(c);
}

void Gate::WorkerLoop() {
  const HttpServerLimits& l = opts_.limits;
  for (;;) {
    std::unique_ptr<Conn> c;
    {
      std::unique_lock<std::mutex> lk(mu_);
      ready_cv_.wait(lk, [&] { return stopping_ || !ready_.empty(); });
      if (stopping_) return;  // Stop() closes what is still queued
      c = std::move(ready_.front());
      ready_.pop_front();
      busy_[c->fd] = Clock::now() + Us(l.request_timeout_us);
    }
    const Clock::time_point start = Clock::now();
    const Clock::time_point deadline = start + Us(l.request_timeout_us);
    const bool last = start >= c->born + Us(l.connection_timeout_us);
    bool keep = serve_(*c, deadline, last);
    bool cut;
    {
      std::lock_guard<std::mutex> lk(mu_);
      auto it = busy_.find(c->fd);
      cut = it->second == Clock::time_point::max();
      busy_.erase(it);
    }
    if (!keep || cut) {
      Close(c);
      continue;
    }
    ++c->requests;
    c->scan.Reset();
    c->head_deadline = Clock::now() + Us(l.head_timeout_us);
    Back(std::move(c));
  }
}

}  // namespace handoff::http
