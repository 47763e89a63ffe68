// The spike driver's results: what each phase measured, printed as Markdown
// tables (with the goals of the month-end spike issue, met or not) and as JSON.
//
// Thread-safety: plain data and pure functions.
#pragma once

#include <cstdint>
#include <cstdio>
#include <string>

#include "spike_probe.h"
#include "spike_workload.h"

namespace handoff::bench {

// One consumer catching up with the whole spike.
struct CatchUpResult {
  std::string name;            // native, plain, canonical; empty when the phase was skipped
  bool finished = false;       // the sentinel row reached the target in time
  bool verified = false;       // target checksum equals the source's
  int64_t changes = 0;
  double seconds = 0;
  int64_t start_unix_us = 0;   // wall clock at the start (journal timestamps are compared with it)
  double cpu_s = -1;           // handoff process CPU (user + system)
  long peak_rss_kb = -1;       // VmHWM: includes the journal's file pages mapped in
  long peak_anon_kb = -1;      // sampled RssAnon: heap and stacks
  uint64_t journal_bytes = 0;  // size of the LMDB files afterwards
  std::string note;

  double rate() const { return seconds > 0 ? changes / seconds : 0; }
};

struct LatencyResult {
  bool measured = false;
  bool verified = false;
  double target_rate = 0, achieved_rate = 0, seconds = 0;
  int64_t rows = 0, txns = 0;
  double p50_ms = 0, p99_ms = 0, max_ms = 0;
  long peak_rss_kb = -1, peak_anon_kb = -1;
};

struct SpikeReport {
  MachineInfo machine;
  SpikePlan plan;
  double generate_seconds = 0;
  CatchUpResult native, plain, canonical;
  // The canonical phase again, the engine inside a memory cgroup of limit_mib.
  CatchUpResult limited;
  int64_t limit_mib = 0;
  long limited_oom_kills = -1;       // processes of the group the OOM killer ended
  long long limited_peak_bytes = -1;  // the group's peak charge (page cache included)
  double capture_seconds = -1;  // plain: when the last change was journaled
  double replay_seconds = -1;   // plain: the journal replayed into an emptied target
  LatencyResult latency;
};

void PrintReport(const SpikeReport& r, std::FILE* out);
std::string ReportJson(const SpikeReport& r);

}  // namespace handoff::bench
