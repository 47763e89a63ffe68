// Micro-benchmarks of the journal record codec: encode and decode of a
// 12-column time-entry event, reported as events/s and bytes/s, in the
// self-contained record (version 2, the wire's) and the journal's compact
// record (version 3, its shape named by id); `record_bytes` is one record.
#include <benchmark/benchmark.h>

#include <cstdlib>

#include "handoff/engine/event_codec.h"

namespace handoff {
namespace {

ChangeEvent TimeEntry(uint64_t id) {
  ChangeEvent e;
  e.source = "psa";
  e.position = {0x1A2B3C4D5Eull, id};
  e.xid = 991;
  e.commit_time_us = 1764000000000000;
  e.schema = "public";
  e.table = "time_entries";
  e.op = Op::kInsert;
  e.key_columns = {"id"};
  e.correlation_id = "psa:" + FormatPosition(e.position);
  e.after = {{"id", 20, Column::Kind::kText, std::to_string(id)},
             {"consultant_id", 23, Column::Kind::kText, "17"},
             {"project_code", 25, Column::Kind::kText, "PRJ-1024"},
             {"task_code", 25, Column::Kind::kText, "T3"},
             {"work_date", 1082, Column::Kind::kText, "2026-11-30"},
             {"hours", 1700, Column::Kind::kText, "7.50"},
             {"billable", 16, Column::Kind::kText, "t"},
             {"status", 25, Column::Kind::kText, "approved"},
             {"notes", 25, Column::Kind::kText, "Month-end close workshop with the client"},
             {"approved_at", 1184, Column::Kind::kText, "2026-11-30 17:00:00+00"},
             {"updated_at", 1184, Column::Kind::kText, "2026-11-30 17:00:01.123456+00"},
             {"rate", 1700, Column::Kind::kText, "145.00"}};
  return e;
}

void BM_Encode(benchmark::State& state) {
  ChangeEvent e = TimeEntry(123456);
  std::string buf;
  size_t bytes = 0;
  for (auto _ : state) {
    buf.clear();
    EncodeEvent(e, 1764000000000000, &buf);
    bytes += buf.size();
    benchmark::DoNotOptimize(buf.data());
  }
  state.SetItemsProcessed(state.iterations());
  state.SetBytesProcessed(static_cast<int64_t>(bytes));
  state.counters["record_bytes"] = static_cast<double>(buf.size());
}
BENCHMARK(BM_Encode);

void BM_Decode(benchmark::State& state) {
  std::string buf;
  EncodeEvent(TimeEntry(123456), 1764000000000000, &buf);
  ChangeEvent out;
  for (auto _ : state) {
    Status st = DecodeEvent(buf, &out, nullptr);
    if (!st.ok()) state.SkipWithError("decode failed");
    benchmark::DoNotOptimize(out.after.data());
  }
  // The benchmark checks its own result.
  if (out.after.size() != 12 || out.after[5].data != "7.50") state.SkipWithError("decoded event is wrong");
  state.SetItemsProcessed(state.iterations());
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * buf.size()));
}
BENCHMARK(BM_Decode);

EventShape Shape() {
  std::string key;
  EventShape s;
  if (!ShapeKeyOf(TimeEntry(1), &key) || !EventShape::Decode(key, &s)) std::abort();
  return s;
}

void BM_EncodeCompact(benchmark::State& state) {
  const ChangeEvent e = TimeEntry(123456);
  const EventShape shape = Shape();
  std::string buf;
  size_t bytes = 0;
  for (auto _ : state) {
    buf.clear();
    if (!EncodeCompactEvent(e, 1764000000000000, 1, &shape, &buf)) state.SkipWithError("shape does not fit");
    bytes += buf.size();
    benchmark::DoNotOptimize(buf.data());
  }
  state.SetItemsProcessed(state.iterations());
  state.SetBytesProcessed(static_cast<int64_t>(bytes));
  state.counters["record_bytes"] = static_cast<double>(buf.size());
}
BENCHMARK(BM_EncodeCompact);

void BM_DecodeCompact(benchmark::State& state) {
  const EventShape shape = Shape();
  std::string buf;
  EncodeCompactEvent(TimeEntry(123456), 1764000000000000, 1, &shape, &buf);
  const ShapeLookup lookup = [&](uint32_t id) { return id == 1 ? &shape : nullptr; };
  ChangeEvent out;
  for (auto _ : state) {
    Status st = DecodeEvent(buf, &out, nullptr, lookup);
    if (!st.ok()) state.SkipWithError("decode failed");
    benchmark::DoNotOptimize(out.after.data());
  }
  if (!(out == TimeEntry(123456))) state.SkipWithError("decoded event is wrong");
  state.SetItemsProcessed(state.iterations());
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * buf.size()));
  state.counters["record_bytes"] = static_cast<double>(buf.size());
}
BENCHMARK(BM_DecodeCompact);

}  // namespace
}  // namespace handoff

BENCHMARK_MAIN();
