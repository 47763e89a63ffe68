#include "handoff/conflict/decimal_text.h"

#include <algorithm>

namespace handoff::conflict {
namespace {

// An exact decimal: (-1)^neg * digits * 10^-scale, digits without a sign.
struct Decimal {
  bool neg = false;
  std::string digits;  // most significant first; at least one digit
  size_t scale = 0;
};

bool Parse(std::string_view s, Decimal* out) {
  if (!IsDecimalText(s)) return false;
  Decimal d;
  size_t i = 0;
  if (s[0] == '+' || s[0] == '-') {
    d.neg = s[0] == '-';
    i = 1;
  }
  for (; i < s.size(); ++i) {
    if (s[i] == '.') {
      d.scale = s.size() - i - 1;
      continue;
    }
    d.digits.push_back(s[i]);
  }
  *out = std::move(d);
  return true;
}

// Pads `d` with trailing zeros to `scale`.
std::string Scaled(const Decimal& d, size_t scale, size_t width) {
  std::string s = d.digits + std::string(scale - d.scale, '0');
  return std::string(width > s.size() ? width - s.size() : 0, '0') + s;
}

// |a| + |b| or |a| - |b| (REQUIRES |a| >= |b|) on equal-width digit strings.
std::string AddMagnitudes(const std::string& a, const std::string& b) {
  std::string r(a.size() + 1, '0');
  int carry = 0;
  for (size_t i = a.size(); i-- > 0;) {
    int v = (a[i] - '0') + (b[i] - '0') + carry;
    r[i + 1] = static_cast<char>('0' + v % 10);
    carry = v / 10;
  }
  r[0] = static_cast<char>('0' + carry);
  return r;
}

std::string SubMagnitudes(const std::string& a, const std::string& b) {
  std::string r(a.size(), '0');
  int borrow = 0;
  for (size_t i = a.size(); i-- > 0;) {
    int v = (a[i] - '0') - (b[i] - '0') - borrow;
    borrow = v < 0 ? 1 : 0;
    r[i] = static_cast<char>('0' + v + borrow * 10);
  }
  return r;
}

std::string Format(bool neg, std::string digits, size_t scale) {
  // Keep at least one integer digit; strip leading zeros.
  size_t keep = scale + 1;
  size_t first = digits.find_first_not_of('0');
  if (first == std::string::npos) first = digits.size();
  size_t cut = std::min(first, digits.size() > keep ? digits.size() - keep : 0);
  digits.erase(0, cut);
  if (digits.size() < keep) digits.insert(0, keep - digits.size(), '0');
  bool zero = digits.find_first_not_of('0') == std::string::npos;
  std::string out = (neg && !zero) ? "-" : "";
  out += digits.substr(0, digits.size() - scale);
  if (scale > 0) out += "." + digits.substr(digits.size() - scale);
  return out;
}

Result<std::string> Combine(std::string_view as, std::string_view bs, bool subtract) {
  Decimal a, b;
  if (!Parse(as, &a)) return Status::InvalidArgument("not a decimal number: \"" + std::string(as) + "\"");
  if (!Parse(bs, &b)) return Status::InvalidArgument("not a decimal number: \"" + std::string(bs) + "\"");
  if (subtract) b.neg = !b.neg;
  size_t scale = std::max(a.scale, b.scale);
  size_t width = std::max(a.digits.size() + scale - a.scale, b.digits.size() + scale - b.scale);
  std::string x = Scaled(a, scale, width), y = Scaled(b, scale, width);
  if (a.neg == b.neg) return Format(a.neg, AddMagnitudes(x, y), scale);
  if (x >= y) return Format(a.neg, SubMagnitudes(x, y), scale);  // equal width: lexical = numeric
  return Format(b.neg, SubMagnitudes(y, x), scale);
}

}  // namespace

bool IsDecimalText(std::string_view s) {
  size_t i = 0;
  if (!s.empty() && (s[0] == '+' || s[0] == '-')) i = 1;
  size_t int_digits = 0, frac_digits = 0;
  bool dot = false;
  for (; i < s.size(); ++i) {
    char c = s[i];
    if (c == '.') {
      if (dot) return false;
      dot = true;
    } else if (c >= '0' && c <= '9') {
      (dot ? frac_digits : int_digits)++;
    } else {
      return false;
    }
  }
  return int_digits > 0 && (!dot || frac_digits > 0);
}

Result<std::string> AddDecimalText(std::string_view a, std::string_view b) {
  return Combine(a, b, false);
}

Result<std::string> SubtractDecimalText(std::string_view a, std::string_view b) {
  return Combine(a, b, true);
}

}  // namespace handoff::conflict
