#include "handoff/engine/text_codec.h"

#include <openssl/evp.h>

namespace handoff {
namespace {

bool IsBase64Char(char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '+' || c == '/';
}

}  // namespace

int HexDigitValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

std::string HexEncode(std::string_view bytes) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out;
  out.reserve(bytes.size() * 2);
  for (unsigned char c : bytes) {
    out.push_back(kDigits[c >> 4]);
    out.push_back(kDigits[c & 15]);
  }
  return out;
}

bool HexDecode(std::string_view hex, std::string* out) {
  if (hex.size() % 2) return false;
  out->clear();
  out->reserve(hex.size() / 2);
  for (size_t i = 0; i < hex.size(); i += 2) {
    int hi = HexDigitValue(hex[i]), lo = HexDigitValue(hex[i + 1]);
    if (hi < 0 || lo < 0) return false;
    out->push_back(static_cast<char>(hi << 4 | lo));
  }
  return true;
}

std::string Base64Encode(std::string_view bytes) {
  std::string out;
  AppendBase64(&out, bytes);
  return out;
}

void AppendBase64(std::string* out, std::string_view bytes) {
  const size_t at = out->size();
  out->resize(at + 4 * ((bytes.size() + 2) / 3) + 1);  // EVP_EncodeBlock writes a NUL
  int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out->data() + at),
                          reinterpret_cast<const unsigned char*>(bytes.data()), static_cast<int>(bytes.size()));
  out->resize(at + (n < 0 ? 0 : static_cast<size_t>(n)));
}

// EVP_DecodeBlock skips surrounding white space and decodes the padding as
// zero bytes, so the text is checked first and the padding taken off after.
bool Base64Decode(std::string_view b64, std::string* out) {
  out->clear();
  if (b64.empty()) return true;
  if (b64.size() % 4) return false;
  const size_t pad = b64.back() != '=' ? 0 : b64[b64.size() - 2] == '=' ? 2 : 1;
  for (size_t i = 0; i + pad < b64.size(); ++i)
    if (!IsBase64Char(b64[i])) return false;
  out->resize(b64.size() / 4 * 3);
  int n = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(out->data()),
                          reinterpret_cast<const unsigned char*>(b64.data()), static_cast<int>(b64.size()));
  if (n < 0 || static_cast<size_t>(n) < pad) return false;
  out->resize(static_cast<size_t>(n) - pad);
  return true;
}

std::string Sha256Hex(std::string_view data) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  if (EVP_Digest(data.data(), data.size(), digest, &len, EVP_sha256(), nullptr) != 1) return {};
  return HexEncode(std::string_view(reinterpret_cast<const char*>(digest), len));
}

}  // namespace handoff
