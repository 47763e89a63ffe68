#include "handoff/schemas/pg_text.h"

#include <cctype>
#include <charconv>
#include <cstdio>

#include "handoff/engine/civil_date.h"

namespace handoff::schemas {
namespace {

constexpr int64_t kMicrosPerDay = 86400LL * 1000000LL;

// Reads exactly n digits at *pos.
bool Digits(std::string_view s, size_t* pos, size_t n, int* out) {
  if (*pos + n > s.size()) return false;
  int v = 0;
  for (size_t i = 0; i < n; ++i) {
    char c = s[*pos + i];
    if (c < '0' || c > '9') return false;
    v = v * 10 + (c - '0');
  }
  *pos += n;
  *out = v;
  return true;
}

// Parses "YYYY-MM-DD" at *pos into days since the epoch.
bool ParseDate(std::string_view s, size_t* pos, int64_t* days) {
  int y, m, d;
  if (!Digits(s, pos, 4, &y) || *pos >= s.size() || s[(*pos)++] != '-' || !Digits(s, pos, 2, &m) ||
      *pos >= s.size() || s[(*pos)++] != '-' || !Digits(s, pos, 2, &d)) {
    return false;
  }
  if (m < 1 || m > 12 || d < 1 || static_cast<unsigned>(d) > DaysInMonth(y, static_cast<unsigned>(m))) return false;
  *days = DaysFromCivil(y, static_cast<unsigned>(m), static_cast<unsigned>(d));
  return true;
}

// Writes `v` as exactly `width` digits (0 <= v < 10^width). Dates and
// instants are formatted on every mapped change, so no printf here.
void PutDigits(char* out, int64_t v, int width) {
  for (int i = width - 1; i >= 0; --i) {
    out[i] = static_cast<char>('0' + v % 10);
    v /= 10;
  }
}

void AppendDate(std::string* out, int64_t days) {
  const auto [y, m, d] = CivilFromDays(days);
  if (y < 0 || y > 9999) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%04lld-%02u-%02u", static_cast<long long>(y), m, d);
    *out += buf;
    return;
  }
  char buf[10];
  PutDigits(buf, y, 4);
  buf[4] = '-';
  PutDigits(buf + 5, m, 2);
  buf[7] = '-';
  PutDigits(buf + 8, d, 2);
  out->append(buf, sizeof buf);
}

std::string FormatDate(int64_t days) {
  std::string out;
  AppendDate(&out, days);
  return out;
}

Status BadInstant(std::string_view text) {
  return Status::InvalidArgument("\"" + std::string(text.substr(0, 64)) +
                                 "\" is not a timestamp (expected e.g. 2026-10-31 23:59:59+02)");
}

}  // namespace

Result<int64_t> PgText::InstantMicros(std::string_view s) {
  size_t pos = 0;
  int64_t days;
  if (!ParseDate(s, &pos, &days)) return BadInstant(s);
  if (pos >= s.size() || (s[pos] != ' ' && s[pos] != 'T')) return BadInstant(s);
  ++pos;
  int hh, mi, ss;
  if (!Digits(s, &pos, 2, &hh) || pos >= s.size() || s[pos++] != ':' || !Digits(s, &pos, 2, &mi)) {
    return BadInstant(s);
  }
  ss = 0;
  if (pos < s.size() && s[pos] == ':') {
    ++pos;
    if (!Digits(s, &pos, 2, &ss)) return BadInstant(s);
  }
  if (hh > 23 || mi > 59 || ss > 59) return BadInstant(s);  // 24:00:00 and leap seconds rejected
  int64_t frac = 0;
  if (pos < s.size() && s[pos] == '.') {
    ++pos;
    int n = 0;
    while (pos < s.size() && std::isdigit(static_cast<unsigned char>(s[pos]))) {
      if (n >= 6) return Status::InvalidArgument("\"" + std::string(s) + "\" has more than microsecond precision");
      frac = frac * 10 + (s[pos++] - '0');
      ++n;
    }
    if (n == 0) return BadInstant(s);
    for (; n < 6; ++n) frac *= 10;
  }
  int64_t offset_s = 0;
  if (pos < s.size()) {
    char c = s[pos];
    if (c == 'Z' || c == 'z') {
      ++pos;
    } else if (c == '+' || c == '-') {
      ++pos;
      int oh, om = 0, os = 0;
      if (!Digits(s, &pos, 2, &oh)) return BadInstant(s);
      if (pos < s.size() && s[pos] == ':') {
        ++pos;
        if (!Digits(s, &pos, 2, &om)) return BadInstant(s);
        if (pos < s.size() && s[pos] == ':') {
          ++pos;
          if (!Digits(s, &pos, 2, &os)) return BadInstant(s);
        }
      } else if (pos + 2 <= s.size()) {
        if (!Digits(s, &pos, 2, &om)) return BadInstant(s);
      }
      if (oh > 15 || om > 59 || os > 59) return BadInstant(s);
      offset_s = (oh * 3600 + om * 60 + os) * (c == '-' ? -1 : 1);
    }
  }
  if (pos != s.size()) return BadInstant(s);
  int64_t secs = hh * 3600 + mi * 60 + ss - offset_s;
  return days * kMicrosPerDay + secs * 1000000 + frac;
}

