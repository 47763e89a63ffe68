// ChunkedSnapshot: reads the existing rows of one table while the source
// streams, in chunks by key, reconciled with the stream after the watermark
// method of DBLog (Andreas & Goel, 2020), without a second slot, a lock or a
// pause of the source.
//
// One chunk, on the session's normal connection:
//   1. in a REPEATABLE READ transaction, note its snapshot (xmax and the
//      transactions it sees as running) and SELECT the next `chunk_rows`
//      rows after the last key, by key order;
//   2. write a high watermark: a transactional logical message naming this
//      session and chunk.
// From the moment the chunk begins, every change the stream carries for the
// table from a transaction the SELECT did not see (running for it, or begun
// after it) drops the chunk row of the keys it touched: the stream carries a
// value at least as new. When the high watermark's transaction commits, the
// remaining rows are emitted as read events at its position, {its commit
// LSN, 1..n}: after every change before it, before every change after it.
// (Deciding by the SELECT's snapshot rather than by a low watermark also
// covers a transaction whose commit record precedes the chunk but which the
// snapshot still saw running; before the snapshot is taken, capture waits
// until the server lists no transaction as running that has already ended.)
// Nothing of a chunk is durable until its high watermark's transaction is,
// and the source state (source_state.h) that moves the task past the chunk
// travels in the same batch, so a crash re-reads at most the chunk it
// interrupted.
//
// Thread-safety: not thread-safe; owned by the capture session.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "handoff/engine/change_event.h"
#include "handoff/engine/status.h"
#include "source_connection.h"
#include "source_state.h"
#include "table_snapshot_reader.h"

namespace handoff {

class ChunkedSnapshot {
 public:
  ChunkedSnapshot(std::string source, size_t chunk_rows);

  bool open() const { return open_; }
  // Starts the next chunk of `task` on `conn` (not in a transaction):
  // writes both watermarks around the SELECT. `table` carries the key.
  Status Start(PgConnection* conn, const BackfillTask& task, const TableName& table);
  // True when `content` is the open chunk's high watermark (then noted).
  bool OnWatermark(const std::string& content);
  // A change of `table` in the stream by top-level transaction `xid`, with
  // the values of its key columns.
  void OnChange(const TableName& table, const std::vector<std::string>& key, uint32_t xid);
  void OnTruncate(const TableName& table, uint32_t xid);
  // Whether the open transaction carried this chunk's high watermark.
  bool high_seen() const { return high_seen_; }
  // The transaction that began a watermark ended without one of ours.
  void EndTransaction() { high_seen_ = false; }

  struct Done {
    std::vector<std::vector<Column>> rows;  // to emit, in key order
    std::vector<std::string> key_columns;
    std::vector<std::string> last_key;      // the chunk's highest key read (empty: none)
    bool last = false;                      // the table (or range) has no rows past it
    uint64_t dropped = 0;                   // rows the stream superseded
  };
  // After high_seen(): the chunk's outcome; closes it.
  Done Finish();
  // Abandons the open chunk (its task was cancelled or its table removed).
  void Abandon() { open_ = false; high_seen_ = false; }
  const std::string& table() const { return table_; }
  // The rows the open chunk's SELECT read.
  size_t rows_read() const { return rows_.size(); }
  std::chrono::steady_clock::duration age() const { return std::chrono::steady_clock::now() - started_; }

 private:
  std::string Watermark(char which) const;
  static std::string KeyString(const std::vector<std::string>& key);
  // Whether the chunk's SELECT saw the effects of transaction `xid`.
  bool SeenBySelect(uint32_t xid) const;

  const std::string source_;
  const size_t chunk_rows_;
  const uint64_t nonce_;
  uint64_t number_ = 0;
  bool open_ = false;
  uint32_t xmax_ = 0;                      // the SELECT's snapshot
  std::unordered_set<uint32_t> running_;   // transactions it saw as running
  bool high_seen_ = false;
  std::string table_;  // "schema.table" of the open chunk
  std::chrono::steady_clock::time_point started_;
  std::vector<std::string> key_columns_;
  std::vector<std::vector<Column>> rows_;
  std::vector<bool> dropped_;
  std::unordered_map<std::string, size_t> by_key_;
  std::vector<std::string> last_key_;
  bool last_ = false;
};

// The estimated rows of a table (pg_class.reltuples, summed over a
// partitioned table's partitions); 0 when unknown.
uint64_t EstimateRows(PgConnection* conn, const TableName& table);

}  // namespace handoff
