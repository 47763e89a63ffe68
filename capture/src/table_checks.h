// The connection-level entry point of the source table checks, for the
// capture session (which already holds a connection). See
// handoff/capture/table_checks.h.
//
// Thread-safety: stateless functions.
#pragma once

#include "handoff/capture/table_checks.h"
#include "source_connection.h"

namespace handoff {

// Checks the tables of `source` over `conn` (a normal, not a replication,
// connection). kUnavailable when the catalog cannot be read.
Result<SourceTableReport> CheckSourceTables(PgConnection* conn, const PostgresSourceConfig& source);

}  // namespace handoff
