// SourceState: what a PostgreSQL capture agent keeps in the journal beside
// its position (AppendBatch::state): which configured tables have had their
// existing rows read, and the backfills (chunked snapshots) still running
// with the key each one has reached. It travels with the batch whose `upto`
// it describes, so after any crash the position and the state agree.
//
// Encoding: one JSON object (docs/FORMATS.md, "source state"); key values are
// hex so that any byte a key may hold survives.
//
// Thread-safety: plain values.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "handoff/engine/status.h"

namespace handoff {

struct BackfillTask {
  std::string id;      // the request's id, or "added" for a table added to the config
  std::string table;   // "schema.table" as configured
  std::string reason;  // "added" or "requested"
  // Chunks continue after this key (text values in key order); empty: from
  // the first row (or from `from_key`).
  std::vector<std::string> after_key;
  std::vector<std::string> from_key;  // optional inclusive range
  std::vector<std::string> to_key;
  uint64_t rows = 0;    // rows emitted so far
  uint64_t chunks = 0;  // chunks completed
  uint64_t estimated = 0;  // pg_class.reltuples when it began (0: unknown)
  int64_t started_us = 0;
  bool operator==(const BackfillTask&) const = default;
};

// One column of a captured table as the stream last described it.
struct ColumnShape {
  std::string name;
  uint32_t type_oid = 0;
  int32_t type_modifier = -1;
  bool operator==(const ColumnShape&) const = default;
};

struct SourceState {
  // False when the journal held no state for the source (a journal written
  // before states existed, or a source that never finished its snapshot).
  bool known = false;
  std::vector<std::string> tables;  // tables whose existing rows were read
  std::vector<BackfillTask> tasks;  // in the order they run
  // The columns of each captured table ("schema.table" as captured) as last
  // seen, to tell a Relation message that changes them (a schema change).
  std::map<std::string, std::vector<ColumnShape>> shapes;

  bool HasTable(const std::string& t) const;
  const BackfillTask* TaskFor(const std::string& table) const;

  std::string Encode() const;
  // An empty input gives a state with known = false.
  static Result<SourceState> Decode(std::string_view text);
};

// A backfill request or cancellation, carried from `handoff snapshot` to the
// capture session as a transactional logical message with prefix
// kSignalPrefix (so it is ordered with the stream and survives restarts).
inline constexpr const char* kSignalPrefix = "handoff.signal";
inline constexpr const char* kWatermarkPrefix = "handoff.watermark";

struct BackfillSignal {
  std::string source;
  std::string table;
  std::string id;
  bool cancel = false;
  std::vector<std::string> from_key, to_key;
  // action "prune": keys the target holds and the source did not when they
  // were compared; capture journals a delete of each that the source still
  // does not hold (`handoff verify --repair`).
  std::vector<std::vector<std::string>> prune_keys;
  std::vector<std::string> prune_columns;  // the key columns the keys are of
  bool prune() const { return !prune_keys.empty(); }
  std::string Encode() const;
  static Result<BackfillSignal> Decode(std::string_view text);
};

}  // namespace handoff
