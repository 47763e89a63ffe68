#include "tcp_relay.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>

namespace handoff::testing {
namespace {

sockaddr_in Loopback(int port) {
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = htons(static_cast<uint16_t>(port));
  return a;
}

// Writes all of buf; false when the peer is gone.
bool WriteAll(int fd, const char* buf, ssize_t n) {
  while (n > 0) {
    ssize_t w = ::send(fd, buf, static_cast<size_t>(n), MSG_NOSIGNAL);
    if (w <= 0) return false;
    buf += w;
    n -= w;
  }
  return true;
}

}  // namespace

TcpRelay::TcpRelay(int target_port) : target_port_(target_port) {
  OpenListener();
  if (listen_fd_ < 0) {
    std::fprintf(stderr, "TcpRelay: cannot listen on 127.0.0.1\n");
    std::abort();
  }
  is_open_.store(true);
  thread_ = std::thread([this] { Loop(); });
}

TcpRelay::~TcpRelay() {
  stop_.store(true);
  if (thread_.joinable()) thread_.join();
  CloseAll();
}

void TcpRelay::OpenListener() {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  int one = 1;
  ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_in a = Loopback(port_);
  if (::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 || ::listen(fd, 16) != 0) {
    ::close(fd);
    return;
  }
  socklen_t len = sizeof a;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  port_ = ntohs(a.sin_port);
  listen_fd_ = fd;
}

void TcpRelay::CloseAll() {
  if (listen_fd_ >= 0) ::close(listen_fd_);
  listen_fd_ = -1;
  for (auto [c, s] : pairs_) {
    ::shutdown(c, SHUT_RDWR);
    ::shutdown(s, SHUT_RDWR);
    ::close(c);
    ::close(s);
  }
  pairs_.clear();
}

void TcpRelay::Cut() {
  want_open_.store(false);
  while (is_open_.load()) std::this_thread::sleep_for(std::chrono::milliseconds(5));
}

void TcpRelay::Restore() {
  want_open_.store(true);
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (!is_open_.load() && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
}

void TcpRelay::Loop() {
  char buf[65536];
  while (!stop_.load()) {
    if (!want_open_.load() && is_open_.load()) {
      CloseAll();
      is_open_.store(false);
    } else if (want_open_.load() && !is_open_.load()) {
      OpenListener();  // the same port; retried next round if it is not free yet
      if (listen_fd_ >= 0) is_open_.store(true);
    }
    std::vector<pollfd> fds;
    if (listen_fd_ >= 0) fds.push_back({listen_fd_, POLLIN, 0});
    for (auto [c, s] : pairs_) {
      fds.push_back({c, POLLIN, 0});
      fds.push_back({s, POLLIN, 0});
    }
    if (::poll(fds.data(), fds.size(), 50) <= 0) continue;
    const size_t first_pair = listen_fd_ >= 0 ? 1 : 0;
    std::vector<size_t> dead;
    for (size_t p = 0; p < pairs_.size(); ++p) {
      for (int side = 0; side < 2; ++side) {
        const pollfd& f = fds[first_pair + 2 * p + side];
        if (!(f.revents & (POLLIN | POLLHUP | POLLERR))) continue;
        int from = side == 0 ? pairs_[p].first : pairs_[p].second;
        int to = side == 0 ? pairs_[p].second : pairs_[p].first;
        ssize_t n = ::recv(from, buf, sizeof buf, 0);
        if (n <= 0 || !WriteAll(to, buf, n)) {
          dead.push_back(p);
          break;
        }
      }
    }
    for (auto it = dead.rbegin(); it != dead.rend(); ++it) {
      auto [c, s] = pairs_[*it];
      ::close(c);
      ::close(s);
      pairs_.erase(pairs_.begin() + static_cast<long>(*it));
    }
    if (first_pair == 1 && (fds[0].revents & POLLIN)) {
      int c = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
      if (c < 0) continue;
      int s = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
      sockaddr_in a = Loopback(target_port_);
      if (::connect(s, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0) {
        pairs_.emplace_back(c, s);
        ++accepted_;
      } else {  // the server is not there (restarting): the client sees the drop and retries
        ::close(s);
        ::close(c);
      }
    }
  }
}

}  // namespace handoff::testing
