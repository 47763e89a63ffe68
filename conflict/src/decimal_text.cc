#include "handoff/conflict/decimal_text.h"

#include "handoff/engine/decimal.h"

namespace handoff::conflict {
namespace {

Result<std::string> Combine(std::string_view as, std::string_view bs, bool subtract) {
  if (!IsDecimalText(as)) return Status::InvalidArgument("not a decimal number: \"" + std::string(as) + "\"");
  if (!IsDecimalText(bs)) return Status::InvalidArgument("not a decimal number: \"" + std::string(bs) + "\"");
  Result<Decimal> a = Decimal::Parse(as);
  HANDOFF_RETURN_IF_ERROR(a.status());
  Result<Decimal> b = Decimal::Parse(bs);
  HANDOFF_RETURN_IF_ERROR(b.status());
  return (subtract ? a->Subtract(*b) : a->Add(*b)).ToString();
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

Result<std::string> AddDecimalText(std::string_view a, std::string_view b) { return Combine(a, b, false); }

Result<std::string> SubtractDecimalText(std::string_view a, std::string_view b) { return Combine(a, b, true); }

}  // namespace handoff::conflict
