#include "fake_api.h"

#include <stdexcept>

namespace handoff::testing {

FakeApi::FakeApi() {
  auto handler = [this](const httplib::Request& req, httplib::Response& res) { Handle(req, res); };
  const char* pattern = R"(/api/.*)";
  server_.Put(pattern, handler);
  server_.Post(pattern, handler);
  server_.Delete(pattern, handler);
  server_.Patch(pattern, handler);
  port_ = server_.bind_to_any_port("127.0.0.1");
  if (port_ <= 0) throw std::runtime_error("FakeApi: cannot bind 127.0.0.1");
  thread_ = std::thread([this] { server_.listen_after_bind(); });
}

FakeApi::~FakeApi() {
  Release();
  server_.stop();
  thread_.join();
}

void FakeApi::SetScript(Script script) {
  std::lock_guard<std::mutex> lock(mu_);
  script_ = std::move(script);
}

void FakeApi::Release() {
  std::lock_guard<std::mutex> lock(mu_);
  released_ = true;
  cv_.notify_all();
}

void FakeApi::Handle(const httplib::Request& req, httplib::Response& res) {
  Received r;
  r.method = req.method;
  r.path = req.path;
  r.body = req.body;
  r.idempotency_key = req.get_header_value("Idempotency-Key");
  r.origin = req.get_header_value("X-Handoff-Origin");
  r.content_type = req.get_header_value("Content-Type");
  r.authorization = req.get_header_value("Authorization");
  r.at = std::chrono::steady_clock::now();
  r.remote_port = req.remote_port;
  Reply reply;
  {
    std::unique_lock<std::mutex> lock(mu_);
    r.attempt = seen_[r.idempotency_key]++;
    requests_.push_back(r);
    cv_.notify_all();
    if (script_) reply = script_(r);
    // Applied first, answered later: a delayed 2xx models an answer that is
    // lost to the client's timeout although the API took the change.
    if (reply.status >= 200 && reply.status < 300) {
      if (is_applied_[r.idempotency_key]) {
        ++duplicates_;  // idempotent: the change is not applied again
      } else {
        is_applied_[r.idempotency_key] = true;
        applied_.push_back(r.idempotency_key);
      }
    }
    if (reply.delay.count() > 0) cv_.wait_for(lock, reply.delay, [this] { return released_; });
  }
  res.status = reply.status;
  for (const auto& [k, v] : reply.headers) res.set_header(k.c_str(), v);
  res.set_content(reply.body, "application/json");
}

std::vector<Received> FakeApi::requests() const {
  std::lock_guard<std::mutex> lock(mu_);
  return requests_;
}

std::vector<std::string> FakeApi::applied_keys() const {
  std::lock_guard<std::mutex> lock(mu_);
  return applied_;
}

int FakeApi::duplicates() const {
  std::lock_guard<std::mutex> lock(mu_);
  return duplicates_;
}

bool FakeApi::WaitForRequests(size_t n, std::chrono::milliseconds timeout) const {
  std::unique_lock<std::mutex> lock(mu_);
  return cv_.wait_for(lock, timeout, [&] { return requests_.size() >= n; });
}

}  // namespace handoff::testing
