// SourceFactory: one capture agent for a configured source, whatever its
// kind, behind the engine's Source interface (run it, stop it, its name, kind
// and health) plus its counters. A table maps each kind to its builder.
//
// Thread-safety: a SourceAgent is run on one thread and stopped from any; the
// kind table is constant.
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
#include "handoff/engine/worker.h"

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
  // PostgreSQL, protocol 2: streamed transactions committed and aborted.
  uint64_t streamed_transactions = 0;
  uint64_t streamed_aborts = 0;
};

class SourceAgent : public Source {
 public:
  virtual SourceAgentStats Stats() const = 0;
};

// What an agent is built with besides its configuration.
struct SourceEnv {
  std::shared_ptr<TransportContext> context;
  std::string intake_endpoint;
  std::string journal_id;  // known inside `handoff run`: marks the publications it creates
};

// One row of the kind table.
struct SourceKindEntry {
  const char* name;  // as `kind:` spells it
  SourceKind kind;
  Result<std::unique_ptr<SourceAgent>> (*make)(const SourceConfig& source, const SourceEnv& env);
};
const std::vector<SourceKindEntry>& SourceKinds();
// "postgres, debezium, webhook".
std::string SourceKindList();

// Creates the agent for `source`, sending to `intake_endpoint` over `ctx`.
// An unknown kind is an error listing the known ones.
Result<std::unique_ptr<SourceAgent>> MakeSource(const SourceConfig& source, std::shared_ptr<TransportContext> ctx,
                                                const std::string& intake_endpoint,
                                                const std::string& journal_id = "");

}  // namespace handoff
