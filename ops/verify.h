// handoff verify: compares the tables of a PostgreSQL source with the target
// tables its routes write, while both keep changing, and (with --repair)
// re-reads what differs through the source's chunked snapshot path so it
// reaches the target as ordinary journaled changes.
//
// Consistency without a false alarm from lag: a range of keys is read on the
// source, a watermark (a transactional logical message) is written to the
// source, and the target is read only once it has applied the journal up to
// that watermark; the source range is then read again. A range is equal when
// the target matches the source as read before or after; otherwise it is split
// down to rows, and a row is reported only when the source row stayed the same
// across its two reads (a row that kept changing is checked again, and at the
// end reported as unsettled, not as drift). docs/verify.md has the details.
//
// Thread-safety: one call at a time per journal.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "handoff/engine/config.h"
#include "handoff/engine/journal.h"
#include "handoff/engine/status.h"

namespace handoff {

struct VerifyOptions {
  const Config* config = nullptr;
  Journal* journal = nullptr;      // the engine's journal (read here; the engine keeps running)
  std::string source;              // the routes from this PostgreSQL source
  std::string table;               // "schema.table" of the source, or "" for all of its routes
  uint64_t chunk_rows = 1000;      // rows per compared range
  uint64_t segment_rows = 200000;  // source rows read per watermark
  uint64_t rate = 0;               // at most this many source rows read per second (0: unpaced)
  int rounds = 5;                  // checks of a row that keeps changing before it is called unsettled
  double timeout_s = 120;          // for the target to reach one watermark
  bool repair = false;
  // Asked between reads and while waiting; true stops the check (Cancelled).
  std::function<bool()> cancelled;
};

struct VerifiedRow {
  std::vector<std::string> key;      // key column values, as text
  std::vector<std::string> columns;  // different: the columns that differ
};

struct TableVerification {
  std::string source, source_table;   // psa, public.time_entries
  std::string target, target_table;   // erp, public.time_entries
  std::vector<std::string> key_columns;
  std::vector<std::string> columns;               // compared (in both tables)
  std::vector<std::string> not_in_target;         // source columns the target table lacks (not compared)
  uint64_t rows_checked = 0, ranges = 0, ranges_split = 0, watermarks = 0;
  double seconds = 0;
  std::vector<VerifiedRow> missing, extra, different, unsettled;
  // --repair: rows re-read through the chunked snapshot and rows deleted, and
  // whether a check afterwards found the target equal for all of them.
  uint64_t repaired = 0;
  bool repair_verified = false;
  std::string repair_note;

  bool equal() const { return missing.empty() && extra.empty() && different.empty() && unsettled.empty(); }
};

// Verifies every route from `options.source` (or the one from its table).
Result<std::vector<TableVerification>> VerifyRoutes(const VerifyOptions& options);

// The report as text (a line per table and a line per row) and as JSON.
std::string VerificationText(const std::vector<TableVerification>& tables);
std::string VerificationJson(const std::vector<TableVerification>& tables);

}  // namespace handoff
