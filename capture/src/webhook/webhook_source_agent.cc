// WebhookSourceAgent: the HTTP side of the webhook source. Each request is
// checked in this order, and the first failing check decides the reply:
// size (413), signature over the raw bytes (401), body format (400), then the
// delivery is submitted to the DeliverySender and the request thread waits
// (bounded by ack_timeout) until it is durable (200) or not (503). The HTTP
// server is a GuardedHttpServer: request heads are read and limited by its
// gate before they reach this code. Every refusal is logged (rate-limited per
// reason) with the peer and the delivery id the sender named, never with a
// secret or a signature.
#include <httplib.h>
#include <simdjson.h>

#include <mutex>
#include <thread>

#include "delivery_sender.h"
#include "handoff/capture/guarded_http_server.h"
#include "handoff/capture/webhook_source.h"
#include "handoff/engine/json_text.h"
#include "handoff/engine/log.h"
#include "handoff/engine/pg_types.h"
#include "handoff/engine/text_codec.h"
#include "http/rejection_log.h"
#include "payload_decoder.h"
#include "signature_verifier.h"

namespace handoff {
namespace {

using webhook::DeliverySender;
using webhook::DeliveryTicket;
using webhook::PayloadDecoder;
using webhook::PayloadFormat;
using webhook::SignatureScheme;
using webhook::SignatureVerifier;

bool IEquals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i)
    if (std::tolower(static_cast<unsigned char>(a[i])) != std::tolower(static_cast<unsigned char>(b[i]))) return false;
  return true;
}

// Request headers as a JSON object, without credentials and without the
// pseudo-headers httplib adds (peer addresses).
std::string HeadersJson(const httplib::Headers& headers) {
  std::string out = "{";
  bool first = true;
  for (const auto& [k, v] : headers) {
    if (IEquals(k, "Authorization") || IEquals(k, "Cookie") || IEquals(k, "Proxy-Authorization") ||
        IEquals(k, "REMOTE_ADDR") || IEquals(k, "REMOTE_PORT") || IEquals(k, "LOCAL_ADDR") || IEquals(k, "LOCAL_PORT"))
      continue;
    if (!first) out.push_back(',');
    first = false;
    AppendJsonString(&out, k, InvalidUtf8::kKeep);
    out.push_back(':');
    AppendJsonString(&out, v, InvalidUtf8::kKeep);
  }
  return out + "}";
}

// The delivery id a request names in a header (Standard Webhooks, GitHub), for
// log lines: printable, at most 80 characters; "-" when there is none.
std::string LoggedDeliveryId(const httplib::Request& req, const std::string& decoded) {
  std::string id = req.get_header_value("webhook-id");
  if (id.empty()) id = req.get_header_value("X-GitHub-Delivery");
  if (id.empty()) id = decoded;
  if (id.empty()) return "-";
  if (id.size() > 80) id = id.substr(0, 80) + "...";
  for (char& c : id)
    if (static_cast<unsigned char>(c) < 0x21 || static_cast<unsigned char>(c) > 0x7e) c = '?';
  return id;
}

// A pool of decoders: one per request thread at a time, reused.
class DecoderPool {
 public:
  DecoderPool(PayloadFormat f, std::string source) : format_(f), source_(std::move(source)) {}
  std::unique_ptr<PayloadDecoder> Take() {
    std::lock_guard<std::mutex> lk(mu_);
    if (free_.empty()) return std::make_unique<PayloadDecoder>(format_, source_);
    auto d = std::move(free_.back());
    free_.pop_back();
    return d;
  }
  void Give(std::unique_ptr<PayloadDecoder> d) {
    std::lock_guard<std::mutex> lk(mu_);
    free_.push_back(std::move(d));
  }

 private:
  PayloadFormat format_;
  std::string source_;
  std::mutex mu_;
  std::vector<std::unique_ptr<PayloadDecoder>> free_;
};

