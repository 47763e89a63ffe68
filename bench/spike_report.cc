#include "spike_report.h"

#include <algorithm>
#include <vector>

#include <fmt/format.h>

namespace handoff::bench {
namespace {

constexpr double kMemoryGoalMiB = 512;
constexpr double kLatencyGoalMs = 1000;
constexpr double kRatioGoal = 1.0;
constexpr double kCanonicalCostGoal = 0.25;
// Canonical mode against plain routes in the same run: CPU and journal bytes per change.
constexpr double kCanonicalCpuGoal = 2.0, kCanonicalBytesGoal = 2.0;
// The memory-limited canonical run: at most this much slower, anonymous memory below kLimitedAnonGoalMiB.
constexpr double kLimitedSlowdownGoal = 0.10, kLimitedAnonGoalMiB = 256;

double PerChange(double total, const CatchUpResult& c) { return c.changes > 0 ? total / c.changes : -1; }

double MiB(long kb) { return kb < 0 ? -1 : kb / 1024.0; }

// 1234567 -> "1,234,567".
std::string Thousands(int64_t n) {
  std::string s = std::to_string(n < 0 ? -n : n), out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (i > 0 && (s.size() - i) % 3 == 0) out += ',';
    out += s[i];
  }
  return n < 0 ? "-" + out : out;
}

bool Ran(const CatchUpResult& c) { return !c.name.empty(); }
bool Finished(const CatchUpResult& c) { return Ran(c) && c.finished && c.seconds > 0; }

double Ratio(const CatchUpResult& a, const CatchUpResult& b) {
  return Finished(a) && Finished(b) ? a.rate() / b.rate() : -1;
}

// The largest VmHWM of the handoff runs, in MiB.
double PeakHandoffMiB(const SpikeReport& r) {
  long kb = std::max({r.plain.peak_rss_kb, r.canonical.peak_rss_kb, r.latency.peak_rss_kb});
  return MiB(kb);
}
double PeakHandoffHeapMiB(const SpikeReport& r) {
  long kb = std::max({r.plain.peak_anon_kb, r.canonical.peak_anon_kb, r.latency.peak_anon_kb});
  return MiB(kb);
}

std::string Verdict(bool measured, bool met) { return !measured ? "not measured" : met ? "**met**" : "**not met**"; }

void PhaseRow(std::FILE* out, const std::string& label, const CatchUpResult& c, const CatchUpResult& native) {
  if (!Ran(c)) return;
  if (!c.finished) {
    fmt::print(out, "| {} | {} | | | | | | | {} |\n", label, c.note, "no");
    return;
  }
  const double ratio = Ratio(c, native);
  const bool engine = c.cpu_s >= 0;
  fmt::print(out, "| {} | {:.2f} | {} | {} | {} | {} | {} | {} | {} |\n", label, c.seconds,
             Thousands(static_cast<int64_t>(c.rate())), ratio > 0 ? fmt::format("{:.2f}x", ratio) : "",
             engine ? fmt::format("{:.0f}", MiB(c.peak_rss_kb)) : "", engine ? fmt::format("{:.0f}", MiB(c.peak_anon_kb)) : "",
             engine ? fmt::format("{:.1f}", c.cpu_s * 1e6 / c.changes) : "",
             engine ? fmt::format("{:.0f}", static_cast<double>(c.journal_bytes) / c.changes) : "",
             c.verified ? "yes" : "NO");
}

void PhaseJson(std::string* j, const char* name, const CatchUpResult& c) {
  if (!Ran(c)) {
    *j += fmt::format("\"{}\":null", name);
    return;
  }
  *j += fmt::format(
      "\"{}\":{{\"finished\":{},\"verified\":{},\"changes\":{},\"seconds\":{:.3f},\"changes_per_s\":{:.0f},"
      "\"cpu_seconds\":{:.2f},\"peak_rss_kb\":{},\"peak_anon_kb\":{},\"journal_bytes\":{},"
      "\"journal_bytes_per_change\":{:.1f}}}",
      name, c.finished, c.verified, c.changes, c.seconds, c.rate(), c.cpu_s, c.peak_rss_kb, c.peak_anon_kb,
      c.journal_bytes, c.changes > 0 ? static_cast<double>(c.journal_bytes) / c.changes : 0);
}

std::string JsonEscape(const std::string& s) {
  std::string out;
  for (char c : s) {
    if (c == '"' || c == '\\') out += '\\';
    if (static_cast<unsigned char>(c) >= 0x20) out += c;
  }
  return out;
}

}  // namespace

