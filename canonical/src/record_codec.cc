#include "record_codec.h"

#include <charconv>
#include <string>

namespace handoff {

void PutStr(std::string* out, const std::string& s) {
  *out += std::to_string(s.size());
  *out += ':';
  *out += s;
}
void PutOpt(std::string* out, const std::optional<std::string>& s) {
  if (!s) {
    *out += '-';
    return;
  }
  *out += '+';
  PutStr(out, *s);
}
void PutNum(std::string* out, int64_t v) { PutStr(out, std::to_string(v)); }
void PutProv(std::string* out, const conflict::FieldProvenance& p) {
  PutStr(out, p.system);
  PutNum(out, p.source_time_us);
  PutNum(out, static_cast<int64_t>(p.seq));
}


std::string RecordReader::Str() {
  if (!ok) return {};
  size_t n = 0;
  const char* begin = d.data() + i;
  const char* end = d.data() + d.size();
  auto [colon, ec] = std::from_chars(begin, end, n);
  if (ec != std::errc() || colon == begin || colon == end || *colon != ':' ||
      static_cast<size_t>(end - colon - 1) < n) {
    ok = false;
    return {};
  }
  std::string s(colon + 1, n);
  i = static_cast<size_t>(colon + 1 + n - d.data());
  return s;
}

std::optional<std::string> RecordReader::Opt() {
  if (!ok || i >= d.size()) {
    ok = false;
    return std::nullopt;
  }
  const char c = d[i++];
  if (c == '-') return std::nullopt;
  if (c != '+') {
    ok = false;
    return std::nullopt;
  }
  return Str();
}

int64_t RecordReader::Num() {
  const std::string s = Str();
  int64_t v = 0;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || end != s.data() + s.size() || s.empty()) ok = false;
  return ok ? v : 0;
}

conflict::FieldProvenance RecordReader::Prov() {
  conflict::FieldProvenance p;
  p.system = Str();
  p.source_time_us = Num();
  p.seq = static_cast<uint64_t>(Num());
  return p;
}

}  // namespace handoff
