// Exact decimal arithmetic on canonical text ("-12.50"), for the delta policy:
// the plain syntax it accepts, over handoff::Decimal (handoff/engine/decimal.h).
// Never goes through a double.
//
// Thread-safety: pure functions.
#pragma once

#include <string>
#include <string_view>

#include "handoff/engine/status.h"

namespace handoff::conflict {

// True for [+-]?digits[.digits] (also ".5" is rejected; "5." is rejected).
bool IsDecimalText(std::string_view s);
// a + b, with scale = max(scale(a), scale(b)); "-0" normalises to "0".
// kInvalidArgument when either is not decimal text.
Result<std::string> AddDecimalText(std::string_view a, std::string_view b);
// a - b, same rules.
Result<std::string> SubtractDecimalText(std::string_view a, std::string_view b);

}  // namespace handoff::conflict
