#include "type_fit.h"

#include <charconv>
#include <string>
#include <vector>

namespace handoff::apply {
namespace {

struct TypeName {
  std::string base;       // without the modifier: "timestamp with time zone"
  std::vector<int> args;  // the modifier's numbers: (12,2) -> {12, 2}
  int dims = 0;           // array dimensions
};

TypeName Parse(std::string_view t) {
  TypeName out;
  while (t.size() >= 2 && t.substr(t.size() - 2) == "[]") {
    ++out.dims;
    t.remove_suffix(2);
  }
  const size_t open = t.find('(');
  const size_t close = open == std::string_view::npos ? open : t.find(')', open);
  if (open == std::string_view::npos || close == std::string_view::npos) {
    out.base = std::string(t);
    return out;
  }
  std::string_view inside = t.substr(open + 1, close - open - 1);
  while (!inside.empty()) {
    const size_t comma = inside.find(',');
    std::string_view part = inside.substr(0, comma);
    while (!part.empty() && part.front() == ' ') part.remove_prefix(1);
    int v = 0;
    auto [p, ec] = std::from_chars(part.data(), part.data() + part.size(), v);
    if (ec != std::errc() || p != part.data() + part.size()) return TypeName{std::string(t), {}, out.dims};
    out.args.push_back(v);
    if (comma == std::string_view::npos) break;
    inside.remove_prefix(comma + 1);
  }
  out.base = std::string(t.substr(0, open)) + std::string(t.substr(close + 1));
  return out;
}

// Integer digits a type's values can need (0: not an integer type).
int IntegerDigits(const std::string& base) {
  if (base == "smallint") return 5;
  if (base == "integer") return 10;
  if (base == "bigint") return 19;
  return 0;
}

bool IsTimeLike(const std::string& base) {
  return base == "timestamp with time zone" || base == "timestamp without time zone" ||
         base == "time with time zone" || base == "time without time zone" || base == "interval";
}

bool Holds(const TypeName& t, const TypeName& s) {
  if (t.dims != s.dims) return false;
  if (t.base == s.base && t.args == s.args) return true;
  // Any value's text form fits.
  if (t.base == "text" || (t.base == "character varying" && t.args.empty())) return true;
  if (t.base == "character varying" || t.base == "character") {
    if ((s.base == "character varying" || s.base == "character") && !s.args.empty() && t.args.size() == 1)
      return s.args[0] <= t.args[0];
    return false;
  }
  if (t.base == "numeric") {
    const int int_digits = IntegerDigits(s.base);
    if (t.args.empty()) return s.base == "numeric" || int_digits > 0;
    const int tp = t.args[0], ts = t.args.size() > 1 ? t.args[1] : 0;
    if (int_digits > 0) return tp - ts >= int_digits;
    if (s.base != "numeric" || s.args.empty()) return false;
    const int sp = s.args[0], ss = s.args.size() > 1 ? s.args[1] : 0;
    return ss <= ts && sp - ss <= tp - ts;
  }
  if (IntegerDigits(t.base) > 0) return IntegerDigits(s.base) > 0 && IntegerDigits(s.base) <= IntegerDigits(t.base);
  if (t.base == "double precision") return s.base == "real" || s.base == "smallint" || s.base == "integer";
  if (t.base == "real") return s.base == "smallint";
  if (IsTimeLike(t.base) && t.base == s.base) {
    // No modifier: microseconds (6), the most there is.
    const int tp = t.args.empty() ? 6 : t.args.back(), sp = s.args.empty() ? 6 : s.args.back();
    return t.base != "interval" ? sp <= tp : (t.args.empty() || (s.args == t.args));
  }
  return false;
}

// Reads an identifier at *i: "quoted" (with "" inside) or [a-z_][a-z0-9_$]*.
bool Identifier(std::string_view t, size_t* i) {
  if (*i < t.size() && t[*i] == '"') {
    for (size_t j = *i + 1; j < t.size(); ++j) {
      if (t[j] != '"') continue;
      if (j + 1 < t.size() && t[j + 1] == '"') {
        ++j;
        continue;
      }
      const bool nonempty = j > *i + 1;
      *i = j + 1;
      return nonempty;
    }
    return false;
  }
  const size_t start = *i;
  while (*i < t.size() && ((t[*i] >= 'a' && t[*i] <= 'z') || t[*i] == '_' || (*i > start && ((t[*i] >= '0' && t[*i] <= '9') || t[*i] == '$'))))
    ++*i;
  return *i > start;
}

}  // namespace

bool PlainTypeName(std::string_view t) {
  static const char* const kWords[] = {"with",  "without", "time", "zone",   "varying", "precision", "year",
                                       "month", "day",     "hour", "minute", "second",  "to"};
  size_t i = 0;
  if (!Identifier(t, &i)) return false;
  if (i < t.size() && t[i] == '.') {
    ++i;
    if (!Identifier(t, &i)) return false;
  }
  bool modifier = false;
  while (i < t.size()) {
    if (t[i] == ' ') {
      const size_t start = ++i;
      while (i < t.size() && t[i] >= 'a' && t[i] <= 'z') ++i;
      const std::string_view word = t.substr(start, i - start);
      bool known = false;
      for (const char* w : kWords) known = known || word == w;
      if (!known) return false;
    } else if (t[i] == '(' && !modifier) {
      modifier = true;
      size_t numbers = 0;
      ++i;
      while (true) {
        const size_t start = i;
        while (i < t.size() && t[i] >= '0' && t[i] <= '9') ++i;
        if (i == start || ++numbers > 2) return false;
        if (i < t.size() && t[i] == ',') {
          ++i;
          continue;
        }
        break;
      }
      if (i >= t.size() || t[i] != ')') return false;
      ++i;
    } else if (t.substr(i, 2) == "[]") {
      i += 2;
    } else {
      return false;
    }
  }
  return true;
}

bool TypeCanHold(std::string_view target, std::string_view source) {
  if (target == source) return true;
  return Holds(Parse(target), Parse(source));
}

}  // namespace handoff::apply
