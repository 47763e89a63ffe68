#include "snapshot_report.h"

#include <fmt/format.h>

namespace handoff::bench {
namespace {

// 1234567 -> "1,234,567".
std::string Thousands(double value) {
  auto n = static_cast<int64_t>(value + 0.5);
  std::string s = std::to_string(n), out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (i > 0 && (s.size() - i) % 3 == 0) out += ',';
    out += s[i];
  }
  return out;
}

std::string Seconds(double s) { return s < 0 ? "" : fmt::format("{:.2f}", s); }

void RunRow(std::FILE* out, const std::string& label, const SnapshotRun& run, const std::string& vs) {
  fmt::print(out, "| {} | {:.2f} | {} | {} | {} | {} |\n", label, run.seconds, Thousands(run.rate()), vs,
             Seconds(run.capture_seconds), run.cpu_s < 0 ? "" : fmt::format("{:.1f}", run.cpu_s));
}

void WindowRow(std::FILE* out, const std::string& label, const StreamWindow& w) {
  fmt::print(out, "| {} | {:.1f} | {} | {:.1f} | {:.1f} | {:.1f} |\n", label, w.seconds(), Thousands(w.figures.changes),
             w.figures.p50_ms, w.figures.p99_ms, w.figures.max_ms);
}

std::string WindowJson(const StreamWindow& w) {
  return fmt::format("{{\"seconds\":{:.2f},\"changes\":{},\"p50_ms\":{:.2f},\"p99_ms\":{:.2f},\"max_ms\":{:.2f}}}",
                     w.seconds(), w.figures.changes, w.figures.p50_ms, w.figures.p99_ms, w.figures.max_ms);
}

std::string RunJson(const SnapshotRun& r) {
  return fmt::format(
      "{{\"seconds\":{:.3f},\"rows_per_second\":{:.0f},\"capture_seconds\":{:.3f},\"cpu_seconds\":{:.2f},"
      "\"chunks\":{}}}",
      r.seconds, r.rate(), r.capture_seconds, r.cpu_s, r.chunks);
}

}  // namespace

void PrintSnapshotReport(const SnapshotReport& r, std::FILE* out) {
  const double stream_seconds = r.stream.seconds > 0 ? r.stream.seconds : 1;
  fmt::print(out, "\nMachine: {}\n", r.machine.Describe());
  fmt::print(out, "Table: {} rows of public.time_entries; chunk_rows {}; snapshot_rate {}; stream {} changes/s ({}% "
             "updates)\n\n",
             Thousands(static_cast<double>(r.rows)), r.chunk_rows,
             r.snapshot_rate > 0 ? Thousands(static_cast<double>(r.snapshot_rate)) + " rows/s" : "unpaced",
             Thousands(r.stream_rate), r.update_percent);
  fmt::print(out,
             "| snapshot of the table into the target | seconds | rows/s | vs plain | read alone s | engine CPU s |\n");
  fmt::print(out, "|---|---|---|---|---|---|\n");
  RunRow(out, "plain initial snapshot (COPY, new journal)", r.plain, "1.00x");
  RunRow(out, fmt::format("chunked snapshot (`handoff snapshot`, {} chunks) beside the stream", r.chunked.chunks),
         r.chunked, fmt::format("{:.2f}x", r.ratio()));
  fmt::print(out, "\n| stream_events, capture to apply | seconds | changes | p50 ms | p99 ms | max ms |\n");
  fmt::print(out, "|---|---|---|---|---|---|\n");
  WindowRow(out, "baseline: no snapshot running", r.baseline);
  WindowRow(out, "during the chunked snapshot", r.chunked_stream);
  fmt::print(out,
             "\nStream producer: {} inserts + {} updates in {} transactions over {:.1f} s ({} changes/s achieved); "
             "changes counts each row's last change in the window.\n",
             Thousands(r.stream.inserts), Thousands(r.stream.updates), Thousands(r.stream.txns), r.stream.seconds,
             Thousands((r.stream.inserts + r.stream.updates) / stream_seconds));
  fmt::print(out, "Targets equal the source (md5 of ordered rows): {}\n\n", r.verified ? "yes" : "NO");
}

std::string SnapshotReportJson(const SnapshotReport& r) {
  const double stream_seconds = r.stream.seconds > 0 ? r.stream.seconds : 1;
  return fmt::format(
      "{{\"machine\":\"{}\",\"rows\":{},\"chunk_rows\":{},\"snapshot_rate\":{},\"stream_rate\":{:.0f},"
      "\"update_percent\":{},"
      "\"stream_achieved\":{:.0f},\"plain\":{},\"chunked\":{},\"ratio\":{:.4f},\"latency_baseline\":{},"
      "\"latency_during_snapshot\":{},\"verified\":{}}}",
      r.machine.Describe(), r.rows, r.chunk_rows, r.snapshot_rate, r.stream_rate, r.update_percent,
      (r.stream.inserts + r.stream.updates) / stream_seconds, RunJson(r.plain), RunJson(r.chunked), r.ratio(),
      WindowJson(r.baseline), WindowJson(r.chunked_stream), r.verified ? "true" : "false");
}

}  // namespace handoff::bench