void PrintReport(const SpikeReport& r, std::FILE* out) {
  const SpikePlan& p = r.plan;
  fmt::print(out, "\nMachine: {}\n", r.machine.Describe());
  fmt::print(out,
             "Spike: {} inserts + {} updates + {} deletes = {} changes in {} source transactions "
             "({} insert, {} update, {} delete; the largest {} rows), written in {:.1f} s\n\n",
             Thousands(p.inserts), Thousands(p.updates), Thousands(p.deletes), Thousands(p.changes()),
             Thousands(static_cast<int64_t>(p.txns.size())), Thousands(p.Count(SpikeTxn::Kind::kInsert)),
             Thousands(p.Count(SpikeTxn::Kind::kUpdate)), Thousands(p.Count(SpikeTxn::Kind::kDelete)),
             Thousands(p.largest_txn), r.generate_seconds);

  fmt::print(out,
             "| catch-up of the spike | seconds | changes/s | vs native | peak RSS MiB | heap MiB | CPU us/change | "
             "journal B/change | target = source |\n|---|---|---|---|---|---|---|---|---|\n");
  PhaseRow(out, "PostgreSQL native logical replication", r.native, r.native);
  PhaseRow(out, "handoff, plain table routes (durable journal)", r.plain, r.native);
  if (Finished(r.plain) && r.capture_seconds > 0)
    fmt::print(out, "| - stage: capture + journal (last change journaled) | {:.2f} | {} | | | | | | |\n",
               r.capture_seconds, Thousands(static_cast<int64_t>(p.changes() / r.capture_seconds)));
  if (r.replay_seconds > 0)
    fmt::print(out, "| - stage: apply alone (`handoff replay` into an emptied target) | {:.2f} | {} | | | | | | yes |\n",
               r.replay_seconds, Thousands(static_cast<int64_t>(p.changes() / r.replay_seconds)));
  PhaseRow(out, "handoff, canonical mapping (map + ownership + state)", r.canonical, r.native);
  if (r.limit_mib > 0)
    PhaseRow(out, fmt::format("handoff, canonical mapping in a {} MiB memory cgroup", r.limit_mib), r.limited, r.native);

  const LatencyResult& l = r.latency;
  if (l.measured) {
    fmt::print(out, "\n| latency phase (handoff, plain routes) | value |\n|---|---|\n");
    fmt::print(out, "| producer target | {} rows/s |\n", Thousands(static_cast<int64_t>(l.target_rate)));
    fmt::print(out, "| producer achieved | {} rows/s ({} rows in {} transactions over {:.1f} s) |\n",
               Thousands(static_cast<int64_t>(l.achieved_rate)), Thousands(l.rows), Thousands(l.txns), l.seconds);
    fmt::print(out, "| capture-to-apply latency p50 / p99 / max | {:.1f} / {:.1f} / {:.1f} ms |\n", l.p50_ms, l.p99_ms,
               l.max_ms);
    fmt::print(out, "| handoff peak RSS (heap) | {:.0f} MiB ({:.0f} MiB) |\n", MiB(l.peak_rss_kb), MiB(l.peak_anon_kb));
    fmt::print(out, "| target = source | {} |\n", l.verified ? "yes" : "NO");
  }

  const double ratio = Ratio(r.plain, r.native), canon = Ratio(r.canonical, r.plain);
  const double peak = PeakHandoffMiB(r);
  fmt::print(out, "\n| goal | measured | verdict |\n|---|---|---|\n");
  fmt::print(out, "| throughput >= {:.1f}x native, durable journal | {} | {} |\n", kRatioGoal,
             ratio > 0 ? fmt::format("{:.2f}x", ratio) : "-", Verdict(ratio > 0, ratio >= kRatioGoal));
  fmt::print(out, "| p99 capture-to-apply < 1 s at 20,000 rows/s | {} | {} |\n",
             l.measured ? fmt::format("p99 {:.1f} ms at {} rows/s", l.p99_ms,
                                      Thousands(static_cast<int64_t>(l.achieved_rate)))
                        : "-",
             Verdict(l.measured, l.p99_ms < kLatencyGoalMs && l.achieved_rate >= 0.95 * 20000) +
                 (l.measured && l.achieved_rate < 0.95 * 20000 ? " (rate not reached)" : ""));
  // RSS counts the journal's file pages that LMDB maps in (page cache the
  // kernel may reclaim); anonymous memory is what the process itself holds.
  const double heap = PeakHandoffHeapMiB(r);
  fmt::print(out, "| peak memory < {:.0f} MiB: resident (VmHWM, with the mapped journal) | {} | {} |\n",
             kMemoryGoalMiB, peak > 0 ? fmt::format("{:.0f} MiB", peak) : "-", Verdict(peak > 0, peak < kMemoryGoalMiB));
  fmt::print(out, "| peak memory < {:.0f} MiB: anonymous (heap, stacks; sampled RssAnon) | {} | {} |\n",
             kMemoryGoalMiB, heap > 0 ? fmt::format("{:.0f} MiB", heap) : "-", Verdict(heap > 0, heap < kMemoryGoalMiB));
  fmt::print(out, "| canonical mapping costs < {:.0f}% of plain throughput | {} | {} |\n", kCanonicalCostGoal * 100,
             canon > 0 ? fmt::format("canonical = {:.2f}x plain (costs {:.0f}%)", canon, (1 - canon) * 100)
                       : (Ran(r.canonical) ? r.canonical.note : std::string("-")),
             Verdict(Ran(r.canonical), canon > 0 && 1 - canon < kCanonicalCostGoal));
  if (Finished(r.plain) && Finished(r.canonical) && r.plain.cpu_s > 0) {
    const double cpu = r.canonical.cpu_s / r.plain.cpu_s * r.plain.changes / r.canonical.changes;
    const double bytes = PerChange(static_cast<double>(r.canonical.journal_bytes), r.canonical) /
                         PerChange(static_cast<double>(r.plain.journal_bytes), r.plain);
    fmt::print(out,
               "| canonical CPU per change within {:.0f}x of plain | {:.2f}x ({:.1f} against {:.1f} us) | {} |\n",
               kCanonicalCpuGoal, cpu, PerChange(r.canonical.cpu_s * 1e6, r.canonical),
               PerChange(r.plain.cpu_s * 1e6, r.plain), Verdict(true, cpu <= kCanonicalCpuGoal));
    fmt::print(out, "| canonical journal bytes per change within {:.0f}x of plain | {:.2f}x | {} |\n",
               kCanonicalBytesGoal, bytes, Verdict(true, bytes <= kCanonicalBytesGoal));
  }
  if (r.limit_mib > 0) {
    const CatchUpResult& l = r.limited;
    const double slow = Ratio(l, r.canonical);
    const bool measured = Ran(l) && l.note.rfind("not measured", 0) != 0;
    std::string what;
    if (!measured) {
      what = Ran(l) ? l.note : std::string("-");
    } else if (!l.finished) {
      what = l.note + (r.limited_oom_kills > 0 ? " (killed by the OOM killer)" : "");
    } else {
      what = fmt::format("{:.2f}x the unconstrained rate, {} OOM kills, anonymous peak {:.0f} MiB", slow,
                         r.limited_oom_kills, MiB(l.peak_anon_kb));
    }
    const bool met = l.finished && l.verified && r.limited_oom_kills <= 0 && slow >= 1 - kLimitedSlowdownGoal &&
                     MiB(l.peak_anon_kb) < kLimitedAnonGoalMiB;
    fmt::print(out, "| canonical in a {} MiB cgroup: not killed, >= {:.0f}% of its rate, anonymous < {:.0f} MiB | {} | {} |\n",
               r.limit_mib, (1 - kLimitedSlowdownGoal) * 100, kLimitedAnonGoalMiB, what, Verdict(measured, met));
  }
  std::fflush(out);
}

