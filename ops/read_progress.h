// How status and metrics show a source's table reads: the initial snapshot,
// tables added while running and backfills, with rows, estimate, chunks, rate
// and time left.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "handoff/capture/pg_capture.h"
#include "metrics_text.h"

namespace handoff {

using TableReads = std::vector<CaptureCounters::TableProgress>;

// A JSON array of the reads.
std::string ReadsJson(const TableReads& reads, int64_t now_us);
// Indented lines for `handoff status` (empty when there are none).
std::string ReadsText(const TableReads& reads, int64_t now_us);
// handoff_snapshot_* families for every source's reads.
void ReadsMetrics(const std::vector<std::pair<std::string, TableReads>>& by_source, MetricsText* m);

}  // namespace handoff
