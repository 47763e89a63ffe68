#include "handoff/engine/json_text.h"

namespace handoff {
namespace {

// Length of the UTF-8 sequence that starts at s[i] (lead byte and
// continuation bytes only; overlong forms pass), or 0 when there is none.
size_t SequenceLength(std::string_view s, size_t i) {
  auto c = static_cast<unsigned char>(s[i]);
  size_t n = c < 0x80 ? 1 : (c >> 5) == 0x6 ? 2 : (c >> 4) == 0xe ? 3 : (c >> 3) == 0x1e ? 4 : 0;
  if (n == 0 || i + n > s.size()) return 0;
  for (size_t k = 1; k < n; ++k)
    if ((static_cast<unsigned char>(s[i + k]) & 0xc0) != 0x80) return 0;
  return n;
}

}  // namespace

void AppendJsonString(std::string* out, std::string_view s, InvalidUtf8 invalid) {
  static constexpr char kHex[] = "0123456789abcdef";
  out->push_back('"');
  size_t run = 0;  // start of the bytes not yet copied; they need no escaping
  for (size_t i = 0; i < s.size();) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (c >= 0x20 && c != '"' && c != '\\' && (c < 0x80 || invalid == InvalidUtf8::kKeep)) {
      ++i;
      continue;
    }
    size_t n = c >= 0x80 ? SequenceLength(s, i) : 0;
    if (n > 0) {  // well-formed multi-byte sequence: copied with the run
      i += n;
      continue;
    }
    out->append(s.data() + run, i - run);
    switch (c) {
      case '"': out->append("\\\""); break;
      case '\\': out->append("\\\\"); break;
      case '\n': out->append("\\n"); break;
      case '\r': out->append("\\r"); break;
      case '\t': out->append("\\t"); break;
      default:
        if (c >= 0x80) {
          out->append("\\ufffd");
        } else {
          out->append("\\u00");
          out->push_back(kHex[c >> 4]);
          out->push_back(kHex[c & 15]);
        }
    }
    run = ++i;
  }
  out->append(s.data() + run, s.size() - run);
  out->push_back('"');
}

std::string JsonString(std::string_view s, InvalidUtf8 invalid) {
  std::string out;
  out.reserve(s.size() + 2);
  AppendJsonString(&out, s, invalid);
  return out;
}

}  // namespace handoff
