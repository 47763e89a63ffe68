// SignatureVerifier: checks a webhook delivery's signature over the raw body
// bytes, before anything parses them. Schemes:
//   standard     Standard Webhooks: webhook-id, webhook-timestamp,
//                webhook-signature "v1,<base64>" (several, space-separated);
//                signed "id.timestamp.body"; key = base64 of the secret after "whsec_".
//   stripe       Stripe-Signature "t=<unix>,v1=<hex>[,v1=<hex>]"; signed "t.body";
//                the secret's bytes as they are (whsec_ prefix included).
//   hmac-sha256  hex HMAC-SHA256 of the body in one header, optionally
//                "sha256=" first (GitHub X-Hub-Signature-256, Toggl
//                X-Webhook-Signature-256). No timestamp, so no replay window.
//   none         accepts everything (trusted networks only).
// Any configured secret verifying is enough (rotation). Digests are compared
// in constant time (CRYPTO_memcmp) after decoding to bytes.
//
// Thread-safety: immutable after Create; Verify is safe from many threads.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "handoff/engine/status.h"
#include "handoff/engine/text_codec.h"

namespace handoff::webhook {

enum class SignatureScheme { kStandard, kStripe, kHmacSha256, kNone };

// Looks a request header up by case-insensitive name; "" when absent.
using HeaderLookup = std::function<std::string(const std::string& name)>;

class SignatureVerifier {
 public:
  // `header` is the hmac-sha256 header name; `tolerance_us` the replay window.
  static Result<SignatureVerifier> Create(const std::string& scheme, const std::string& header,
                                          const std::vector<std::string>& secrets, int64_t tolerance_us);

  // OK when one secret verifies `body` and the signed timestamp (if the
  // scheme has one) lies within tolerance of `now_unix_seconds`; otherwise
  // kInvalidArgument with the reason (never which secret came close).
  Status Verify(std::string_view body, const HeaderLookup& header, int64_t now_unix_seconds) const;

  SignatureScheme scheme() const { return scheme_; }

 private:
  SignatureVerifier() = default;
  Status CheckTimestamp(std::string_view ts, int64_t now) const;
  bool AnyKeyMatches(std::string_view prefix, std::string_view body, const std::string& digest) const;

  SignatureScheme scheme_ = SignatureScheme::kNone;
  std::string header_;
  std::vector<std::string> keys_;  // HMAC keys (decoded for standard)
  int64_t tolerance_us_ = 0;
};

// Raw HMAC-SHA256 of prefix + body, exposed for tests and the benchmark's
// signing client (hex and base64 of it: handoff/engine/text_codec.h).
std::string HmacSha256(std::string_view key, std::string_view prefix, std::string_view body);

}  // namespace handoff::webhook
