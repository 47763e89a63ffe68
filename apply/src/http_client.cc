#include "http_client.h"

#include <curl/curl.h>

#include <algorithm>
#include <cctype>
#include <ctime>
#include <mutex>

namespace handoff::apply {
namespace {

constexpr int kPollMs = 100;  // bounds how long an interrupt may go unnoticed

struct EasyDeleter {
  void operator()(CURL* e) const { curl_easy_cleanup(e); }
};
struct MultiDeleter {
  void operator()(CURLM* m) const { curl_multi_cleanup(m); }
};
struct SlistDeleter {
  void operator()(curl_slist* l) const { curl_slist_free_all(l); }
};

bool GlobalInit() {
  static std::once_flag once;
  static CURLcode rc = CURLE_OK;
  std::call_once(once, [] { rc = curl_global_init(CURL_GLOBAL_DEFAULT); });
  return rc == CURLE_OK;
}

size_t OnBody(char* data, size_t size, size_t n, void* user) {
  auto* body = static_cast<std::string*>(user);
  const size_t len = size * n;
  if (body->size() < HttpClient::kMaxResponseBody)
    body->append(data, std::min(len, HttpClient::kMaxResponseBody - body->size()));
  return len;  // the rest is read and dropped
}

std::optional<std::chrono::seconds> ParseRetryAfter(const char* value) {
  std::string v(value);
  while (!v.empty() && std::isspace(static_cast<unsigned char>(v.back()))) v.pop_back();
  size_t i = 0;
  while (i < v.size() && std::isspace(static_cast<unsigned char>(v[i]))) ++i;
  v.erase(0, i);
  if (v.empty()) return std::nullopt;
  bool digits = v.size() <= 9;
  for (char c : v) digits = digits && std::isdigit(static_cast<unsigned char>(c));
  if (digits) return std::chrono::seconds(std::stol(v));
  const time_t when = curl_getdate(v.c_str(), nullptr);
  if (when < 0) return std::nullopt;
  const time_t now = std::time(nullptr);
  return std::chrono::seconds(when > now ? when - now : 0);
}

}  // namespace

struct HttpClient::Handles {
  std::unique_ptr<CURLM, MultiDeleter> multi;
  std::unique_ptr<CURL, EasyDeleter> easy;
  char error[CURL_ERROR_SIZE] = {};
};

Result<std::unique_ptr<HttpClient>> HttpClient::Create(std::chrono::milliseconds timeout) {
  if (!GlobalInit()) return Status::Internal("curl_global_init failed");
  auto h = std::make_unique<Handles>();
  h->multi.reset(curl_multi_init());
  h->easy.reset(curl_easy_init());
  if (!h->multi || !h->easy) return Status::Internal("cannot create a libcurl handle");
  return std::unique_ptr<HttpClient>(new HttpClient(std::move(h), timeout));
}

HttpClient::HttpClient(std::unique_ptr<Handles> handles, std::chrono::milliseconds timeout)
    : h_(std::move(handles)), timeout_(timeout) {}

HttpClient::~HttpClient() = default;  // easy before multi: members destroy in reverse order

void HttpClient::Interrupt() {
  interrupted_.store(true);
  curl_multi_wakeup(h_->multi.get());
}

Status HttpClient::Send(const HttpRequest& req, HttpResponse* resp) {
  *resp = HttpResponse{};
  if (interrupted_.load()) return Status::Cancelled("interrupted");
  CURL* e = h_->easy.get();
  CURLM* m = h_->multi.get();
  // reset keeps the connection cache (held by the multi handle) and DNS cache.
  curl_easy_reset(e);
  // "Expect:" turns off 100-continue, which costs a round trip per large body.
  std::unique_ptr<curl_slist, SlistDeleter> headers(curl_slist_append(nullptr, "Expect:"));
  if (!headers) return Status::Internal("out of memory building headers");
  for (const std::string& line : req.headers)  // appends in place; the head stays the same
    if (curl_slist_append(headers.get(), line.c_str()) == nullptr)
      return Status::Internal("out of memory building headers");
  const long timeout_ms = static_cast<long>(std::max<int64_t>(1, timeout_.count()));
  h_->error[0] = '\0';
  bool ok = curl_easy_setopt(e, CURLOPT_URL, req.url.c_str()) == CURLE_OK;
  ok &= curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https") == CURLE_OK;
  ok &= curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L) == CURLE_OK;
  ok &= curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, 1L) == CURLE_OK;
  ok &= curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, 2L) == CURLE_OK;
  ok &= curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L) == CURLE_OK;
  ok &= curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, timeout_ms) == CURLE_OK;
  ok &= curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, timeout_ms) == CURLE_OK;
  ok &= curl_easy_setopt(e, CURLOPT_TCP_KEEPALIVE, 1L) == CURLE_OK;
  ok &= curl_easy_setopt(e, CURLOPT_USERAGENT, "handoff") == CURLE_OK;
  ok &= curl_easy_setopt(e, CURLOPT_ERRORBUFFER, h_->error) == CURLE_OK;
  ok &= curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, req.method.c_str()) == CURLE_OK;
  // POSTFIELDS makes libcurl send the body; CUSTOMREQUEST keeps the method.
  ok &= curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(req.body.size())) == CURLE_OK;
  ok &= curl_easy_setopt(e, CURLOPT_POSTFIELDS, req.body.data()) == CURLE_OK;
  ok &= curl_easy_setopt(e, CURLOPT_HTTPHEADER, headers.get()) == CURLE_OK;
  ok &= curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, &OnBody) == CURLE_OK;
  ok &= curl_easy_setopt(e, CURLOPT_WRITEDATA, &resp->body) == CURLE_OK;
  if (!ok) return Status::Internal("cannot set libcurl options for " + req.url);

  if (curl_multi_add_handle(m, e) != CURLM_OK) return Status::Internal("curl_multi_add_handle failed");
  CURLcode result = CURLE_OK;
  bool finished = false, cancelled = false;
  while (!finished) {
    if (interrupted_.load()) {
      cancelled = true;
      break;
    }
    int running = 0;
    const CURLMcode mc = curl_multi_perform(m, &running);
    if (mc != CURLM_OK) {
      curl_multi_remove_handle(m, e);
      return Status::Unavailable(std::string("libcurl: ") + curl_multi_strerror(mc));
    }
    int queued = 0;
    while (CURLMsg* msg = curl_multi_info_read(m, &queued)) {
      if (msg->msg == CURLMSG_DONE && msg->easy_handle == e) {
        result = msg->data.result;
        finished = true;
      }
    }
    if (!finished) curl_multi_poll(m, nullptr, 0, kPollMs, nullptr);
  }
  if (cancelled) {
    curl_multi_remove_handle(m, e);  // abandons the transfer and its connection
    return Status::Cancelled("interrupted");
  }
  if (result != CURLE_OK) {
    curl_multi_remove_handle(m, e);
    std::string detail = h_->error[0] ? h_->error : curl_easy_strerror(result);
    return Status::Unavailable(detail);
  }
  curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &resp->status);
  curl_header* ra = nullptr;
  if (curl_easy_header(e, "Retry-After", 0, CURLH_HEADER, -1, &ra) == CURLHE_OK && ra != nullptr)
    resp->retry_after = ParseRetryAfter(ra->value);
  curl_multi_remove_handle(m, e);
  return Status::OK();
}

}  // namespace handoff::apply
