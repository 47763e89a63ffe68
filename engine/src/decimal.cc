#include "handoff/engine/decimal.h"

#include <algorithm>
#include <vector>

namespace handoff {

Result<Decimal> Decimal::Parse(std::string_view text) {
  const std::string shown(text.substr(0, 64));
  auto bad = [&](const char* why) {
    return Status::InvalidArgument("\"" + shown + "\" is not an exact decimal number (" + why + ")");
  };
  if (text.empty()) return bad("empty");
  if (text.size() > 1000) return bad("too long");
  Decimal d;
  size_t i = 0;
  if (text[0] == '+' || text[0] == '-') {
    d.negative_ = text[0] == '-';
    i = 1;
  }
  std::string digits;
  int scale = 0;
  bool seen_point = false;
  bool seen_digit = false;
  for (; i < text.size(); ++i) {
    char c = text[i];
    if (c >= '0' && c <= '9') {
      digits.push_back(c);
      seen_digit = true;
      if (seen_point) ++scale;
    } else if (c == '.' && !seen_point) {
      seen_point = true;
    } else {
      return bad("unexpected character");
    }
  }
  if (!seen_digit) return bad("no digits");
  d.digits_ = digits;
  d.scale_ = scale;
  d.Normalize();
  return d;
}

void Decimal::Normalize() {
  size_t nz = digits_.find_first_not_of('0');
  digits_ = nz == std::string::npos ? "0" : digits_.substr(nz);
  if (digits_ == "0") negative_ = false;
}

Result<Decimal> Decimal::Rescale(int new_scale, Rounding rounding) const {
  if (new_scale < 0) return Status::InvalidArgument("negative scale");
  Decimal out = *this;
  if (new_scale >= scale_) {
    if (out.digits_ != "0") out.digits_.append(static_cast<size_t>(new_scale - scale_), '0');
    out.scale_ = new_scale;
    return out;
  }
  size_t drop = static_cast<size_t>(scale_ - new_scale);
  std::string padded = digits_;
  if (padded.size() < drop + 1) padded.insert(0, drop + 1 - padded.size(), '0');
  std::string kept = padded.substr(0, padded.size() - drop);
  std::string lost = padded.substr(padded.size() - drop);
  bool lost_nonzero = lost.find_first_not_of('0') != std::string::npos;
  if (lost_nonzero && rounding == Rounding::kExact) {
    return Status::InvalidArgument(ToString() + " has more than " + std::to_string(new_scale) +
                                   " decimal places");
  }
  if (lost[0] >= '5') {  // half away from zero: round the magnitude up
    int i = static_cast<int>(kept.size()) - 1;
    while (i >= 0 && kept[static_cast<size_t>(i)] == '9') kept[static_cast<size_t>(i--)] = '0';
    if (i < 0) kept.insert(kept.begin(), '1');
    else ++kept[static_cast<size_t>(i)];
  }
  out.digits_ = kept;
  out.scale_ = new_scale;
  out.Normalize();
  return out;
}

Decimal Decimal::Multiply(const Decimal& other) const {
  const std::string& a = digits_;
  const std::string& b = other.digits_;
  std::vector<int> acc(a.size() + b.size(), 0);
  for (size_t i = a.size(); i-- > 0;) {
    for (size_t j = b.size(); j-- > 0;) {
      acc[i + j + 1] += (a[i] - '0') * (b[j] - '0');
    }
  }
  for (size_t k = acc.size(); k-- > 1;) {
    acc[k - 1] += acc[k] / 10;
    acc[k] %= 10;
  }
  Decimal out;
  out.digits_.clear();
  for (int v : acc) out.digits_.push_back(static_cast<char>('0' + v));
  out.scale_ = scale_ + other.scale_;
  out.negative_ = negative_ != other.negative_;
  out.Normalize();
  return out;
}

namespace {

// Magnitude digits of `d` scaled to `scale` (zero-padded on the right).
std::string Scaled(const std::string& digits, int from, int to) {
  return digits == "0" ? "0" : digits + std::string(static_cast<size_t>(to - from), '0');
}

// |a| >= |b| for digit strings without leading zeros.
bool MagnitudeAtLeast(const std::string& a, const std::string& b) {
  return a.size() != b.size() ? a.size() > b.size() : a >= b;
}

std::string AddDigits(const std::string& a, const std::string& b) {
  std::string out;
  int carry = 0;
  for (size_t i = 0; i < std::max(a.size(), b.size()) || carry; ++i) {
    int x = carry;
    if (i < a.size()) x += a[a.size() - 1 - i] - '0';
    if (i < b.size()) x += b[b.size() - 1 - i] - '0';
    out.push_back(static_cast<char>('0' + x % 10));
    carry = x / 10;
  }
  std::reverse(out.begin(), out.end());
  return out;
}

// a - b for |a| >= |b|.
std::string SubtractDigits(const std::string& a, const std::string& b) {
  std::string out;
  int borrow = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    int x = (a[a.size() - 1 - i] - '0') - borrow;
    if (i < b.size()) x -= b[b.size() - 1 - i] - '0';
    borrow = x < 0;
    if (x < 0) x += 10;
    out.push_back(static_cast<char>('0' + x));
  }
  std::reverse(out.begin(), out.end());
  return out;
}

}  // namespace

Decimal Decimal::Add(const Decimal& other) const {
  int s = std::max(scale_, other.scale_);
  std::string a = Scaled(digits_, scale_, s), b = Scaled(other.digits_, other.scale_, s);
  Decimal out;
  out.scale_ = s;
  if (negative_ == other.negative_) {
    out.digits_ = AddDigits(a, b);
    out.negative_ = negative_;
  } else if (MagnitudeAtLeast(a, b)) {
    out.digits_ = SubtractDigits(a, b);
    out.negative_ = negative_;
  } else {
    out.digits_ = SubtractDigits(b, a);
    out.negative_ = other.negative_;
  }
  out.Normalize();
  return out;
}

Decimal Decimal::Subtract(const Decimal& other) const {
  Decimal neg = other;
  if (neg.digits_ != "0") neg.negative_ = !neg.negative_;
  return Add(neg);
}

int Decimal::Compare(const Decimal& other) const {
  if (negative_ != other.negative_) return negative_ ? -1 : 1;
  int s = std::max(scale_, other.scale_);
  std::string a = digits_ == "0" ? "0" : digits_ + std::string(static_cast<size_t>(s - scale_), '0');
  std::string b = other.digits_ == "0" ? "0"
                                       : other.digits_ + std::string(static_cast<size_t>(s - other.scale_), '0');
  int mag = a.size() != b.size() ? (a.size() < b.size() ? -1 : 1) : (a < b ? -1 : (a > b ? 1 : 0));
  return negative_ ? -mag : mag;
}

std::string Decimal::ToString() const {
  std::string d = digits_;
  size_t sc = static_cast<size_t>(scale_);
  if (digits_ == "0") d = std::string(sc + 1, '0');
  if (d.size() < sc + 1) d.insert(0, sc + 1 - d.size(), '0');
  if (sc > 0) d.insert(d.size() - sc, ".");
  return negative_ ? "-" + d : d;
}

}  // namespace handoff
