// How capture connects to a source database: handoff/pg/pg_connection.h
// with capture's reading of SQLSTATE (what a failure means to a source).
//
// Thread-safety: free functions; a PgConnection has one owner.
#pragma once

#include <string_view>

#include "handoff/engine/conn_params.h"
#include "handoff/engine/status.h"
#include "handoff/pg/pg_connection.h"

namespace handoff {

// Connects to the source (with `replication`, as a logical replication
// connection). Fails with kUnavailable when the server cannot be reached;
// the message never holds the password. A connect_timeout in `dsn` wins
// over `connect_timeout_s`.
Result<PgConnection> OpenSource(const ConnParams& dsn, bool replication, int connect_timeout_s = 10);

// A source's failure as a Status named with `what`: connection loss,
// resources, serialization and "object in use" (a slot still active) are
// kUnavailable; an undefined object kNotFound; data errors kPermanent; a
// syntax or privilege error kInvalidArgument (a configuration to fix).
Status SourcePgError(std::string_view what, const PgError& error);

}  // namespace handoff