class WebhookSourceAgentImpl final : public WebhookSourceAgent {
 public:
  WebhookSourceAgentImpl(WebhookSourceOptions o, SignatureVerifier verifier, PayloadFormat format)
      : opts_(std::move(o)),
        verifier_(std::move(verifier)),
        decoders_(format, opts_.source.name),
        sender_({opts_.context, opts_.intake_endpoint, opts_.source.name, opts_.credit, opts_.max_batch_events,
                 opts_.ack_timeout}),
        rejections_("capture", "webhook source " + opts_.source.name),
        guard_(GuardedHttpServer::Create(GuardOptions())),
        server_(guard_->server()) {
    if (!opts_.now_unix_seconds)
      opts_.now_unix_seconds = [] {
        return static_cast<int64_t>(
            std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch())
                .count());
      };
  }

  ~WebhookSourceAgentImpl() override { Stop(); }

  Status Bind() {
    const std::string& listen = opts_.source.listen;
    size_t colon = listen.rfind(':');
    if (colon == std::string::npos) return Status::InvalidArgument("webhook listen '" + listen + "' is not host:port");
    std::string host = listen.substr(0, colon);
    int want = std::atoi(listen.c_str() + colon + 1);
    server_.set_payload_max_length(opts_.source.max_body);
    server_.set_keep_alive_max_count(1000000);
    server_.set_tcp_nodelay(true);  // replies go out in two writes; Nagle would hold the second
    server_.set_pre_routing_handler([this](const httplib::Request& req, httplib::Response& res) {
      if (req.path == opts_.source.path && req.has_header("Content-Length") &&
          std::strtoull(req.get_header_value("Content-Length").c_str(), nullptr, 10) > opts_.source.max_body) {
        counters_.received.fetch_add(1, std::memory_order_relaxed);
        TooLarge(req, res);
        return httplib::Server::HandlerResponse::Handled;
      }
      return httplib::Server::HandlerResponse::Unhandled;
    });
    server_.Post(opts_.source.path, [this](const httplib::Request& req, httplib::Response& res) { Handle(req, res); });
    port_ = want == 0 ? server_.bind_to_any_port(host) : (server_.bind_to_port(host, want) ? want : -1);
    if (port_ <= 0) return Status::Unavailable("webhook source " + opts_.source.name + ": cannot listen on " + listen);
    return Status::OK();
  }

  Status Run() override {
    std::thread sender([this] { sender_.Run(); });
    LogInfo("capture", "webhook source {}: listening on port {} path {}", opts_.source.name, port_, opts_.source.path);
    serving_.store(true);
    if (!stop_.load()) server_.listen_after_bind();
    serving_.store(false);
    sender_.Stop();
    sender.join();
    LogInfo("capture", "webhook source {}: stopped", opts_.source.name);
    return Status::OK();
  }

  void Stop() override {
    stop_.store(true);
    sender_.Stop();
    // listen_after_bind may not have started yet when Stop() comes first.
    while (serving_.load() && !server_.is_running()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
    server_.stop();
  }

  const WebhookSourceCounters& counters() const override { return counters_; }
  int port() const override { return port_; }

 private:
  void Reply(httplib::Response& res, int status, const std::string& json) {
    res.status = status;
    res.set_content(json, "application/json");
  }
  void Error(httplib::Response& res, int status, std::string_view reason) {
    Reply(res, status, "{\"error\":" + JsonString(reason, InvalidUtf8::kKeep) + "}");
  }
  GuardedHttpOptions GuardOptions() {
    GuardedHttpOptions g;
    g.name = "webhook source " + opts_.source.name;
    g.limits = opts_.source.http;
    g.on_reject = [this](const HttpRejection& r) {
      const std::string status = r.status ? std::to_string(r.status) : std::string("closed");
      rejections_.Note(status + " " + r.reason,
                       "rejected delivery from " + r.peer + ": " + status + " " + r.reason + " (delivery id -)");
    };
    g.on_tick = [this] { rejections_.Flush(); };
    return g;
  }
  // One log line (rate-limited per reason key) for a refused delivery.
  void LogRejection(const httplib::Request& req, int status, std::string_view key, std::string_view detail,
                    const std::string& decoded_id = "") {
    rejections_.Note(std::to_string(status) + " " + std::string(key),
                     fmt::format("rejected delivery from {}:{}: {} {}: {} (delivery id {})", req.remote_addr,
                                 req.remote_port, status, key, detail, LoggedDeliveryId(req, decoded_id)));
  }
  void TooLarge(const httplib::Request& req, httplib::Response& res) {
    LogRejection(req, 413, "too large", "body larger than max_body");
    counters_.too_large.fetch_add(1, std::memory_order_relaxed);
    Error(res, 413, "body larger than max_body (" + std::to_string(opts_.source.max_body) + " bytes)");
  }
  void Busy(const httplib::Request& req, httplib::Response& res, std::string_view why) {
    LogRejection(req, 503, "busy", why);
    counters_.busy.fetch_add(1, std::memory_order_relaxed);
    res.set_header("Retry-After", "1");
    Error(res, 503, why);
  }

  void Handle(const httplib::Request& req, httplib::Response& res) {
    counters_.received.fetch_add(1, std::memory_order_relaxed);
    const std::string& body = req.body;
    if (body.size() > opts_.source.max_body) return TooLarge(req, res);
    auto header = [&req](const std::string& name) { return req.get_header_value(name); };
    Status sig = verifier_.Verify(body, header, opts_.now_unix_seconds());
    if (!sig.ok()) {
      counters_.bad_signature.fetch_add(1, std::memory_order_relaxed);
      // The verifier's reasons name what is wrong, never a secret or a digest.
      LogRejection(req, 401, "bad signature", sig.message());
      return Error(res, 401, sig.message());
    }
    // The engine's own write, echoed back by the platform (which passes the
    // HTTP target's origin marker on): acknowledged, never journaled again.
    if (req.get_header_value("X-Handoff-Origin") == "handoff") {
      counters_.echoes.fetch_add(1, std::memory_order_relaxed);
      return Reply(res, 200, "{\"status\":\"echo\"}");
    }
    webhook::DecodedDelivery d;
    {
      std::unique_ptr<PayloadDecoder> dec = decoders_.Take();
      Status st = dec->Decode(body, verifier_.scheme() == SignatureScheme::kStripe, &d);
      decoders_.Give(std::move(dec));
      if (!st.ok()) {
        counters_.malformed.fetch_add(1, std::memory_order_relaxed);
        LogRejection(req, 400, "malformed", st.message(), d.delivery_id);
        return Error(res, 400, st.message());
      }
    }
    if (d.handshake) {
      counters_.accepted.fetch_add(1, std::memory_order_relaxed);
      return Reply(res, 200, d.reply_body);
    }
    std::string id;
    if (verifier_.scheme() == SignatureScheme::kStandard) id = req.get_header_value("webhook-id");
    if (id.empty()) id = d.delivery_id;
    if (id.empty()) id = "sha256:" + Sha256Hex(body);

    std::vector<ChangeEvent> events;
    events.reserve(d.events.size() + 1);
    events.push_back(AuditEvent(req));
    const size_t changes = d.events.size();
    for (ChangeEvent& ev : d.events) events.push_back(std::move(ev));
    for (ChangeEvent& ev : events) ev.delivery_id = id;

    bool duplicate = false;
    std::shared_ptr<DeliveryTicket> t = sender_.Submit(id, std::move(events), &duplicate);
    if (!t) return Busy(req, res, "engine unavailable or out of credit; retry later");
    if (t->Wait(opts_.ack_timeout) != DeliveryTicket::State::kDurable)
      return Busy(req, res, "delivery not acknowledged as durable in time; retry later");
    if (duplicate) {
      counters_.duplicates.fetch_add(1, std::memory_order_relaxed);
      return Reply(res, 200, "{\"status\":\"duplicate\",\"delivery_id\":" + JsonString(id, InvalidUtf8::kKeep) + "}");
    }
    counters_.accepted.fetch_add(1, std::memory_order_relaxed);
    counters_.changes.fetch_add(changes, std::memory_order_relaxed);
    Reply(res, 200, "{\"status\":\"journaled\",\"delivery_id\":" + JsonString(id, InvalidUtf8::kKeep) + "}");
  }

  // The audit record journaled ahead of the delivery's changes.
  ChangeEvent AuditEvent(const httplib::Request& req) {
    ChangeEvent a;
    a.source = opts_.source.name;
    a.source_kind = SourceKind::kWebhook;
    a.op = Op::kMessage;
    a.schema = "webhook";
    a.table = opts_.source.format;
    a.commit_time_us = opts_.now_unix_seconds() * 1000000;
    Column body{"body", 25, Column::Kind::kText, req.body};
    if (!simdjson::validate_utf8(req.body.data(), req.body.size())) {
      body.type_oid = pg_oid::kBytea;  // PostgreSQL hex text form
      body.data = "\\x" + HexEncode(req.body);
    }
    a.after.push_back(std::move(body));
    a.after.push_back(Column{"headers", 114, Column::Kind::kText, HeadersJson(req.headers)});
    return a;
  }

  WebhookSourceOptions opts_;
  SignatureVerifier verifier_;
  DecoderPool decoders_;
  DeliverySender sender_;
  http::RejectionLog rejections_;
  std::unique_ptr<GuardedHttpServer> guard_;
  httplib::Server& server_;
  int port_ = -1;
  std::atomic<bool> stop_{false};
  std::atomic<bool> serving_{false};
  WebhookSourceCounters counters_;
};

}  // namespace

