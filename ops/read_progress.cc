#include "read_progress.h"

#include <fmt/format.h>

#include <algorithm>

#include "handoff/engine/event_json.h"

namespace handoff {
namespace {

struct Figures {
  double rate = 0;         // rows per second
  double eta_seconds = -1;  // -1: unknown
};

Figures Of(const CaptureCounters::TableProgress& p, int64_t now_us) {
  Figures f;
  const int64_t end = p.finished_us != 0 ? p.finished_us : now_us;
  const double secs = std::max(1e-3, static_cast<double>(end - p.started_us) / 1e6);
  f.rate = static_cast<double>(p.rows) / secs;
  if (p.finished_us == 0 && p.estimated > p.rows && f.rate > 0)
    f.eta_seconds = static_cast<double>(p.estimated - p.rows) / f.rate;
  else if (p.finished_us == 0 && p.estimated > 0)
    f.eta_seconds = 0;
  return f;
}

}  // namespace

std::string ReadsJson(const TableReads& reads, int64_t now_us) {
  std::string out = "[";
  for (const auto& p : reads) {
    Figures f = Of(p, now_us);
    out += fmt::format(
        "{}{{\"table\":{},\"kind\":{},\"id\":{},\"state\":{},\"rows\":{},\"estimated_rows\":{},\"chunks\":{},"
        "\"rows_per_second\":{:.1f},\"eta_seconds\":{:.0f},\"started_us\":{},\"finished_us\":{}}}",
        out.size() > 1 ? "," : "", JsonString(p.table), JsonString(p.kind), JsonString(p.id),
        JsonString(p.finished_us == 0 ? "running" : p.outcome), p.rows, p.estimated, p.chunks, f.rate, f.eta_seconds,
        p.started_us, p.finished_us);
  }
  return out + "]";
}

std::string ReadsText(const TableReads& reads, int64_t now_us) {
  std::string out;
  for (const auto& p : reads) {
    Figures f = Of(p, now_us);
    std::string est = p.estimated > 0 ? fmt::format(" of ~{}", p.estimated) : std::string();
    std::string pct = p.estimated > 0 && p.finished_us == 0
                          ? fmt::format(" ({:.0f}%)", 100.0 * std::min<double>(1.0, double(p.rows) / double(p.estimated)))
                          : std::string();
    std::string chunks = p.chunks > 0 ? fmt::format(", {} chunks", p.chunks) : std::string();
    std::string eta = f.eta_seconds >= 0 ? fmt::format(", ~{:.0f} s left", f.eta_seconds) : std::string();
    out += fmt::format("    reading {} ({}{}): {}, {} rows{}{}{}, {:.0f} rows/s{}\n", p.table, p.kind,
                       p.id.empty() || p.id == p.kind ? "" : " " + p.id, p.finished_us == 0 ? "running" : p.outcome,
                       p.rows, est, pct, chunks, f.rate, p.finished_us == 0 ? eta : "");
  }
  return out;
}

void ReadsMetrics(const std::vector<std::pair<std::string, TableReads>>& by_source, MetricsText* m) {
  auto family = [&](const char* name, const char* type, const char* help, auto value) {
    m->Family(name, type, help);
    for (const auto& [source, reads] : by_source)
      for (const auto& p : reads) m->Sample({{"source", source}, {"table", p.table}, {"kind", p.kind}}, value(p));
  };
  family("handoff_snapshot_rows_total", "counter", "Rows read from a table by its snapshot, added-table read or backfill.",
         [](const CaptureCounters::TableProgress& p) { return p.rows; });
  family("handoff_snapshot_rows_estimated", "gauge", "Rows the table was estimated to hold when its read began (pg_class.reltuples).",
         [](const CaptureCounters::TableProgress& p) { return p.estimated; });
  family("handoff_snapshot_chunks_total", "counter", "Chunks of a chunked table read that are done.",
         [](const CaptureCounters::TableProgress& p) { return p.chunks; });
  family("handoff_snapshot_running", "gauge", "1 while the table is being read.",
         [](const CaptureCounters::TableProgress& p) { return uint64_t{p.finished_us == 0 ? 1u : 0u}; });
}

}  // namespace handoff
