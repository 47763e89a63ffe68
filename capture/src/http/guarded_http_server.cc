// GuardedHttpServer on cpp-httplib 0.11.4. What this relies on, as that
// version's Server::listen_internal does it: the accept thread calls
// new_task_queue() once per listen, then for every accepted socket
// enqueue([..] { process_and_close_socket(sock); }) (a virtual call), and
// task_queue->shutdown() once the listening socket is closed by stop().
// The base process_and_close_socket is private, so the keep-alive loop is
// ours: each request goes through the protected process_request on a Stream
// that serves the bytes the gate read before the socket.
#include "handoff/capture/guarded_http_server.h"

#include <httplib.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "http/http_gate.h"

namespace handoff {
namespace {

using http::Clock;
using http::Conn;
using http::Gate;

void AddressOf(int fd, bool peer, std::string& ip, int& port) {
  sockaddr_storage ss{};
  socklen_t len = sizeof ss;
  int rc = peer ? getpeername(fd, reinterpret_cast<sockaddr*>(&ss), &len)
                : getsockname(fd, reinterpret_cast<sockaddr*>(&ss), &len);
  ip.clear();
  port = 0;
  if (rc != 0) return;
  char host[INET6_ADDRSTRLEN] = "";
  if (ss.ss_family == AF_INET) {
    auto* a = reinterpret_cast<sockaddr_in*>(&ss);
    inet_ntop(AF_INET, &a->sin_addr, host, sizeof host);
    port = ntohs(a->sin_port);
  } else if (ss.ss_family == AF_INET6) {
    auto* a = reinterpret_cast<sockaddr_in6*>(&ss);
    inet_ntop(AF_INET6, &a->sin6_addr, host, sizeof host);
    port = ntohs(a->sin6_port);
  }
  ip = host;
}

// The bytes the gate already read, then the socket; every wait ends at the
// request's deadline, and each single wait after `io_timeout`.
class GateStream final : public httplib::Stream {
 public:
  GateStream(int fd, const std::string& pending, Clock::time_point deadline, std::chrono::milliseconds io_timeout)
      : fd_(fd), pending_(pending), deadline_(deadline), io_timeout_(io_timeout) {}

  bool is_readable() const override { return off_ < pending_.size() || Wait(POLLIN); }
  bool is_writable() const override { return Wait(POLLOUT); }

  ssize_t read(char* ptr, size_t size) override {
    if (off_ < pending_.size()) {
      size_t n = std::min(size, pending_.size() - off_);
      std::memcpy(ptr, pending_.data() + off_, n);
      off_ += n;
      return static_cast<ssize_t>(n);
    }
    if (!Wait(POLLIN)) return Fail();
    ssize_t n;
    do n = recv(fd_, ptr, size, 0);
    while (n < 0 && errno == EINTR);
    return n > 0 ? n : Fail();
  }

  ssize_t write(const char* ptr, size_t size) override {
    if (!Wait(POLLOUT)) return Fail();
    ssize_t n;
    do n = send(fd_, ptr, size, MSG_NOSIGNAL);
    while (n < 0 && errno == EINTR);
    return n >= 0 ? n : Fail();
  }

  void get_remote_ip_and_port(std::string& ip, int& port) const override { AddressOf(fd_, true, ip, port); }
  void get_local_ip_and_port(std::string& ip, int& port) const override { AddressOf(fd_, false, ip, port); }
  socket_t socket() const override { return fd_; }

  std::string Unread() const { return pending_.substr(off_); }
  // A read or write failed or ran into the deadline: httplib may still call
  // the request a success (it ignores some write results, and answers a
  // short body with 400), but the connection's state is unknown.
  bool failed() const { return failed_; }

 private:
  ssize_t Fail() {
    failed_ = true;
    return -1;
  }
  bool Wait(short events) const {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline_ - Clock::now());
    if (left.count() <= 0) return false;
    pollfd p{fd_, events, 0};
    int rc;
    do rc = poll(&p, 1, static_cast<int>(std::min(left, io_timeout_).count()));
    while (rc < 0 && errno == EINTR);
    return rc > 0;
  }

  int fd_;
  const std::string& pending_;
  size_t off_ = 0;
  bool failed_ = false;
  Clock::time_point deadline_;
  std::chrono::milliseconds io_timeout_;
};

class Server;

// The task queue httplib asks for per listen: tasks run inline on the accept
// thread, where they only hand the socket to this listen's gate.
class GateQueue final : public httplib::TaskQueue {
 public:
  explicit GateQueue(Server* s);
  void enqueue(std::function<void()> fn) override { fn(); }
  void shutdown() override;

 private:
  Server* server_;
  Gate gate_;
};

class Server final : public httplib::Server, public GuardedHttpServer {
 public:
  explicit Server(GuardedHttpOptions o) : opts_(std::move(o)) {
    new_task_queue = [this] { return new GateQueue(this); };
  }

  httplib::Server& server() override { return *this; }
  const GuardedHttpCounters& counters() const override { return counters_; }

  bool ServeOne(Conn& c, Clock::time_point deadline, bool close) {
    const auto io = std::chrono::seconds(read_timeout_sec_) + std::chrono::microseconds(read_timeout_usec_);
    GateStream strm(c.fd, c.buf, deadline, std::max(std::chrono::milliseconds(1),
                                                    std::chrono::duration_cast<std::chrono::milliseconds>(io)));
    bool closed = false;
    bool ok = process_request(strm, close, closed, nullptr);
    c.buf = strm.Unread();
    return ok && !closed && !close && !strm.failed();
  }

  // httplib listens with a backlog of 5, so a burst of connections would have
  // SYNs dropped and retried a second later; listen() again raises it.
  void WidenBacklog() {
    const int fd = svr_sock_.load();
    if (fd >= 0) ::listen(fd, static_cast<int>(std::clamp<uint64_t>(opts_.limits.max_connections, 128, 4096)));
  }

  const GuardedHttpOptions opts_;
  GuardedHttpCounters counters_;
  std::atomic<Gate*> gate_{nullptr};

 private:
  bool process_and_close_socket(socket_t sock) override {
    Gate* g = gate_.load();
    if (g == nullptr) {
      ::close(sock);
      return false;
    }
    g->Admit(sock);
    return true;
  }
};

GateQueue::GateQueue(Server* s)
    : server_(s), gate_(s->opts_, &s->counters_, [s](Conn& c, Clock::time_point deadline, bool close) {
        return s->ServeOne(c, deadline, close);
      }) {
  server_->gate_.store(&gate_);
  server_->WidenBacklog();
}

void GateQueue::shutdown() {
  server_->gate_.store(nullptr);
  gate_.Stop();
}

}  // namespace

std::unique_ptr<GuardedHttpServer> GuardedHttpServer::Create(GuardedHttpOptions options) {
  return std::make_unique<Server>(std::move(options));
}

}  // namespace handoff
