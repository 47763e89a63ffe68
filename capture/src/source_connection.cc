#include "source_connection.h"

#include <string>

namespace handoff {
namespace {

// Maps an SQLSTATE class to a Status code, once.
StatusCode CodeForSqlState(std::string_view state, bool connection_bad) {
  if (connection_bad || state.empty()) return StatusCode::kUnavailable;
  std::string_view cls = state.substr(0, 2);
  if (cls == "08" || cls == "57" || cls == "53" || state == "40001" || state == "40P01" || state == "55006") {
    return StatusCode::kUnavailable;  // includes "object in use" (slot still active)
  }
  if (state == "42704") return StatusCode::kNotFound;
  if (cls == "22" || cls == "23") return StatusCode::kPermanent;
  if (cls == "42" || cls == "28") return StatusCode::kInvalidArgument;
  return StatusCode::kUnavailable;
}

}  // namespace

Status SourcePgError(std::string_view what, const PgError& error) {
  std::string text = std::string(what) + ": " + error.report;
  if (!error.sqlstate.empty()) text += " (SQLSTATE " + error.sqlstate + ")";
  return Status(CodeForSqlState(error.sqlstate, !error.connection_ok), text);
}

Result<PgConnection> OpenSource(const ConnParams& dsn, bool replication, int connect_timeout_s) {
  PgConnectOptions options;
  options.replication = replication;
  options.connect_timeout_s = connect_timeout_s;
  options.map_error = &SourcePgError;
  auto conn = PgConnection::Open(dsn, options);
  if (!conn.ok()) return Status::Unavailable("cannot connect: " + conn.status().message());
  return conn;
}

}  // namespace handoff
