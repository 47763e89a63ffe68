#include "debezium/document_splitter.h"

#include <cstring>
#include <string>

namespace handoff::dbz {
namespace {

bool IsSpace(char c) { return c == ' ' || c == '\n' || c == '\r' || c == '\t'; }

Status At(size_t offset, const std::string& reason) {
  return Status::InvalidArgument("invalid Debezium JSON at byte " + std::to_string(offset) + ": " + reason);
}

// Bytes that matter inside a container: quote and brackets.
struct Interesting {
  bool v[256] = {};
  constexpr Interesting() {
    v[static_cast<unsigned char>('"')] = v[static_cast<unsigned char>('{')] = true;
    v[static_cast<unsigned char>('}')] = v[static_cast<unsigned char>('[')] = true;
    v[static_cast<unsigned char>(']')] = true;
  }
};
constexpr Interesting kInteresting;

}  // namespace

Status DocumentSplitter::Next(size_t* start, size_t* len) {
  const char* p = in_.data();
  const size_t n = in_.size();
  while (pos_ < n && IsSpace(p[pos_])) ++pos_;
  *start = pos_;
  *len = 0;
  if (pos_ >= n) return Status::OK();
  char c = p[pos_];
  if (c == 'n') {
    if (n - pos_ < 4 || std::memcmp(p + pos_, "null", 4) != 0) return At(pos_, "expected null");
    pos_ += 4;
    *len = 4;
    return Status::OK();
  }
  if (c != '{' && c != '[') return At(pos_, std::string("expected '{', '[' or null, found '") + c + "'");
  size_t depth = 0;
  size_t i = pos_;
  while (i < n) {
    unsigned char ch = static_cast<unsigned char>(p[i]);
    if (!kInteresting.v[ch]) {
      ++i;
      continue;
    }
    if (ch == '"') {
      // Skip the string, honouring backslash escapes.
      ++i;
      while (true) {
        const void* q = std::memchr(p + i, '"', n - i);
        if (q == nullptr) return At(*start, "truncated document (unterminated string)");
        size_t at = static_cast<const char*>(q) - p;
        size_t bs = 0;
        while (at - bs > i && p[at - bs - 1] == '\\') ++bs;
        i = at + 1;
        if (bs % 2 == 0) break;
      }
      continue;
    }
    if (ch == '{' || ch == '[') {
      if (++depth > kMaxJsonDepth) return At(i, "nesting deeper than 1024");
    } else if (--depth == 0) {
      ++i;
      *len = i - pos_;
      pos_ = i;
      return Status::OK();
    }
    ++i;
  }
  return At(*start, "truncated document");
}

}  // namespace handoff::dbz
