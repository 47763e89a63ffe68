#include "debezium/decimal_codec.h"

#include <algorithm>
#include <vector>

#include "handoff/engine/text_codec.h"

namespace handoff::dbz {
namespace {

bool IsDigit(char c) { return c >= '0' && c <= '9'; }

// Magnitude as little-endian base-2^32 words -> decimal digits.
std::string WordsToDigits(std::vector<uint32_t> w) {
  std::string rev;
  while (!w.empty() && w.back() == 0) w.pop_back();
  while (!w.empty()) {
    uint64_t rem = 0;
    for (size_t i = w.size(); i-- > 0;) {
      uint64_t cur = (rem << 32) | w[i];
      w[i] = static_cast<uint32_t>(cur / 1000000000u);
      rem = cur % 1000000000u;
    }
    while (!w.empty() && w.back() == 0) w.pop_back();
    for (int k = 0; k < 9; ++k) {
      rev.push_back(static_cast<char>('0' + rem % 10));
      rem /= 10;
      if (w.empty() && rem == 0) break;
    }
  }
  if (rev.empty()) rev.push_back('0');
  std::reverse(rev.begin(), rev.end());
  return rev;
}

}  // namespace

void AppendByteaHex(std::string_view raw, std::string* out) {
  out->append("\\x");
  out->append(HexEncode(raw));
}

bool DecodeByteaHex(std::string_view text, std::string* raw) {
  if (text.size() < 2 || text[0] != '\\' || text[1] != 'x') return false;
  return HexDecode(text.substr(2), raw);
}

bool UnscaledToDecimal(std::string_view bytes, int32_t scale, std::string* out) {
  if (bytes.empty() || bytes.size() > kMaxDecimalBytes) return false;
  if (scale > kMaxDecimalScale || scale < -kMaxDecimalScale) return false;
  const auto* p = reinterpret_cast<const unsigned char*>(bytes.data());
  bool negative = p[0] & 0x80;
  std::string digits;
  if (bytes.size() <= 8) {
    uint64_t v = negative ? ~uint64_t{0} : 0;
    for (size_t i = 0; i < bytes.size(); ++i) v = (v << 8) | p[i];
    uint64_t mag = negative ? ~v + 1 : v;
    digits = std::to_string(mag);
  } else {
    // Two's complement negate into a magnitude, as little-endian words.
    std::vector<uint8_t> mag(p, p + bytes.size());
    if (negative) {
      for (auto& b : mag) b = static_cast<uint8_t>(~b);
      for (size_t i = mag.size(); i-- > 0;) {
        if (++mag[i] != 0) break;
      }
    }
    std::vector<uint32_t> words((mag.size() + 3) / 4, 0);
    for (size_t i = 0; i < mag.size(); ++i) {
      size_t bit = (mag.size() - 1 - i) * 8;
      words[bit / 32] |= static_cast<uint32_t>(mag[i]) << (bit % 32);
    }
    digits = WordsToDigits(std::move(words));
  }
  out->clear();
  bool zero = digits == "0";
  if (negative && !zero) out->push_back('-');
  if (scale <= 0) {
    out->append(digits);
    if (!zero) out->append(static_cast<size_t>(-scale), '0');
    return true;
  }
  size_t s = static_cast<size_t>(scale);
  if (digits.size() <= s) {
    out->append("0.");
    out->append(s - digits.size(), '0');
    out->append(digits);
  } else {
    out->append(digits, 0, digits.size() - s);
    out->push_back('.');
    out->append(digits, digits.size() - s, s);
  }
  return true;
}

bool DecimalToUnscaled(std::string_view text, int32_t* scale, std::string* bytes) {
  size_t i = 0;
  bool negative = false;
  if (i < text.size() && (text[i] == '-' || text[i] == '+')) negative = text[i++] == '-';
  std::string digits;
  int64_t frac = 0;
  bool any = false;
  while (i < text.size() && IsDigit(text[i])) digits.push_back(text[i++]), any = true;
  if (i < text.size() && text[i] == '.') {
    ++i;
    while (i < text.size() && IsDigit(text[i])) digits.push_back(text[i++]), ++frac, any = true;
  }
  if (!any) return false;
  int64_t exp = 0;
  if (i < text.size() && (text[i] == 'e' || text[i] == 'E')) {
    ++i;
    bool eneg = false;
    if (i < text.size() && (text[i] == '-' || text[i] == '+')) eneg = text[i++] == '-';
    if (i >= text.size()) return false;
    while (i < text.size() && IsDigit(text[i])) {
      exp = exp * 10 + (text[i++] - '0');
      if (exp > kMaxDecimalScale) return false;
    }
    if (eneg) exp = -exp;
  }
  if (i != text.size() || digits.size() > kMaxDecimalBytes * 2) return false;
  int64_t in_scale = frac - exp;  // value = digits * 10^-in_scale
  int64_t want = *scale >= 0 ? *scale : std::max<int64_t>(in_scale, 0);
  if (want > kMaxDecimalScale) return false;
  if (want >= in_scale) {
    if (want - in_scale > kMaxDecimalScale) return false;
    digits.append(static_cast<size_t>(want - in_scale), '0');
  } else {
    size_t drop = static_cast<size_t>(in_scale - want);
    if (drop > digits.size()) drop = digits.size();
    for (size_t k = digits.size() - drop; k < digits.size(); ++k) {
      if (digits[k] != '0') return false;  // would lose digits
    }
    digits.resize(digits.size() - drop);
  }
  *scale = static_cast<int32_t>(want);
  // Decimal digits -> little-endian base-2^32 magnitude.
  std::vector<uint32_t> w;
  for (size_t k = 0; k < digits.size();) {
    size_t n = std::min<size_t>(9, digits.size() - k);
    uint32_t chunk = 0, mul = 1;
    for (size_t j = 0; j < n; ++j) chunk = chunk * 10 + (digits[k + j] - '0'), mul *= 10;
    k += n;
    uint64_t carry = chunk;
    for (auto& x : w) {
      uint64_t cur = static_cast<uint64_t>(x) * mul + carry;
      x = static_cast<uint32_t>(cur);
      carry = cur >> 32;
    }
    if (carry) w.push_back(static_cast<uint32_t>(carry));
  }
  // Big-endian bytes of the magnitude, with one spare leading byte for the sign.
  std::string be(w.size() * 4 + 1, '\0');
  for (size_t k = 0; k < w.size(); ++k) {
    for (int b = 0; b < 4; ++b) {
      be[be.size() - 1 - (k * 4 + b)] = static_cast<char>((w[k] >> (8 * b)) & 0xFF);
    }
  }
  bool zero = std::all_of(be.begin(), be.end(), [](char c) { return c == 0; });
  if (negative && !zero) {
    for (auto& c : be) c = static_cast<char>(~static_cast<unsigned char>(c));
    for (size_t k = be.size(); k-- > 0;) {
      if (static_cast<unsigned char>(++be[k]) != 0) break;
    }
  }
  // Strip redundant sign bytes (Java BigInteger.toByteArray form).
  size_t start = 0;
  while (start + 1 < be.size()) {
    unsigned char c = be[start], next = be[start + 1];
    if ((c == 0x00 && !(next & 0x80)) || (c == 0xFF && (next & 0x80))) {
      ++start;
    } else {
      break;
    }
  }
  bytes->assign(be, start, std::string::npos);
  return true;
}

bool IsJsonNumber(std::string_view t) {
  size_t i = 0, n = t.size();
  if (i < n && t[i] == '-') ++i;
  if (i >= n) return false;
  if (t[i] == '0') {
    ++i;
  } else if (t[i] >= '1' && t[i] <= '9') {
    while (i < n && IsDigit(t[i])) ++i;
  } else {
    return false;
  }
  if (i < n && t[i] == '.') {
    ++i;
    if (i >= n || !IsDigit(t[i])) return false;
    while (i < n && IsDigit(t[i])) ++i;
  }
  if (i < n && (t[i] == 'e' || t[i] == 'E')) {
    ++i;
    if (i < n && (t[i] == '+' || t[i] == '-')) ++i;
    if (i >= n || !IsDigit(t[i])) return false;
    while (i < n && IsDigit(t[i])) ++i;
  }
  return i == n;
}

bool MoneyToDecimal(std::string_view t, std::string* out) {
  bool negative = false;
  size_t i = 0;
  if (i < t.size() && t[i] == '-') negative = true, ++i;
  bool paren = i < t.size() && t[i] == '(';
  if (paren) negative = true, ++i;
  if (i < t.size() && t[i] == '-') negative = true, ++i;
  if (i < t.size() && t[i] == '$') ++i;
  out->clear();
  if (negative) out->push_back('-');
  bool any = false, dot = false;
  for (; i < t.size(); ++i) {
    char c = t[i];
    if (IsDigit(c)) {
      out->push_back(c), any = true;
    } else if (c == ',' && !dot) {
      continue;
    } else if (c == '.' && !dot) {
      dot = true, out->push_back(c);
    } else {
      break;
    }
  }
  if (paren) {
    if (i >= t.size() || t[i] != ')') return false;
    ++i;
  }
  return any && i == t.size() && out->back() != '.';
}

}  // namespace handoff::dbz
