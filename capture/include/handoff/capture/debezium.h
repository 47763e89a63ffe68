// Debezium JSON codec: decodes Debezium change-event JSON (as produced by the
// Debezium PostgreSQL and MySQL connectors, JSON converter with or without
// schemas) into ChangeEvents, and encodes ChangeEvents the way the Debezium
// PostgreSQL connector would emit the same row.
//
// Values always come out in PostgreSQL text form, exactly: decimals never
// pass through a double ("MDk=" at scale 2 is "123.45"), temporal values are
// converted from Debezium's epoch-based integers to PostgreSQL's text output
// (timestamptz in UTC with "+00"), bytea as "\x.." hex, booleans "t"/"f".
// Debezium's unchanged-TOAST placeholder "__debezium_unavailable_value", in
// whatever type-dependent form it takes, becomes Column::Kind::kUnchangedToast.
//
// No simdjson type appears here; no exception leaves this API.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "handoff/engine/change_event.h"
#include "handoff/engine/status.h"

namespace handoff {

// The placeholder Debezium writes for an unchanged TOASTed column.
inline constexpr std::string_view kDebeziumUnavailableValue = "__debezium_unavailable_value";

// One decoded top-level Debezium record.
struct DecodedRecord {
  enum class Kind : uint8_t {
    kChange = 1,     // a row change, truncate or logical message: `event`
    kTombstone = 2,  // a null value (Kafka compaction marker); `key` when a key was given
    kTxnBegin = 3,   // transaction metadata BEGIN: txn_id, xid, lsn, ts_us
    kTxnEnd = 4,     // transaction metadata END: also event_count, data_collections
    kHeartbeat = 5,  // heartbeat value ({"ts_ms": ...}): ts_us
    kKey = 6,        // a key document on its own (no value): `key`
  };
  Kind kind = Kind::kChange;
  size_t offset = 0;  // byte offset of the record's document in the input

  ChangeEvent event;        // kChange
  std::vector<Column> key;  // key columns, when a key document was present

  std::string txn_id;    // kTxnBegin/kTxnEnd: Debezium transaction id, e.g. "571:53195829"
  uint64_t xid = 0;      // parsed from txn_id "xid:lsn" when it has that shape
  uint64_t lsn = 0;
  int64_t ts_us = 0;     // kTxnBegin/kTxnEnd/kHeartbeat: record time
  uint64_t event_count = 0;  // kTxnEnd
  std::vector<std::pair<std::string, uint64_t>> data_collections;  // kTxnEnd: "schema.table" -> count

  bool operator==(const DecodedRecord&) const = default;
};
const char* DecodedRecordKindName(DecodedRecord::Kind kind);

struct DebeziumDecoderOptions {
  // ChangeEvent::source for decoded events; empty = take source.name from the record.
  std::string source_name;
  SourceKind source_kind = SourceKind::kDebezium;
};

// Decodes Debezium JSON into DecodedRecords.
//
// Accepted input: one document, a JSON array of documents, or several
// documents one after another (NDJSON or simply concatenated). A document is
// a Debezium value with the {"schema","payload"} envelope or the payload
// alone, members in any order; `null` (a tombstone); a key document; or a
// keyed record {"key": <key document|null>, "value": <value document|null>}
// (what EncodeDebezium writes with include_key), whose key fields become
// ChangeEvent::key_columns.
//
// Position: lsn = source.lsn; ordinal = transaction.total_order when the
// record has a transaction block, else a per-decoder counter that restarts at
// 1 whenever the lsn changes (snapshot rows share one lsn).
//
// Errors: kInvalidArgument naming the byte offset and the reason (malformed
// JSON, invalid UTF-8, wrong member types, invalid base64, out-of-range
// numbers, nesting deeper than 1024). On error, `out` keeps the records
// decoded before the bad document.
//
// Thread-safety: not thread-safe; use one decoder per thread (it reuses its
// parser, buffers and schema cache between calls).
class DebeziumDecoder {
 public:
  explicit DebeziumDecoder(DebeziumDecoderOptions options = {});
  ~DebeziumDecoder();
  DebeziumDecoder(DebeziumDecoder&&) noexcept;
  DebeziumDecoder& operator=(DebeziumDecoder&&) noexcept;

  // Appends every record of `input` to *out.
  Status DecodeAll(std::string_view input, std::vector<DecodedRecord>* out);

  // Decodes one Kafka message: `value` must hold exactly one document (or be
  // empty/"null" for a tombstone); `key` (may be empty) is the message key,
  // whose fields become key_columns and DecodedRecord::key.
  Status DecodeKeyValue(std::string_view key, std::string_view value, DecodedRecord* out);

  // Restarts the ordinal counter (e.g. when a new input stream begins).
  void ResetOrdinals();

 private:
  class Impl;
  std::unique_ptr<Impl> impl_;
};

// How numerics (numeric, money) are written.
enum class DebeziumDecimalMode : uint8_t {
  // decimal.handling.mode=string: the exact decimal text (default; exact,
  // readable, and needs no scale).
  kString = 0,
  // decimal.handling.mode=precise: base64 big-endian two's complement. A
  // column listed in DebeziumEncodeOptions::decimal_scales is written as
  // org.apache.kafka.connect.data.Decimal with that scale; others as
  // io.debezium.data.VariableScaleDecimal {scale, value}. Values that cannot
  // be written so (NaN, Infinity, more fraction digits than the scale) make
  // that column fall back to string.
  kPrecise = 1,
};

struct DebeziumEncodeOptions {
  bool include_schema = true;  // {"schema","payload"} envelope, else payload only
  // Emit {"key": <key document>, "value": <value document>} so key columns
  // survive a round trip (a Kafka record's key travels beside its value).
  bool include_key = false;
  DebeziumDecimalMode decimal_mode = DebeziumDecimalMode::kString;
  std::map<std::string, int32_t> decimal_scales;  // column name -> scale (precise mode)
  std::string connector_version = "2.7.0.Final";
  std::string database = "postgres";  // source.db
  // Write a transaction block (id, total_order = position.ordinal) so that the
  // ordinal survives a round trip.
  bool include_transaction_block = true;
};

// Encodes one event as a Debezium PostgreSQL connector value document.
// Op::kCommit becomes a transaction metadata END record; Op::kSchema has no
// Debezium form and gives an empty string (callers skip it). Never fails: a value
// that cannot take its Debezium form (e.g. an 'infinity' date) is written as
// a string, with the PostgreSQL type in the schema parameter
// "__debezium.source.column.type" (as with column.propagate.source.type).
std::string EncodeDebezium(const ChangeEvent& event, const DebeziumEncodeOptions& options);

// The key document of an event (key_columns taken from after, else before).
std::string EncodeDebeziumKey(const ChangeEvent& event, const DebeziumEncodeOptions& options);

// One-line normalized JSON of a record, for `handoff inspect debezium`.
std::string DecodedRecordToJson(const DecodedRecord& record);

}  // namespace handoff
