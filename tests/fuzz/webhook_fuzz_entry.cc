// Webhook fuzz entry: the body of a delivery through the payload decoder of
// the chosen format(s), and its headers through every signature scheme.
//
// Payload: a decode succeeds or fails with kInvalidArgument; the same decoder
// decoding the body again gives the same delivery but for the positions,
// which the sender assigns (the decoder reuses its parser);
// every event is a webhook event of the source and survives the journal
// encoding; a handshake journals nothing and its reply is valid JSON.
// Signatures: a verdict is OK or kInvalidArgument; an OK must be backed by
// the right HMAC in the headers (no forgery); and a signature made here over
// the body with the entry's secret verifies, while the same one over a
// changed body does not. The secrets are those of the vectors in
// tests/data/webhooks/, so seeds built from them reach the accepting path.
#include <simdjson.h>

#include <algorithm>
#include <cctype>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "fuzz_entries.h"
#include "handoff/engine/event_codec.h"
#include "payload_decoder.h"
#include "signature_verifier.h"

namespace handoff::fuzz {
namespace {

using webhook::DecodedDelivery;
using webhook::PayloadDecoder;
using webhook::PayloadFormat;
using webhook::SignatureVerifier;

constexpr const char* kTarget = "webhook_fuzz";
constexpr int64_t kNow = 1718900042;  // the vectors' timestamps lie within 300 s of it
constexpr int64_t kTolerance = 300000000;

const char* const kStandardSecret = "whsec_aGFuZG9mZi1zdGQtd2ViaG9vay1rZXkh";
const char* const kStripeSecret = "whsec_handoff_stripe_vector";
const char* const kHmacSecrets[] = {"handoff hmac test secret", "toggl-signing-secret-7d21"};

std::string Lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

struct Delivery {
  std::vector<std::pair<std::string, std::string>> headers;
  std::string_view body;

