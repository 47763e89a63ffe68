// Decimal: an exact base-10 number for money, hours and rates. Never a double.
//
// Parsed from PostgreSQL numeric text ("-1234.50"), formatted back without
// loss. Arithmetic is exact; the only rounding is an explicit Rescale with
// Rounding::kHalfAwayFromZero (the commercial rounding finance expects).
//
// Thread-safety: plain value.
#pragma once

#include <string>
#include <string_view>

#include "handoff/engine/status.h"

namespace handoff {

class Decimal {
 public:
  enum class Rounding { kExact, kHalfAwayFromZero };

  Decimal() = default;  // 0

  // Accepts [+-]digits[.digits] (at most 1000 digits). NaN, Infinity and
  // exponents are rejected with InvalidArgument.
  static Result<Decimal> Parse(std::string_view text);

  // Digits after the point, as written ("1.50" has scale 2).
  int scale() const { return scale_; }
  bool negative() const { return negative_; }
  bool IsZero() const { return digits_ == "0"; }

  // Changes the scale. Growing pads zeros. Shrinking with kExact fails
  // (InvalidArgument) when a non-zero digit would be lost; with
  // kHalfAwayFromZero it rounds.
  Result<Decimal> Rescale(int new_scale, Rounding rounding) const;

  // Exact product; scale is the sum of both scales.
  Decimal Multiply(const Decimal& other) const;

  // Exact sum and difference; scale is the larger of both scales.
  Decimal Add(const Decimal& other) const;
  Decimal Subtract(const Decimal& other) const;

  // -1, 0, 1 by value (1.50 == 1.5).
  int Compare(const Decimal& other) const;

  // "-1234.50"; never "-0".
  std::string ToString() const;

 private:
  bool negative_ = false;
  std::string digits_ = "0";  // significant digits, no leading zeros ("0" for zero)
  int scale_ = 0;             // value = digits_ * 10^-scale_
  void Normalize();
};

}  // namespace handoff