std::string ReportJson(const SpikeReport& r) {
  const SpikePlan& p = r.plan;
  std::string j = "{";
  j += fmt::format("\"machine\":{{\"cpus\":{},\"cpu_model\":\"{}\",\"memory_gib\":{:.1f},\"kernel\":\"{}\"}},",
                   r.machine.cpus, JsonEscape(r.machine.cpu_model), r.machine.memory_gib, JsonEscape(r.machine.kernel));
  j += fmt::format(
      "\"workload\":{{\"inserts\":{},\"updates\":{},\"deletes\":{},\"changes\":{},\"transactions\":{},"
      "\"largest_transaction\":{},\"generate_seconds\":{:.2f}}},",
      p.inserts, p.updates, p.deletes, p.changes(), p.txns.size(), p.largest_txn, r.generate_seconds);
  j += "\"phases\":{";
  PhaseJson(&j, "native", r.native);
  j += ",";
  PhaseJson(&j, "plain", r.plain);
  j += ",";
  PhaseJson(&j, "canonical", r.canonical);
  j += ",";
  PhaseJson(&j, "canonical_memory_limited", r.limited);
  j += "},";
  j += fmt::format("\"memory_limit\":{{\"mib\":{},\"oom_kills\":{},\"peak_charge_bytes\":{}}},", r.limit_mib,
                   r.limited_oom_kills, r.limited_peak_bytes);
  j += fmt::format("\"stages\":{{\"capture_seconds\":{:.3f},\"replay_seconds\":{:.3f}}},", r.capture_seconds,
                   r.replay_seconds);
  const LatencyResult& l = r.latency;
  if (l.measured) {
    j += fmt::format(
        "\"latency\":{{\"target_rows_per_s\":{:.0f},\"achieved_rows_per_s\":{:.0f},\"rows\":{},\"transactions\":{},"
        "\"seconds\":{:.2f},\"p50_ms\":{:.2f},\"p99_ms\":{:.2f},\"max_ms\":{:.2f},\"peak_rss_kb\":{},"
        "\"peak_anon_kb\":{},\"verified\":{}}},",
        l.target_rate, l.achieved_rate, l.rows, l.txns, l.seconds, l.p50_ms, l.p99_ms, l.max_ms, l.peak_rss_kb,
        l.peak_anon_kb, l.verified);
  } else {
    j += "\"latency\":null,";
  }
  const double ratio = Ratio(r.plain, r.native), canon = Ratio(r.canonical, r.plain);
  j += fmt::format("\"handoff_vs_native\":{:.3f},\"canonical_vs_plain\":{:.3f},\"peak_handoff_rss_mib\":{:.1f},"
                   "\"peak_handoff_anon_mib\":{:.1f}",
                   ratio, canon, PeakHandoffMiB(r), PeakHandoffHeapMiB(r));
  j += "}";
  return j;
}

}  // namespace handoff::bench
