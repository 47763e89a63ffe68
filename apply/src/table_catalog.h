// TableCatalog: what the apply worker knows about target tables (insertable
// columns, primary key, staging table name), read from the target's catalog on
// first use and cached for the life of the connection.
//
// Thread-safety: not thread-safe; owned by the apply thread.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "handoff/engine/status.h"
#include "handoff/pg/pg_connection.h"

namespace handoff::apply {

struct TableMeta {
  std::string schema, table;
  std::string quoted;                // "schema"."table"
  std::string stage;                 // quoted name of the temp staging table
  std::vector<std::string> columns;  // insertable columns in attnum order (no generated ones)
  std::vector<std::string> types;    // their types, as format_type() gives them
  std::vector<size_t> pk;            // indexes into `columns`, in primary-key order
  std::unordered_map<std::string, size_t> index;  // column name -> index into `columns`
  bool utf8 = true;  // the connection's client encoding is UTF8: text must be valid UTF-8

  // Column index by name, or -1.
  int Find(const std::string& name) const {
    auto it = index.find(name);
    return it == index.end() ? -1 : static_cast<int>(it->second);
  }
  bool IsKey(size_t column) const;
  std::string Name() const { return schema + "." + table; }
};

class TableCatalog {
 public:
  // Metadata of schema.table. kNotFound when the table does not exist,
  // kPermanent when it has no primary key (both cached until ForgetMissing());
  // kUnavailable when the catalog could not be read.
  Result<std::shared_ptr<const TableMeta>> Get(PgConnection& conn, const std::string& schema,
                                               const std::string& table);
  // Forgets negative answers so a table created meanwhile is found.
  void ForgetMissing();
  // Forgets everything (new connection, schema change).
  void Clear() { tables_.clear(); }
  // Forgets one table (its definition changed).
  void Forget(const std::string& schema, const std::string& table) { tables_.erase({schema, table}); }

 private:
  struct Entry {
    std::shared_ptr<const TableMeta> meta;
    Status error;
  };
  std::map<std::pair<std::string, std::string>, Entry> tables_;
};

}  // namespace handoff::apply
