// Source table checks: before handoff touches a publication, every table a
// PostgreSQL source names must exist and identify its rows, or the first
// UPDATE the application runs after the table joins the publication fails
// ("cannot update table ... because it does not have a replica identity").
//
// A table identifies its rows with its primary key (REPLICA IDENTITY
// DEFAULT), the index of REPLICA IDENTITY USING INDEX, or REPLICA IDENTITY
// FULL together with a configured `key:`. Only an index's key columns count
// (not its INCLUDE columns). A partitioned table is checked with each of its
// leaf partitions, since PostgreSQL checks the partition a row is written to.
//
// The checks read pg_class, pg_index, pg_attribute and pg_partition_tree(),
// which any role may read: they need no privilege beyond connecting.
//
// Thread-safety: stateless functions.
#pragma once

#include <chrono>
#include <string>
#include <vector>

#include "handoff/engine/config.h"
#include "handoff/engine/status.h"

namespace handoff {

// What capture reads from one relation: a configured table, or in
// `partitions: each` mode one leaf partition of a configured partitioned table.
struct CapturedRelation {
  std::string schema, table;
  std::string configured;        // the configured "schema.table" it is (or is a partition of)
  std::vector<std::string> key;  // the columns that identify a row, in key order
};

struct SourceTableReport {
  // One sentence per problem, each naming the table and what to do; empty
  // when every table passed.
  std::vector<std::string> problems;
  // The relations capture routes, when there are no problems: the configured
  // tables, then the leaf partitions of partitioned ones (with the root's key
  // in `root` mode, their own in `each` mode), in configuration order.
  std::vector<CapturedRelation> relations;
  // Configured tables that are partitioned ("schema.table").
  std::vector<std::string> partitioned;

  bool ok() const { return problems.empty(); }
  // The problems joined by "; ".
  std::string Summary() const;
};

// Connects to `source` (a postgres source) with `connect_timeout` and checks
// its tables. kUnavailable when the server cannot be reached or the catalog
// not read; otherwise the report (problems are not an error Status).
Result<SourceTableReport> CheckSourceTables(const PostgresSourceConfig& source, std::chrono::seconds connect_timeout);

}  // namespace handoff
