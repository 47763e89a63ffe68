// The snapshot benchmark's results: the two snapshot runs, the stream's
// latency with and without a snapshot beside it, printed as Markdown tables
// and as one JSON line.
//
// Thread-safety: plain data and pure functions.
#pragma once

#include <cstdint>
#include <cstdio>
#include <string>

#include "snapshot_workload.h"
#include "spike_probe.h"

namespace handoff::bench {

// One snapshot of the table, end to end (until the target holds every row).
struct SnapshotRun {
  int64_t rows = 0;
  double seconds = 0;
  double capture_seconds = -1;  // the read alone, from `handoff status` (started_us .. finished_us)
  double cpu_s = -1;            // engine CPU (user + system) during the run
  int64_t chunks = 0;           // chunked only

  double rate() const { return seconds > 0 ? rows / seconds : 0; }
};

// The stream's latency over one window of the machine clock.
struct StreamWindow {
  int64_t from_us = 0, to_us = 0;
  LatencyFigures figures;
  double seconds() const { return (to_us - from_us) / 1e6; }
};

struct SnapshotReport {
  MachineInfo machine;
  int64_t rows = 0, chunk_rows = 0;
  int64_t snapshot_rate = 0;  // the source's snapshot_rate (0: unpaced)
  double stream_rate = 0;
  int update_percent = 0;
  SnapshotRun plain, chunked;
  StreamStats stream;  // the producer over the baseline and the chunked run
  StreamWindow baseline, chunked_stream;
  bool verified = false;  // both target tables equal the source's

  double ratio() const { return plain.rate() > 0 ? chunked.rate() / plain.rate() : 0; }
};

void PrintSnapshotReport(const SnapshotReport& r, std::FILE* out);
std::string SnapshotReportJson(const SnapshotReport& r);

}  // namespace handoff::bench
