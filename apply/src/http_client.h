// HttpClient: the one libcurl wrapper of the apply component. Owns a multi
// handle and one easy handle that are reused for every request, so the
// connection to the API stays open (keep-alive). TLS peer and host
// verification are always on, against the system CA store (libcurl's
// default); redirects are not followed; only http and https are allowed.
// Requests run on the multi interface so that Interrupt() can wake a request
// in flight at once instead of waiting for the timeout.
//
// Thread-safety: Send() from one thread at a time; Interrupt() from any.
#pragma once

#include <atomic>
#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "handoff/engine/status.h"

namespace handoff::apply {

struct HttpRequest {
  std::string method;  // "PUT", "DELETE", "POST", ...
  std::string url;
  std::vector<std::string> headers;  // "Name: value"
  std::string body;                  // sent as is (may be empty)
};

struct HttpResponse {
  long status = 0;
  std::string body;  // at most kMaxResponseBody bytes are kept
  // From Retry-After (delay-seconds or an HTTP date), when present.
  std::optional<std::chrono::seconds> retry_after;
};

class HttpClient {
 public:
  static constexpr size_t kMaxResponseBody = 64 * 1024;

  // `timeout` bounds each whole request (connect included).
  // kInternal when libcurl cannot be initialised.
  static Result<std::unique_ptr<HttpClient>> Create(std::chrono::milliseconds timeout);
  ~HttpClient();

  // Sends `request` and reads the whole response. OK with *response filled for
  // any HTTP status; kUnavailable for a transport failure (name resolution,
  // connect, TLS, timeout, reset; the message is libcurl's); kCancelled once
  // Interrupt() was called.
  Status Send(const HttpRequest& request, HttpResponse* response);

  // Makes the Send in flight, and every later one, return kCancelled promptly.
  void Interrupt();

  HttpClient(const HttpClient&) = delete;
  HttpClient& operator=(const HttpClient&) = delete;

 private:
  struct Handles;
  HttpClient(std::unique_ptr<Handles> handles, std::chrono::milliseconds timeout);

  std::unique_ptr<Handles> h_;
  std::chrono::milliseconds timeout_;
  std::atomic<bool> interrupted_{false};
};

}  // namespace handoff::apply
