// SignatureVerifier: see the header for the schemes.
#include "signature_verifier.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <charconv>

namespace handoff::webhook {

std::string HmacSha256(std::string_view key, std::string_view prefix, std::string_view body) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  std::string data;
  std::string_view msg = body;
  if (!prefix.empty()) {
    data.reserve(prefix.size() + body.size());
    data.append(prefix).append(body);
    msg = data;
  }
  static const unsigned char kEmpty = 0;
  const unsigned char* k = key.empty() ? &kEmpty : reinterpret_cast<const unsigned char*>(key.data());
  if (!HMAC(EVP_sha256(), k, static_cast<int>(key.size()), reinterpret_cast<const unsigned char*>(msg.data()),
            msg.size(), md, &len))
    return {};
  return std::string(reinterpret_cast<char*>(md), len);
}

namespace {

bool ConstantTimeEqual(const std::string& a, const std::string& b) {
  return a.size() == b.size() && !a.empty() && CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

std::string_view Trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

}  // namespace

Result<SignatureVerifier> SignatureVerifier::Create(const std::string& scheme, const std::string& header,
                                                    const std::vector<std::string>& secrets, int64_t tolerance_us) {
  SignatureVerifier v;
  v.tolerance_us_ = tolerance_us;
  v.header_ = header;
  if (scheme == "none") {
    v.scheme_ = SignatureScheme::kNone;
    return v;
  }
  if (scheme == "standard") {
    v.scheme_ = SignatureScheme::kStandard;
  } else if (scheme == "stripe") {
    v.scheme_ = SignatureScheme::kStripe;
  } else if (scheme == "hmac-sha256") {
    v.scheme_ = SignatureScheme::kHmacSha256;
    if (header.empty()) return Status::InvalidArgument("signature hmac-sha256 needs signature_header");
  } else {
    return Status::InvalidArgument("unknown signature scheme '" + scheme +
                                   "' (standard, stripe, hmac-sha256 or none)");
  }
  if (secrets.empty()) return Status::InvalidArgument("signature " + scheme + " needs at least one secret");
  for (const std::string& s : secrets) {
    if (s.empty()) return Status::InvalidArgument("a webhook secret is empty");
    if (v.scheme_ != SignatureScheme::kStandard) {
      v.keys_.push_back(s);
      continue;
    }
    std::string_view b64 = s;
    if (b64.starts_with("whsec_")) b64.remove_prefix(6);
    std::string key;
    if (!Base64Decode(b64, &key) || key.empty())
      return Status::InvalidArgument("a Standard Webhooks secret is not whsec_<base64>");
    v.keys_.push_back(std::move(key));
  }
  return v;
}

Status SignatureVerifier::CheckTimestamp(std::string_view ts, int64_t now) const {
  int64_t t = 0;
  auto [p, ec] = std::from_chars(ts.data(), ts.data() + ts.size(), t);
  if (ec != std::errc() || p != ts.data() + ts.size() || ts.empty())
    return Status::InvalidArgument("signature timestamp is not a number");
  const int64_t tol_s = tolerance_us_ / 1000000;
  if (t < now - tol_s || t > now + tol_s) return Status::InvalidArgument("signature timestamp is outside tolerance");
  return Status::OK();
}

bool SignatureVerifier::AnyKeyMatches(std::string_view prefix, std::string_view body,
                                      const std::string& digest) const {
  bool match = false;
  for (const std::string& k : keys_) match |= ConstantTimeEqual(HmacSha256(k, prefix, body), digest);
  return match;
}

Status SignatureVerifier::Verify(std::string_view body, const HeaderLookup& header, int64_t now) const {
  switch (scheme_) {
    case SignatureScheme::kNone:
      return Status::OK();
    case SignatureScheme::kStandard: {
      std::string id = header("webhook-id"), ts = header("webhook-timestamp"), sigs = header("webhook-signature");
      if (id.empty() || ts.empty() || sigs.empty())
        return Status::InvalidArgument("missing webhook-id, webhook-timestamp or webhook-signature header");
      HANDOFF_RETURN_IF_ERROR(CheckTimestamp(ts, now));
      const std::string prefix = id + "." + ts + ".";
      std::string_view rest = sigs;
      std::string digest;
      while (!rest.empty()) {
        size_t sp = rest.find(' ');
        std::string_view item = rest.substr(0, sp);
        rest = sp == std::string_view::npos ? std::string_view() : rest.substr(sp + 1);
        if (!item.starts_with("v1,")) continue;  // other versions (v1a = ed25519) are not ours
        if (Base64Decode(item.substr(3), &digest) && AnyKeyMatches(prefix, body, digest)) return Status::OK();
      }
      return Status::InvalidArgument("no webhook-signature matches");
    }
    case SignatureScheme::kStripe: {
      std::string h = header("Stripe-Signature");
      if (h.empty()) return Status::InvalidArgument("missing Stripe-Signature header");
      std::string_view rest = h, t;
      std::vector<std::string_view> v1;
      while (!rest.empty()) {
        size_t comma = rest.find(',');
        std::string_view item = Trim(rest.substr(0, comma));
        rest = comma == std::string_view::npos ? std::string_view() : rest.substr(comma + 1);
        if (item.starts_with("t=")) t = item.substr(2);
        if (item.starts_with("v1=")) v1.push_back(item.substr(3));
      }
      if (t.empty() || v1.empty()) return Status::InvalidArgument("Stripe-Signature lacks t= or v1=");
      HANDOFF_RETURN_IF_ERROR(CheckTimestamp(t, now));
      const std::string prefix = std::string(t) + ".";
      std::string digest;
      for (std::string_view s : v1)
        if (HexDecode(s, &digest) && AnyKeyMatches(prefix, body, digest)) return Status::OK();
      return Status::InvalidArgument("no Stripe-Signature v1 matches");
    }
    case SignatureScheme::kHmacSha256: {
      std::string h = header(header_);
      if (h.empty()) return Status::InvalidArgument("missing " + header_ + " header");
      std::string_view hex = Trim(h);
      if (hex.starts_with("sha256=")) hex.remove_prefix(7);
      std::string digest;
      if (HexDecode(hex, &digest) && AnyKeyMatches({}, body, digest)) return Status::OK();
      return Status::InvalidArgument(header_ + " does not match");
    }
  }
  return Status::Internal("unreachable");
}

}  // namespace handoff::webhook
