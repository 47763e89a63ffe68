#include "target_connection.h"

#include "sqlstate.h"

namespace handoff::apply {

Status TargetPgError(std::string_view, const PgError& error) {
  std::string text = error.sqlstate.empty() ? error.message : error.sqlstate + ": " + error.message;
  if (ClassifySqlState(error.sqlstate, error.connection_ok) == ErrorKind::kTransient) return Status::Unavailable(text);
  return Status::Permanent(text);
}

Result<std::unique_ptr<PgConnection>> ConnectTarget(const ConnParams& dsn, const std::string& application_name) {
  PgConnectOptions options;
  options.application_name = application_name;
  options.map_error = &TargetPgError;
  auto conn = PgConnection::Open(dsn, options);
  if (!conn.ok()) return conn.status();
  return std::make_unique<PgConnection>(std::move(conn).value());
}

}  // namespace handoff::apply
