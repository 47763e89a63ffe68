// The reports of handoff reconcile: text, JSON and CSV (reconcile.h).
#include <fmt/format.h>

#include "handoff/engine/clock.h"
#include "handoff/engine/json_text.h"
#include "reconcile.h"

namespace handoff {
namespace {

const char* StateName(FindingState s) {
  switch (s) {
    case FindingState::kBreak:
      return "break";
    case FindingState::kParked:
      return "parked";
    case FindingState::kWaiting:
      return "waiting";
  }
  return "?";
}

std::string Amounts(const std::map<std::string, std::string>& m) {
  std::string out;
  for (const auto& [c, a] : m) out += (out.empty() ? "" : ", ") + a + " " + c;
  return out.empty() ? "-" : out;
}

void JsonAmounts(std::string* out, const char* name, const std::map<std::string, std::string>& m) {
  *out += ",\"";
  *out += name;
  *out += "\":{";
  bool first = true;
  for (const auto& [c, a] : m) {
    if (!first) *out += ",";
    first = false;
    AppendJsonString(out, c);
    *out += ":";
    AppendJsonString(out, a);
  }
  *out += "}";
}

void JsonField(std::string* out, const char* name, const std::string& v) {
  *out += ",\"";
  *out += name;
  *out += "\":";
  AppendJsonString(out, v);
}

std::string IsoTime(int64_t us) { return UtcSeconds(us, ""); }

std::string Csv(const std::string& v, bool text) {
  std::string s = v;
  // A spreadsheet runs a cell that starts like a formula: keep text as text.
  if (text && !s.empty() && std::string_view("=+-@\t\r").find(s[0]) != std::string_view::npos) s = "'" + s;
  if (s.find_first_of(",\"\r\n") == std::string::npos) return s;
  std::string out = "\"";
  for (char c : s) {
    if (c == '"') out += '"';
    out += c;
  }
  return out + "\"";
}

}  // namespace

uint64_t CheckResult::Count(FindingState s) const {
  uint64_t n = 0;
  for (const Finding& f : findings) n += f.state == s;
  return n;
}

uint64_t ReconcileReport::Breaks() const {
  uint64_t n = 0;
  for (const CheckResult& c : checks) n += c.Count(FindingState::kBreak);
  return n;
}

std::string ReconcileText(const ReconcileReport& r) {
  std::string out = fmt::format("reconcile {} ({} .. {}), read from {} at {}\n", r.period, r.first_day, r.last_day,
                                [&] {
                                  std::string s;
                                  for (const auto& x : r.systems) s += (s.empty() ? "" : ", ") + x;
                                  return s;
                                }(),
                                IsoTime(r.read_at_us));
  out += fmt::format("{:<15} {:>8} {:>8} {:>7} {:>7} {:>7}  {}\n", "check", "checked", "ok", "breaks", "parked",
                     "waiting", "amounts");
  for (const CheckResult& c : r.checks) {
    out += fmt::format("{:<15} {:>8} {:>8} {:>7} {:>7} {:>7}  checked {}; breaks {}; parked {}; waiting {}\n", c.name,
                       c.checked, c.ok, c.Count(FindingState::kBreak), c.Count(FindingState::kParked),
                       c.Count(FindingState::kWaiting), Amounts(c.checked_amount), Amounts(c.break_amount),
                       Amounts(c.parked_amount), Amounts(c.waiting_amount));
  }
  for (const CheckResult& c : r.checks) {
    if (c.findings.empty()) continue;
    out += fmt::format("\n{}: {}\n", c.name, c.title);
    for (FindingState s : {FindingState::kBreak, FindingState::kParked, FindingState::kWaiting}) {
      for (const Finding& f : c.findings) {
        if (f.state != s) continue;
        out += fmt::format("  {:<7} {}{}: {}", StateName(f.state), f.key, f.row.empty() ? "" : " (" + f.row + ")",
                           f.what);
        if (!f.amount.empty()) out += fmt::format(" [{} {}", f.amount, f.currency);
        if (!f.amount.empty()) out += f.difference.empty() ? "]" : fmt::format(", difference {}]", f.difference);
        out += "\n";
        if (!f.reason.empty()) out += "          " + f.reason + "\n";
      }
    }
  }
  for (const std::string& n : r.notes) out += "note: " + n + "\n";
  const uint64_t breaks = r.Breaks();
  out += breaks == 0 ? "no breaks: everything is posted, billed and provisioned, or explained\n"
                     : fmt::format("{} break(s): see above; `handoff trace --config F <key>` tells each story\n", breaks);
  return out;
}

std::string ReconcileJson(const ReconcileReport& r) {
  std::string out = "{\"period\":";
  AppendJsonString(&out, r.period);
  JsonField(&out, "first_day", r.first_day);
  JsonField(&out, "last_day", r.last_day);
  JsonField(&out, "read_at", IsoTime(r.read_at_us));
  out += ",\"systems\":[";
  for (size_t i = 0; i < r.systems.size(); ++i) {
    if (i) out += ",";
    AppendJsonString(&out, r.systems[i]);
  }
  out += "],\"breaks\":";
  AppendJsonInt(&out, r.Breaks());
  out += ",\"checks\":[";
  for (size_t i = 0; i < r.checks.size(); ++i) {
    const CheckResult& c = r.checks[i];
    if (i) out += ",";
    out += "{\"check\":";
    AppendJsonString(&out, c.name);
    JsonField(&out, "title", c.title);
    out += ",\"checked\":";
    AppendJsonInt(&out, c.checked);
    out += ",\"ok\":";
    AppendJsonInt(&out, c.ok);
    out += ",\"breaks\":";
    AppendJsonInt(&out, c.Count(FindingState::kBreak));
    out += ",\"parked\":";
    AppendJsonInt(&out, c.Count(FindingState::kParked));
    out += ",\"waiting\":";
    AppendJsonInt(&out, c.Count(FindingState::kWaiting));
    JsonAmounts(&out, "checked_amount", c.checked_amount);
    JsonAmounts(&out, "ok_amount", c.ok_amount);
    JsonAmounts(&out, "break_amount", c.break_amount);
    JsonAmounts(&out, "parked_amount", c.parked_amount);
    JsonAmounts(&out, "waiting_amount", c.waiting_amount);
    out += ",\"findings\":[";
    for (size_t j = 0; j < c.findings.size(); ++j) {
      const Finding& f = c.findings[j];
      if (j) out += ",";
      out += "{\"state\":";
      AppendJsonString(&out, StateName(f.state));
      JsonField(&out, "key", f.key);
      JsonField(&out, "row", f.row);
      JsonField(&out, "what", f.what);
      JsonField(&out, "currency", f.currency);
      JsonField(&out, "amount", f.amount);
      JsonField(&out, "difference", f.difference);
      if (f.state == FindingState::kParked) {
        JsonField(&out, "reason", f.reason);
        out += ",\"exception_seq\":";
        AppendJsonInt(&out, f.exception_seq);
      }
      out += "}";
    }
    out += "]}";
  }
  out += "],\"notes\":[";
  for (size_t i = 0; i < r.notes.size(); ++i) {
    if (i) out += ",";
    AppendJsonString(&out, r.notes[i]);
  }
  return out + "]}\n";
}

std::string ReconcileCsv(const ReconcileReport& r) {
  std::string out = "period,check,state,key,row,currency,amount,difference,what,reason\r\n";
  for (const CheckResult& c : r.checks)
    for (const Finding& f : c.findings)
      out += Csv(r.period, false) + "," + Csv(c.name, false) + "," + StateName(f.state) + "," + Csv(f.key, true) + "," +
             Csv(f.row, true) + "," + Csv(f.currency, true) + "," + Csv(f.amount, false) + "," +
             Csv(f.difference, false) + "," + Csv(f.what, true) + "," + Csv(f.reason, true) + "\r\n";
  return out;
}

}  // namespace handoff
