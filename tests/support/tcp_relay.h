// TcpRelay: a TCP forwarder on 127.0.0.1 between a client and a server port,
// for cutting a link the way a network does: Cut() closes the listening
// socket and every relayed connection (both ends see them drop); Restore()
// listens again on the same port.
//
// Thread-safety: all methods from one thread; the relay runs its own thread.
#pragma once

#include <atomic>
#include <thread>
#include <utility>
#include <vector>

namespace handoff::testing {

class TcpRelay {
 public:
  // Listens on a free port and forwards every connection to `target_port`.
  explicit TcpRelay(int target_port);
  ~TcpRelay();
  TcpRelay(const TcpRelay&) = delete;
  TcpRelay& operator=(const TcpRelay&) = delete;

  int port() const { return port_; }
  void Cut();
  void Restore();
  // Connections accepted and relayed since start.
  int connections() const { return accepted_.load(); }

 private:
  void Loop();
  void OpenListener();
  void CloseAll();

  const int target_port_;
  int port_ = 0;
  int listen_fd_ = -1;                     // owned by the relay thread once it runs
  std::vector<std::pair<int, int>> pairs_;  // (client, server) fds; relay thread only
  std::atomic<bool> want_open_{true};
  std::atomic<bool> is_open_{false};
  std::atomic<bool> stop_{false};
  std::atomic<int> accepted_{0};
  std::thread thread_;
};

}  // namespace handoff::testing
