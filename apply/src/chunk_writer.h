// ChunkWriter: writes a chunk of routed changes to the target, set-based.
//
// Per table, the chunk's changes are collapsed by primary key (the last change
// per key wins; a partial update merges onto an earlier image of its key), the
// surviving rows are COPYed (text format) into a temp staging table made from
// the target (`CREATE TEMP TABLE ... AS SELECT ... WITH NO DATA`: same types, no
// constraints) with one extra column saying what each row is, and then one
// statement per kind runs: DELETE ... USING stage first, then INSERT ... SELECT
// ... ON CONFLICT (pk) DO UPDATE for each set of present columns of full
// images, then UPDATE ... FROM stage for each set of present columns of partial
// images. Because every key survives once per kind and deletes run first, the
// result equals applying the changes one by one in order.
//
// Direct path: a chunk of a table made only of inserts of distinct keys is
// COPYed straight into the target under a savepoint; if a key already exists
// (23505) it is rolled back and written the staged way, and the table skips the
// direct path for a while.
//
// WriteOne applies a single change with parameterised single-row statements;
// the applier uses it to isolate a failing change and for changes that must
// not be collapsed (truncate, key-moving partial updates).
//
// Savepoints and transactions belong to the caller.
// Thread-safety: not thread-safe; used by the apply thread only.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "handoff/engine/change_event.h"
#include "handoff/engine/status.h"
#include "handoff/pg/pg_connection.h"
#include "row_op.h"
#include "table_catalog.h"

namespace handoff::apply {

// A routed change waiting in the open chunk.
struct PendingChange {
  uint64_t seq = 0;
  std::shared_ptr<const TableMeta> meta;
  std::vector<RowOp> ops;
  ChangeEvent event;  // kept for exception records
  bool boundary = false;  // no source transaction was open before it (PgApplier pauses)
};

class ChunkWriter {
 public:
  explicit ChunkWriter(PgConnection* conn) : conn_(conn) {}

  // Writes `changes` (seq order) set-based. Errors are the connection's
  // classified Status; on error the caller rolls back to its savepoint.
  // REQUIRES: a transaction is open; no change has a Direct() op.
  Status WriteCollapsed(const std::vector<PendingChange>& changes);

  // Applies the ops of one change with single-row statements.
  // REQUIRES: a transaction is open.
  Status WriteOne(const PendingChange& change);

  // Truncates the tables of one TRUNCATE statement (one change each, all of
  // one group) with one statement and the options of the source's.
  // REQUIRES: a transaction is open; `group` is not empty.
  Status WriteTruncate(const std::vector<PendingChange>& group);

  // Drops the staging tables of `tables` (after a failure that may come from
  // a stale table definition). REQUIRES: not inside a failed transaction.
  Status DropStages(const std::vector<std::shared_ptr<const TableMeta>>& tables);

 private:
  PgConnection* conn_;  // not owned
  std::unordered_map<std::string, int> direct_cooldown_;  // per table: chunks left without the direct path
};

}  // namespace handoff::apply
