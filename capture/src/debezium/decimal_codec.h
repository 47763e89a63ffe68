// Exact decimal and byte encodings used by Debezium: bytea hex, and the
// big-endian two's complement "unscaled value" of Kafka Connect Decimal.
// Arbitrary precision; nothing goes through a double. Base64 is
// handoff/engine/text_codec.h.
//
// Thread-safety: pure functions.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace handoff::dbz {

// "\x0a0b" <-> raw bytes (PostgreSQL bytea hex output).
void AppendByteaHex(std::string_view raw, std::string* out);
bool DecodeByteaHex(std::string_view text, std::string* raw);

// Largest unscaled value accepted (bytes); bounds the quadratic conversion.
inline constexpr size_t kMaxDecimalBytes = 4096;
inline constexpr int32_t kMaxDecimalScale = 16384;

// Big-endian two's complement `bytes` with `scale` -> "-123.45".
// False when bytes is empty or too long, or |scale| is too large.
bool UnscaledToDecimal(std::string_view bytes, int32_t scale, std::string* out);

// "-123.45" (also "1e3", "+1.5") -> minimal big-endian two's complement of the
// unscaled value at `scale`; with scale < 0 on input, the scale is taken from
// the text (digits after the point) and returned in *scale. False when the
// text is no finite decimal or needs more fraction digits than the scale.
bool DecimalToUnscaled(std::string_view text, int32_t* scale, std::string* bytes);

// True when `text` is a JSON number literal (RFC 8259 grammar).
bool IsJsonNumber(std::string_view text);

// "$1,234.56" / "-$1,234.56" / "($5.00)" -> "1234.56" / "-1234.56" / "-5.00".
// False when it is not a money literal.
bool MoneyToDecimal(std::string_view text, std::string* out);

}  // namespace handoff::dbz