  std::string Header(const std::string& name) const {
    const std::string want = Lower(name);
    for (const auto& [k, v] : headers)
      if (Lower(k) == want) return v;
    return "";
  }
};

// "Name: value" lines up to an empty line, then the body. Without an empty
// line everything is body.
Delivery Split(std::string_view in) {
  Delivery d;
  size_t end = in.find("\n\n");
  if (end == std::string_view::npos) {
    d.body = in;
    return d;
  }
  d.body = in.substr(end + 2);
  std::string_view head = in.substr(0, end);
  while (!head.empty()) {
    size_t nl = head.find('\n');
    std::string_view line = head.substr(0, nl);
    head = nl == std::string_view::npos ? std::string_view() : head.substr(nl + 1);
    size_t colon = line.find(':');
    if (colon == std::string_view::npos) continue;
    std::string_view v = line.substr(colon + 1);
    while (!v.empty() && v.front() == ' ') v.remove_prefix(1);
    d.headers.emplace_back(std::string(line.substr(0, colon)), std::string(v));
  }
  return d;
}

PayloadDecoder& Decoder(PayloadFormat f) {
  static PayloadDecoder debezium(PayloadFormat::kDebezium, "hook");
  static PayloadDecoder salesforce(PayloadFormat::kSalesforce, "hook");
  static PayloadDecoder toggl(PayloadFormat::kToggl, "hook");
  return f == PayloadFormat::kDebezium ? debezium : f == PayloadFormat::kSalesforce ? salesforce : toggl;
}

void Payload(PayloadFormat format, std::string_view body, bool want_id) {
  PayloadDecoder& decoder = Decoder(format);
  DecodedDelivery d;
  Status st = decoder.Decode(body, want_id, &d);
  if (!st.ok()) {
    if (st.code() != StatusCode::kInvalidArgument) Broken(kTarget, "payload error is not InvalidArgument: " + st.ToString());
    return;
  }
  DecodedDelivery again;
  Status st2 = decoder.Decode(body, want_id, &again);
  // Positions are the sender's to assign (the Debezium decoder counts ordinals on).
  auto unplaced = [](std::vector<ChangeEvent> events) {
    for (ChangeEvent& e : events) e.position = {};
    return events;
  };
  if (!st2.ok() || unplaced(again.events) != unplaced(d.events) || again.delivery_id != d.delivery_id || again.handshake != d.handshake ||
      again.reply_body != d.reply_body)
    Broken(kTarget, "decoding the same body twice gives different deliveries");
  if (d.handshake) {
    if (!d.events.empty()) Broken(kTarget, "a handshake carries events");
    simdjson::dom::parser p;
    simdjson::dom::element doc;
    if (p.parse(d.reply_body).get(doc) != simdjson::SUCCESS) Broken(kTarget, "handshake reply is not JSON: " + d.reply_body);
  }
  for (const ChangeEvent& e : d.events) {
    if (e.source != "hook" || e.source_kind != SourceKind::kWebhook) Broken(kTarget, "event of another source");
    if (!e.has_before && !e.before.empty()) Broken(kTarget, "a before image without has_before");
    for (const auto* img : {&e.before, &e.after})
      for (const Column& c : *img)
        if (c.kind == Column::Kind::kNull && !c.data.empty()) Broken(kTarget, "a NULL column carries data");
    std::string rec;
    EncodeEvent(e, 0, &rec);
    ChangeEvent back;
    if (!DecodeEvent(rec, &back, nullptr).ok() || !(back == e)) Broken(kTarget, "event does not survive the journal");
  }
}

// Base64 (standard) items after "v1," in a webhook-signature header.
bool StandardHeaderHolds(const std::string& header, const std::string& digest) {
  std::string_view rest = header;
  while (!rest.empty()) {
    size_t sp = rest.find(' ');
    std::string_view item = rest.substr(0, sp);
    rest = sp == std::string_view::npos ? std::string_view() : rest.substr(sp + 1);
    std::string bytes;
    if (item.starts_with("v1,") && Base64Decode(item.substr(3), &bytes) && bytes == digest) return true;
  }
  return false;
}

void Verdict(const SignatureVerifier& v, std::string_view body, const Delivery& d, bool backed) {
  Status st = v.Verify(body, [&](const std::string& n) { return d.Header(n); }, kNow);
  if (!st.ok() && st.code() != StatusCode::kInvalidArgument) Broken(kTarget, "signature error code: " + st.ToString());
  if (st.ok() && !backed) Broken(kTarget, "a signature verifies without the right HMAC in its header");
}

void Signatures(const Delivery& d) {
  const std::string body(d.body);
  std::string changed = body;
  changed.push_back('x');
  std::string key;
  std::string_view b64 = kStandardSecret;
  b64.remove_prefix(6);
  Base64Decode(b64, &key);

  {  // standard
    auto v = SignatureVerifier::Create("standard", "", {kStandardSecret}, kTolerance);
    if (!v.ok()) Broken(kTarget, "standard verifier: " + v.status().ToString());
    const std::string id = d.Header("webhook-id"), ts = d.Header("webhook-timestamp");
    const std::string digest = webhook::HmacSha256(key, id + "." + ts + ".", body);
    Verdict(*v, body, d, StandardHeaderHolds(d.Header("webhook-signature"), digest));
    Delivery ours;
    const std::string our_id = id.empty() ? "msg_fuzz" : id;
    ours.headers = {{"webhook-id", our_id}, {"webhook-timestamp", std::to_string(kNow)}};
    ours.headers.emplace_back("webhook-signature", "v1," + Base64Encode(webhook::HmacSha256(
                                                               key, our_id + "." + std::to_string(kNow) + ".", body)));
    if (!v->Verify(body, [&](const std::string& n) { return ours.Header(n); }, kNow).ok())
      Broken(kTarget, "a standard signature made over the body does not verify");
    if (v->Verify(changed, [&](const std::string& n) { return ours.Header(n); }, kNow).ok())
      Broken(kTarget, "a standard signature verifies a changed body");
  }
  {  // stripe
    auto v = SignatureVerifier::Create("stripe", "", {kStripeSecret}, kTolerance);
    if (!v.ok()) Broken(kTarget, "stripe verifier: " + v.status().ToString());
    const std::string h = d.Header("Stripe-Signature");
    // The timestamp the scheme signs: the last comma-separated item starting with t=.
    std::string t;
    std::string_view rest = h;
    while (!rest.empty()) {
      size_t comma = rest.find(',');
      std::string_view item = rest.substr(0, comma);
      rest = comma == std::string_view::npos ? std::string_view() : rest.substr(comma + 1);
      while (!item.empty() && (item.front() == ' ' || item.front() == '\t')) item.remove_prefix(1);
      while (!item.empty() && (item.back() == ' ' || item.back() == '\t')) item.remove_suffix(1);
      if (item.starts_with("t=")) t = std::string(item.substr(2));
    }
    const std::string hex = HexEncode(webhook::HmacSha256(kStripeSecret, t + ".", body));
    Verdict(*v, body, d, Lower(h).find(hex) != std::string::npos);
    Delivery ours;
    const std::string ts = std::to_string(kNow);
    ours.headers = {{"Stripe-Signature", "t=" + ts + ",v1=" +
                                             HexEncode(webhook::HmacSha256(kStripeSecret, ts + ".", body))}};
    if (!v->Verify(body, [&](const std::string& n) { return ours.Header(n); }, kNow).ok())
      Broken(kTarget, "a stripe signature made over the body does not verify");
    if (v->Verify(changed, [&](const std::string& n) { return ours.Header(n); }, kNow).ok())
      Broken(kTarget, "a stripe signature verifies a changed body");
  }
  for (const char* header : {"X-Hub-Signature-256", "X-Webhook-Signature-256"}) {  // hmac-sha256
    auto v = SignatureVerifier::Create("hmac-sha256", header, {kHmacSecrets[0], kHmacSecrets[1]}, kTolerance);
    if (!v.ok()) Broken(kTarget, "hmac verifier: " + v.status().ToString());
    const std::string h = Lower(d.Header(header));
    bool backed = false;
    for (const char* s : kHmacSecrets) backed |= h.find(HexEncode(webhook::HmacSha256(s, {}, body))) != std::string::npos;
    Verdict(*v, body, d, backed);
    Delivery ours;
    ours.headers = {{header, "sha256=" + HexEncode(webhook::HmacSha256(kHmacSecrets[1], {}, body))}};
    if (!v->Verify(body, [&](const std::string& n) { return ours.Header(n); }, kNow).ok())
      Broken(kTarget, "an hmac-sha256 signature made over the body does not verify");
    if (v->Verify(changed, [&](const std::string& n) { return ours.Header(n); }, kNow).ok())
      Broken(kTarget, "an hmac-sha256 signature verifies a changed body");
  }
}

// The codecs under the schemes: what decodes re-encodes to the same bytes.
void Codecs(std::string_view s) {
  std::string bytes, again;
  if (HexDecode(s, &bytes)) {
    if (Lower(HexEncode(bytes)) != Lower(s)) Broken(kTarget, "hex does not round-trip");
  }
  if (Base64Decode(s, &bytes)) {
    const std::string enc = Base64Encode(bytes);
    if (enc.size() != s.size()) Broken(kTarget, "base64 re-encodes to another length");
    if (!Base64Decode(enc, &again) || again != bytes) Broken(kTarget, "base64 does not round-trip");
  }
  if (!Base64Decode(Base64Encode(s), &again) || again != s) Broken(kTarget, "base64 of the input does not decode back");
  if (!HexDecode(HexEncode(s), &again) || again != s) Broken(kTarget, "hex of the input does not decode back");
}

}  // namespace

int WebhookFuzzOne(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const uint8_t mode = data[0];
  std::string_view in(reinterpret_cast<const char*>(data) + 1, size - 1);
  Delivery d = Split(in);
  const bool want_id = (mode & 4) != 0;
  switch (mode & 3) {
    case 0: Payload(PayloadFormat::kDebezium, d.body, want_id); break;
    case 1: Payload(PayloadFormat::kSalesforce, d.body, want_id); break;
    case 2: Payload(PayloadFormat::kToggl, d.body, want_id); break;
    default:
      for (PayloadFormat f : {PayloadFormat::kDebezium, PayloadFormat::kSalesforce, PayloadFormat::kToggl})
        Payload(f, d.body, want_id);
      break;
  }
  // The signature checks cost a few HMACs: only for inputs with headers or bit 3 set.
  if (!d.headers.empty() || (mode & 8) != 0) Signatures(d);
  for (const auto& h : d.headers) Codecs(h.second);
  if (d.body.size() <= 256) Codecs(d.body);
  return 0;
}

}  // namespace handoff::fuzz
