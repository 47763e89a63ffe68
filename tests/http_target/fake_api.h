// FakeApi: a real HTTP server (cpp-httplib, 127.0.0.1, any free port) playing
// a REST API behind an http target. It records every request, answers from a
// per-test script, and behaves like an idempotent API: the first 2xx for an
// Idempotency-Key applies the change, later 2xx for the same key are counted
// as duplicates and change nothing.
//
// Thread-safety: all methods are safe from any thread.
#pragma once

#include <httplib.h>

#include <chrono>
#include <condition_variable>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace handoff::testing {

struct Received {
  std::string method, path, body;
  std::string idempotency_key, origin, content_type, authorization;
  int attempt = 0;      // earlier requests with the same Idempotency-Key
  int remote_port = 0;  // the client's port: equal ports = one kept-alive connection
  std::chrono::steady_clock::time_point at;
};

struct Reply {
  int status = 200;
  std::string body = "{}";
  std::vector<std::pair<std::string, std::string>> headers;
  std::chrono::milliseconds delay{0};  // after applying, before answering (ends early on Release())
};

class FakeApi {
 public:
  using Script = std::function<Reply(const Received&)>;

  FakeApi();
  ~FakeApi();

  // "http://127.0.0.1:<port>/api".
  std::string base_url() const { return "http://127.0.0.1:" + std::to_string(port_) + "/api"; }
  void SetScript(Script script);

  std::vector<Received> requests() const;
  // Keys in the order their change was applied (first 2xx), and how often a
  // 2xx came for an already applied key.
  std::vector<std::string> applied_keys() const;
  int duplicates() const;
  // Waits until `n` requests arrived or `timeout` passed; returns whether they did.
  bool WaitForRequests(size_t n, std::chrono::milliseconds timeout) const;
  // Ends every delayed reply now (used before shutdown).
  void Release();

 private:
  void Handle(const httplib::Request& req, httplib::Response& res);

  httplib::Server server_;
  int port_ = 0;
  std::thread thread_;
  mutable std::mutex mu_;
  mutable std::condition_variable cv_;
  Script script_;
  std::vector<Received> requests_;
  std::map<std::string, int> seen_;  // key -> requests
  std::vector<std::string> applied_;
  std::map<std::string, bool> is_applied_;
  int duplicates_ = 0;
  bool released_ = false;
};

}  // namespace handoff::testing
