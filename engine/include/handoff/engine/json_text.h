// JSON text: string literals with RFC 8259 escaping and integers, the one
// writer every component's hand-built JSON goes through.
//
// Thread-safety: pure functions.
#pragma once

#include <charconv>
#include <cstdint>
#include <string>
#include <string_view>

namespace handoff {

// What a string literal does with bytes that are not well-formed UTF-8.
enum class InvalidUtf8 : uint8_t {
  kReplace,  // each such byte becomes \ufffd: the output is always valid JSON
  kKeep,     // copied as they are (the reader sees the bytes it was given)
};

// Appends s as a JSON string literal: quoted, with '"', '\\' and control
// characters escaped (\n, \r, \t by name, the rest as \u00XX).
void AppendJsonString(std::string* out, std::string_view s, InvalidUtf8 invalid = InvalidUtf8::kReplace);
// s as a JSON string literal.
std::string JsonString(std::string_view s, InvalidUtf8 invalid = InvalidUtf8::kReplace);

// Appends the decimal digits of v.
template <typename Int>
inline void AppendJsonInt(std::string* out, Int v) {
  char buf[24];
  auto r = std::to_chars(buf, buf + sizeof buf, v);
  out->append(buf, r.ptr);
}

}  // namespace handoff
