// How apply connects to a PostgreSQL target: handoff/pg/pg_connection.h
// with apply's reading of SQLSTATE (sqlstate.h): transient failures are
// kUnavailable (retry the session), everything else kPermanent (the
// statement's data or the target is at fault; the caller looks at
// last_sqlstate() to tell which). The text is "SQLSTATE: message", as kept
// in exception records.
//
// Thread-safety: free functions; a PgConnection has one owner.
#pragma once

#include <memory>
#include <string>
#include <string_view>

#include "handoff/engine/conn_params.h"
#include "handoff/engine/status.h"
#include "handoff/pg/pg_connection.h"

namespace handoff::apply {

// Connects as `application_name`, unless `dsn` names another. Any failure
// is kUnavailable: the server may come back. The message never holds the
// password.
Result<std::unique_ptr<PgConnection>> ConnectTarget(const ConnParams& dsn, const std::string& application_name);

// A target's failure as a Status (see above); `what` is not part of it.
Status TargetPgError(std::string_view what, const PgError& error);

}  // namespace handoff::apply