std::string PgText::FormatInstant(int64_t micros) {
  int64_t days = micros >= 0 ? micros / kMicrosPerDay : -((-micros + kMicrosPerDay - 1) / kMicrosPerDay);
  int64_t rem = micros - days * kMicrosPerDay;
  int64_t secs = rem / 1000000;
  int64_t frac = rem % 1000000;
  std::string out;
  out.reserve(28);
  AppendDate(&out, days);
  char buf[16];
  buf[0] = 'T';
  PutDigits(buf + 1, secs / 3600, 2);
  buf[3] = ':';
  PutDigits(buf + 4, secs / 60 % 60, 2);
  buf[6] = ':';
  PutDigits(buf + 7, secs % 60, 2);
  size_t n = 9;
  if (frac != 0) {
    buf[n++] = '.';
    PutDigits(buf + n, frac, 6);
    n += 6;
    while (buf[n - 1] == '0') --n;
  }
  buf[n++] = 'Z';
  out.append(buf, n);
  return out;
}

Result<std::string> PgText::ToInstant(std::string_view text) {
  auto us = InstantMicros(text);
  if (!us.ok()) return us.status();
  return FormatInstant(*us);
}

Result<std::string> PgText::InstantToPg(std::string_view canonical) {
  auto us = InstantMicros(canonical);
  if (!us.ok()) return us.status();
  std::string s = FormatInstant(*us);
  s[10] = ' ';
  s.pop_back();  // 'Z'
  return s + "+00";
}

Result<std::string> PgText::ToDate(std::string_view text) {
  size_t pos = 0;
  int64_t days;
  if (!ParseDate(text, &pos, &days) || pos != text.size()) {
    return Status::InvalidArgument("\"" + std::string(text.substr(0, 64)) +
                                   "\" is not a calendar date (expected YYYY-MM-DD)");
  }
  return FormatDate(days);
}

Result<std::string> PgText::ToBool(std::string_view text) {
  std::string t;
  for (char c : text) t.push_back(static_cast<char>(std::tolower(static_cast<unsigned char>(c))));
  if (t == "t" || t == "true" || t == "yes" || t == "y" || t == "on" || t == "1") return std::string("true");
  if (t == "f" || t == "false" || t == "no" || t == "n" || t == "off" || t == "0") return std::string("false");
  return Status::InvalidArgument("\"" + std::string(text.substr(0, 64)) + "\" is not true or false");
}

std::string PgText::BoolToPg(std::string_view canonical) { return canonical == "true" ? "t" : "f"; }

Result<std::string> PgText::ToInt64(std::string_view text) {
  std::string_view t = text;
  if (!t.empty() && t[0] == '+') t.remove_prefix(1);
  int64_t v = 0;
  auto [p, ec] = std::from_chars(t.data(), t.data() + t.size(), v);
  if (ec != std::errc() || p != t.data() + t.size() || t.empty()) {
    return Status::InvalidArgument("\"" + std::string(text.substr(0, 64)) + "\" is not a whole number in 64 bits");
  }
  return std::to_string(v);
}

}  // namespace handoff::schemas