Result<std::unique_ptr<WebhookSourceAgent>> WebhookSourceAgent::Create(WebhookSourceOptions o) {
  const WebhookSourceConfig& s = o.source;
  if (s.name.empty()) return Status::InvalidArgument("webhook source: name is empty");
  if (s.listen.empty()) return Status::InvalidArgument("webhook source " + s.name + ": listen is empty");
  if (s.path.empty() || s.path[0] != '/')
    return Status::InvalidArgument("webhook source " + s.name + ": path must start with /");
  if (!o.context || o.intake_endpoint.empty())
    return Status::InvalidArgument("webhook source " + s.name + ": no transport context or intake endpoint");
  if (o.credit == 0 || o.max_batch_events == 0 || s.max_body == 0)
    return Status::InvalidArgument("webhook source " + s.name + ": credit, max_batch_events and max_body must be > 0");
  auto format = PayloadDecoder::ParseFormat(s.format);
  if (!format.ok()) return Status::InvalidArgument("webhook source " + s.name + ": " + format.status().message());
  std::string header = s.signature_header;
  if (header.empty() && s.signature == "hmac-sha256")
    header = *format == PayloadFormat::kToggl ? "X-Webhook-Signature-256" : "X-Hub-Signature-256";
  auto verifier = SignatureVerifier::Create(s.signature.empty() ? "none" : s.signature, header, s.secrets,
                                            s.tolerance_us);
  if (!verifier.ok()) return Status::InvalidArgument("webhook source " + s.name + ": " + verifier.status().message());
  auto agent = std::make_unique<WebhookSourceAgentImpl>(std::move(o), std::move(verifier).value(), *format);
  HANDOFF_RETURN_IF_ERROR(agent->Bind());
  return std::unique_ptr<WebhookSourceAgent>(std::move(agent));
}

}  // namespace handoff
