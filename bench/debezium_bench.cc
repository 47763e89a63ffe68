// Debezium codec throughput: full decode (to ChangeEvent) and encode, on
// Debezium-shaped events of ~500 bytes (payload only) and ~5 KB (schema
// envelope). Reports items/s and bytes/s; each benchmark checks its result.
#include <benchmark/benchmark.h>

#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "handoff/capture/debezium.h"

namespace handoff {
namespace {

constexpr int kBatch = 1000;

ChangeEvent MakeEvent(int i, bool wide) {
  ChangeEvent e;
  e.source = "psa";
  e.source_kind = SourceKind::kDebezium;
  e.position = {0x16B3740000ull + static_cast<uint64_t>(i) * 64, 1};
  e.xid = 9000 + i;
  e.commit_time_us = 1700000000000000 + i;
  e.schema = "public";
  e.table = "time_entries";
  e.op = Op::kUpdate;
  e.key_columns = {"id"};
  auto t = [](const char* n, uint32_t oid, std::string v) { return Column{n, oid, Column::Kind::kText, v}; };
  e.after = {t("id", 20, std::to_string(1000000 + i)), t("employee_id", 23, "4711"),
             t("hours", 1700, "7.50"), t("rate", 1700, "145.0000"), t("billable", 16, "t"),
             t("work_date", 1082, "2024-02-29"), t("approved_at", 1184, "2024-03-01 09:15:00.123456+00"),
             t("note", 25, "Month-end close, client workshop #" + std::to_string(i))};
  if (wide) {
    for (int k = 0; k < 4; ++k) {
      e.after.push_back(t(("extra_" + std::to_string(k)).c_str(), 1043, "value " + std::to_string(k * i)));
    }
    e.has_before = true;
    e.before = e.after;
  }
  return e;
}

std::string MakeInput(bool wide, size_t* per_event) {
  DebeziumEncodeOptions o;
  o.include_schema = wide;
  std::string all;
  for (int i = 0; i < kBatch; ++i) {
    all += EncodeDebezium(MakeEvent(i, wide), o);
    all.push_back('\n');
  }
  *per_event = all.size() / kBatch;
  return all;
}

void Check(bool ok, const char* what) {
  if (!ok) {
    std::fprintf(stderr, "debezium_bench: wrong result: %s\n", what);
    std::abort();
  }
}

void BM_Decode(benchmark::State& state) {
  bool wide = state.range(0) != 0;
  size_t per_event = 0;
  std::string input = MakeInput(wide, &per_event);
  DebeziumDecoder decoder;
  std::vector<DecodedRecord> out;
  out.reserve(kBatch);
  for (auto _ : state) {
    out.clear();
    Status st = decoder.DecodeAll(input, &out);
    Check(st.ok(), "decode failed");
    benchmark::DoNotOptimize(out.data());
  }
  Check(out.size() == kBatch, "record count");
  const ChangeEvent& last = out.back().event;
  Check(last.after[0].data == std::to_string(1000000 + kBatch - 1), "id");
  Check(last.after[2].data == "7.50", "hours");
  Check(!wide || last.after[2].type_oid == 1700, "hours type (schema envelope)");
  // Without a schema a ZonedTimestamp is just a string; with one it becomes PostgreSQL text.
  Check(last.after[6].data == (wide ? "2024-03-01 09:15:00.123456+00" : "2024-03-01T09:15:00.123456Z"), "approved_at");
  Check(last.xid == 9000 + kBatch - 1 && last.commit_time_us == 1700000000000000 + kBatch - 1, "source");
  state.SetItemsProcessed(state.iterations() * kBatch);
  state.SetBytesProcessed(state.iterations() * static_cast<int64_t>(input.size()));
  state.counters["bytes_per_event"] = static_cast<double>(per_event);
}

void BM_Encode(benchmark::State& state) {
  bool wide = state.range(0) != 0;
  std::vector<ChangeEvent> events;
  for (int i = 0; i < kBatch; ++i) events.push_back(MakeEvent(i, wide));
  DebeziumEncodeOptions o;
  o.include_schema = wide;
  int64_t bytes = 0;
  std::string last;
  for (auto _ : state) {
    for (const ChangeEvent& e : events) {
      last = EncodeDebezium(e, o);
      bytes += static_cast<int64_t>(last.size());
    }
  }
  Check(last.find("\"hours\":\"7.50\"") != std::string::npos, "encoded hours");
  Check(last.find("\"approved_at\":\"2024-03-01T09:15:00.123456Z\"") != std::string::npos, "encoded approved_at");
  state.SetItemsProcessed(state.iterations() * kBatch);
  state.SetBytesProcessed(bytes);
}

BENCHMARK(BM_Decode)->Arg(0)->Arg(1)->ArgName("wide5k")->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_Encode)->Arg(0)->Arg(1)->ArgName("wide5k")->Unit(benchmark::kMicrosecond);

}  // namespace
}  // namespace handoff

BENCHMARK_MAIN();
