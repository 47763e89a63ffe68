// SourceFactory: one capture agent for a configured source, whatever its
// kind, behind a small common interface (run it, stop it, read its counters).
//
// Thread-safety: a SourceAgent is run on one thread and stopped from any.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "handoff/capture/pg_capture.h"
#include "handoff/engine/config.h"
#include "handoff/engine/health.h"
#include "handoff/engine/status.h"
#include "handoff/engine/transport.h"

namespace handoff {

struct SourceAgentStats {
  uint64_t changes = 0;     // changes sent to the engine (snapshot rows included)
  uint64_t malformed = 0;   // bad input seen (Debezium lines, webhook bodies)
  uint64_t reconnects = 0;  // PostgreSQL sessions restarted
  uint64_t confirmed_lsn = 0;
  // PostgreSQL: changes of relations that are no configured table, per "schema.table".
  std::vector<std::pair<std::string, uint64_t>> unrouted;
  // PostgreSQL: tables being read (initial snapshot, added tables, backfills), with the finished ones.
  std::vector<CaptureCounters::TableProgress> reads;
  uint64_t schema_changes = 0;  // PostgreSQL: schema events journaled (a captured table's columns changed)
};

class SourceAgent {
 public:
  virtual ~SourceAgent() = default;
  virtual Status Run() = 0;
  virtual void Stop() = 0;
  virtual SourceAgentStats Stats() const = 0;
  virtual HealthReport Health() const = 0;
};

// Creates the agent for `source`, sending to `intake_endpoint` over `ctx`.
// `journal_id` (known inside `handoff run`) marks the publications it creates.
Result<std::unique_ptr<SourceAgent>> MakeSource(const SourceConfig& source, std::shared_ptr<TransportContext> ctx,
                                                const std::string& intake_endpoint,
                                                const std::string& journal_id = "");

}  // namespace handoff
