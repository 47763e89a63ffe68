// TableSnapshotReader: reads the rows of one table, inside the transaction
// the caller opened on the slot's exported snapshot, with COPY ... TO STDOUT
// (text format), turning them into Columns typed with the OIDs of pg_attribute.
//
// Thread-safety: not thread-safe; owned by the agent thread.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "handoff/engine/change_event.h"
#include "handoff/engine/status.h"
#include "source_connection.h"

namespace handoff {

// A configured table, "schema.table" (schema defaults to "public").
struct TableName {
  std::string schema;
  std::string table;
  // The columns identifying a row when the catalog's replica identity does
  // not (REPLICA IDENTITY FULL with a configured key); empty otherwise.
  std::vector<std::string> key;
  std::string Quoted() const { return QuoteIdent(schema) + "." + QuoteIdent(table); }
  bool operator==(const TableName&) const = default;
};
Result<TableName> ParseTableName(const std::string& configured);

// The columns of a table as pgoutput would describe them (no dropped or
// generated columns), with the replica identity as key columns: the key
// columns of its index (not INCLUDE columns), or TableName::key when set.
struct TableShape {
  TableName name;
  std::vector<Column> columns;  // name and type_oid set
  std::vector<std::string> key_columns;
};

class TableSnapshotReader {
 public:
  // REQUIRES: `conn` outlives the reader and is in the snapshot transaction.
  explicit TableSnapshotReader(PgConnection* conn) : conn_(conn) {}

  // Reads the table's columns and replica identity. Fails with
  // kInvalidArgument when the table does not exist.
  Result<TableShape> Describe(const TableName& name);

  // Copies every row, calling `on_row` with the row's columns in order; an
  // error from `on_row` stops the copy (the connection is then unusable).
  Status Copy(const TableShape& shape, const std::function<Status(std::vector<Column>&&)>& on_row);

 private:
  PgConnection* conn_;
};

}  // namespace handoff
