#include "debezium/temporal_codec.h"

#include <cstdio>

#include "handoff/engine/civil_date.h"

namespace handoff::dbz {
namespace {

constexpr int64_t kSecsPerDay = 86400;
constexpr int64_t kMinYear = -4713, kMaxYear = 294276;

void AppendFraction(uint32_t nanos, std::string* out) {
  if (nanos == 0) return;
  char buf[16];
  std::snprintf(buf, sizeof buf, ".%09u", nanos);
  std::string_view f(buf);
  while (f.back() == '0') f.remove_suffix(1);
  out->append(f);
}

// Reads exactly n digits at t[*i].
bool Digits(std::string_view t, size_t* i, int n, int64_t* v) {
  if (*i + n > t.size()) return false;
  int64_t x = 0;
  for (int k = 0; k < n; ++k) {
    char c = t[*i + k];
    if (c < '0' || c > '9') return false;
    x = x * 10 + (c - '0');
  }
  *i += n;
  *v = x;
  return true;
}

// Reads at least 4 digits of year, "-MM-DD". Returns the year as written.
bool ParseYmd(std::string_view t, size_t* i, int64_t* y, unsigned* m, unsigned* d) {
  size_t start = *i;
  int64_t year = 0;
  while (*i < t.size() && t[*i] >= '0' && t[*i] <= '9' && *i - start < 7) year = year * 10 + (t[(*i)++] - '0');
  if (*i - start < 4) return false;
  int64_t mm, dd;
  if (*i >= t.size() || t[(*i)++] != '-' || !Digits(t, i, 2, &mm)) return false;
  if (*i >= t.size() || t[(*i)++] != '-' || !Digits(t, i, 2, &dd)) return false;
  if (mm < 1 || mm > 12 || dd < 1 || dd > DaysInMonth(year, static_cast<unsigned>(mm))) return false;
  *y = year;
  *m = static_cast<unsigned>(mm);
  *d = static_cast<unsigned>(dd);
  return true;
}

// "HH:MM:SS[.f{1,9}]" -> nanoseconds since midnight.
bool ParseHms(std::string_view t, size_t* i, int64_t* nanos) {
  int64_t h, mi, s;
  if (!Digits(t, i, 2, &h) || *i >= t.size() || t[(*i)++] != ':' || !Digits(t, i, 2, &mi)) return false;
  if (*i >= t.size() || t[(*i)++] != ':' || !Digits(t, i, 2, &s)) return false;
  int64_t frac = 0;
  if (*i < t.size() && t[*i] == '.') {
    ++*i;
    int n = 0;
    while (*i < t.size() && t[*i] >= '0' && t[*i] <= '9') {
      if (n == 9) return false;  // finer than nanoseconds
      frac = frac * 10 + (t[(*i)++] - '0');
      ++n;
    }
    if (n == 0) return false;
    for (; n < 9; ++n) frac *= 10;
  }
  if (mi > 59 || s > 60 || h > 24) return false;
  *nanos = ((h * 60 + mi) * 60 + s) * 1000000000 + frac;
  return *nanos <= kSecsPerDay * 1000000000;
}

// "Z", "+HH", "+HH:MM", "+HH:MM:SS", "+HHMM" -> seconds east of UTC.
bool ParseOffset(std::string_view t, size_t* i, int64_t* off) {
  if (*i < t.size() && t[*i] == 'Z') return ++*i, *off = 0, true;
  if (*i >= t.size() || (t[*i] != '+' && t[*i] != '-')) return false;
  int sign = t[(*i)++] == '-' ? -1 : 1;
  int64_t h, m = 0, s = 0;
  if (!Digits(t, i, 2, &h)) return false;
  if (*i < t.size() && t[*i] == ':') {
    ++*i;
    if (!Digits(t, i, 2, &m)) return false;
    if (*i < t.size() && t[*i] == ':') {
      ++*i;
      if (!Digits(t, i, 2, &s)) return false;
    }
  } else if (*i + 2 <= t.size() && t[*i] >= '0' && t[*i] <= '9') {
    if (!Digits(t, i, 2, &m)) return false;
  }
  if (h > 15 || m > 59 || s > 59) return false;
  *off = sign * (h * 3600 + m * 60 + s);
  return true;
}

bool ParseTimestampCommon(std::string_view t, char sep, bool need_offset, int64_t* secs, uint32_t* nanos) {
  size_t i = 0;
  int64_t y;
  unsigned m, d;
  if (!ParseYmd(t, &i, &y, &m, &d)) return false;
  if (i >= t.size() || t[i++] != sep) return false;
  int64_t tod;
  if (!ParseHms(t, &i, &tod)) return false;
  int64_t off = 0;
  if (i < t.size() && t[i] != ' ') {
    if (!ParseOffset(t, &i, &off)) return false;
  } else if (need_offset) {
    return false;
  }
  if (t.substr(i) == " BC") {
    if (y == 0) return false;
    y = 1 - y;
    i += 3;
  }
  if (i != t.size()) return false;
  int64_t total_ns_day = tod;
  *secs = DaysFromCivil(y, m, d) * kSecsPerDay + total_ns_day / 1000000000 - off;
  *nanos = static_cast<uint32_t>(total_ns_day % 1000000000);
  return true;
}

}  // namespace

void AppendPgDate(int64_t days, std::string* out) {
  const auto [y, m, d] = CivilFromDays(days);
  bool bc = y <= 0;
  char buf[40];
  std::snprintf(buf, sizeof buf, "%04lld-%02u-%02u%s", static_cast<long long>(bc ? 1 - y : y), m, d,
                bc ? " BC" : "");
  out->append(buf);
}

bool ParsePgDate(std::string_view t, int64_t* days) {
  size_t i = 0;
  int64_t y;
  unsigned m, d;
  if (!ParseYmd(t, &i, &y, &m, &d)) return false;
  if (t.substr(i) == " BC") {
    if (y == 0) return false;
    y = 1 - y;
    i += 3;
  }
  if (i != t.size()) return false;
  *days = DaysFromCivil(y, m, d);
  return true;
}

bool AppendPgTimestamp(int64_t secs, uint32_t nanos, bool with_tz, std::string* out) {
  int64_t days = secs >= 0 ? secs / kSecsPerDay : -((-secs + kSecsPerDay - 1) / kSecsPerDay);
  int64_t sod = secs - days * kSecsPerDay;
  const auto [y, m, d] = CivilFromDays(days);
  if (y < kMinYear || y > kMaxYear) return false;
  bool bc = y <= 0;
  char buf[64];
  std::snprintf(buf, sizeof buf, "%04lld-%02u-%02u %02d:%02d:%02d", static_cast<long long>(bc ? 1 - y : y), m, d,
                static_cast<int>(sod / 3600), static_cast<int>(sod / 60 % 60), static_cast<int>(sod % 60));
  out->append(buf);
  AppendFraction(nanos, out);
  if (with_tz) out->append("+00");
  if (bc) out->append(" BC");
  return true;
}

bool ParsePgTimestamp(std::string_view t, int64_t* secs, uint32_t* nanos) {
  return ParseTimestampCommon(t, ' ', false, secs, nanos);
}

bool AppendPgTime(int64_t nanos, std::string* out) {
  if (nanos < 0 || nanos > kSecsPerDay * 1000000000) return false;
  int64_t s = nanos / 1000000000;
  char buf[32];
  std::snprintf(buf, sizeof buf, "%02d:%02d:%02d", static_cast<int>(s / 3600), static_cast<int>(s / 60 % 60),
                static_cast<int>(s % 60));
  out->append(buf);
  AppendFraction(static_cast<uint32_t>(nanos % 1000000000), out);
  return true;
}

bool ParsePgTime(std::string_view t, int64_t* nanos) {
  size_t i = 0;
  return ParseHms(t, &i, nanos) && i == t.size();
}

bool ParseIsoTimestamp(std::string_view t, int64_t* secs, uint32_t* nanos) {
  if (t.size() > 10 && t[10] == ' ') return false;
  return ParseTimestampCommon(t, 'T', true, secs, nanos);
}

bool AppendIsoTimestampUtc(int64_t secs, uint32_t nanos, std::string* out) {
  int64_t days = secs >= 0 ? secs / kSecsPerDay : -((-secs + kSecsPerDay - 1) / kSecsPerDay);
  int64_t sod = secs - days * kSecsPerDay;
  const auto [y, m, d] = CivilFromDays(days);
  if (y < 1 || y > 9999) return false;  // ISO without sign/BC: years 1..9999 only
  char buf[64];
  std::snprintf(buf, sizeof buf, "%04lld-%02u-%02uT%02d:%02d:%02d", static_cast<long long>(y), m, d,
                static_cast<int>(sod / 3600), static_cast<int>(sod / 60 % 60), static_cast<int>(sod % 60));
  out->append(buf);
  AppendFraction(nanos, out);
  out->push_back('Z');
  return true;
}

void SplitEpoch(int64_t value, int64_t units_per_sec, int64_t* secs, uint32_t* nanos) {
  int64_t s = value / units_per_sec, r = value % units_per_sec;
  if (r < 0) r += units_per_sec, --s;
  *secs = s;
  *nanos = static_cast<uint32_t>(r * (1000000000 / units_per_sec));
}

}  // namespace handoff::dbz
