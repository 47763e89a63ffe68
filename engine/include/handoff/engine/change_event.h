// ChangeEvent: the one in-memory shape of a change, from capture to apply.
//
// Thread-safety: plain values.
#pragma once

#include <compare>
#include <cstdint>
#include <string>
#include <vector>

namespace handoff {

enum class Op : uint8_t {
  kInsert = 1,
  kUpdate = 2,
  kDelete = 3,
  kTruncate = 4,  // schema/table name the truncated table; no images
  kRead = 5,      // a row from an initial snapshot (idempotent upsert)
  kMessage = 6,   // a logical decoding message; payload in after[0]
  kCommit = 7,    // end of a source transaction; no images
  // The captured table's columns changed (a Relation message that differs
  // from the last one): before = the old columns, after = the new ones, each
  // a kText column whose data is the column's type ("numeric(12,2)") and
  // whose type_oid is the type's OID; key_columns are the new key. Written
  // inside the source transaction, before the first change of the new shape.
  kSchema = 8,
};
const char* OpName(Op op);

// Bits of ChangeEvent::truncate_options (the pgoutput Truncate option bits).
inline constexpr uint8_t kTruncateCascade = 1;
inline constexpr uint8_t kTruncateRestartIdentity = 2;

enum class SourceKind : uint8_t { kPostgres = 1, kWebhook = 2, kDebezium = 3 };
const char* SourceKindName(SourceKind kind);

// Where a change sits in its source. PostgreSQL: lsn = commit LSN of the
// transaction and ordinal = the change's place within it, from 1; snapshot
// rows have lsn 0 and ordinal = attempt << 40 | row (see capture_session.h),
// so each snapshot attempt has its own positions. Ordered lexicographically; a source's
// positions only grow, which is what dedup relies on.
struct SourcePosition {
  uint64_t lsn = 0;
  uint64_t ordinal = 0;
  auto operator<=>(const SourcePosition&) const = default;
  bool IsZero() const { return lsn == 0 && ordinal == 0; }
};
// "16/B374D848#12".
std::string FormatPosition(const SourcePosition& p);
std::string FormatLsn(uint64_t lsn);

// One column value. Text form is the PostgreSQL text output of the type, so
// numerics, ids, timestamps and arrays round-trip exactly.
struct Column {
  enum class Kind : uint8_t { kNull = 0, kText = 1, kUnchangedToast = 2, kBinary = 3 };
  std::string name;
  uint32_t type_oid = 0;  // PostgreSQL type OID (0 when unknown)
  Kind kind = Kind::kNull;
  std::string data;       // text or binary form; empty for kNull/kUnchangedToast

  bool is_null() const { return kind == Kind::kNull; }
  bool is_unchanged_toast() const { return kind == Kind::kUnchangedToast; }
  bool operator==(const Column&) const = default;
};

struct ChangeEvent {
  std::string source;  // configured source name
  SourceKind source_kind = SourceKind::kPostgres;
  SourcePosition position;
  std::string delivery_id;    // webhook delivery id; empty for log-based sources
  uint64_t xid = 0;           // source transaction id (0 for snapshot rows)
  int64_t commit_time_us = 0; // source commit time, microseconds since the Unix epoch
  std::string origin;         // replication origin of the source transaction, if any
  std::string schema;
  std::string table;
  Op op = Op::kInsert;
  std::vector<std::string> key_columns;  // names of the replica-identity columns
  bool has_before = false;
  std::vector<Column> before;  // old image (full or key only), when has_before
  std::vector<Column> after;   // new image (insert, update, read)
  std::string correlation_id;  // tracing id; defaults to source:position
  // Truncate only: the statement's options (kTruncateCascade, kTruncateRestartIdentity) and this
  // table's place among the captured tables of one TRUNCATE statement, which a target applies as
  // one statement. truncate_count 0 (older records) means a truncate of its own.
  uint8_t truncate_options = 0;
  uint32_t truncate_index = 0;
  uint32_t truncate_count = 0;

  bool operator==(const ChangeEvent&) const = default;

  // Finds a column of the after image (or before, if no after) by name.
  const Column* FindAfter(const std::string& name) const;
  const Column* FindBefore(const std::string& name) const;
  // "psa.public.time_entries".
  std::string QualifiedTable() const { return source + "." + schema + "." + table; }
};

// A journaled event with its sequence number.
struct JournalEntry {
  uint64_t seq = 0;
  int64_t journaled_at_us = 0;
  ChangeEvent event;
};

}  // namespace handoff
