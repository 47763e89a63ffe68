#include "pg_connection.h"

#include <string_view>


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

std::string Trim(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
  return s;
}

}  // namespace

std::string QuoteIdent(const std::string& name) {
  std::string out = "\"";
  for (char c : name) {
    if (c == '"') out += '"';
    out += c;
  }
  return out + "\"";
}

std::string QuoteLiteral(const std::string& value) {
  std::string out = "'";
  for (char c : value) {
    if (c == '\'') out += '\'';
    out += c;
  }
  return out + "'";
}

Result<PgConnection> PgConnection::Open(const ConnParams& dsn, bool replication, int connect_timeout_s) {
  // connect_timeout first so that one in the DSN overrides it; without any,
  // an unreachable host would block Stop(). expand_dbname stays off: a
  // dbname value is a name, not more settings.
  std::vector<ConninfoPair> forced;
  if (replication) forced.push_back({"replication", "database"});
  const std::vector<ConninfoPair> defaults = {{"connect_timeout", std::to_string(connect_timeout_s)}};
  const auto arrays = dsn.ForLibpq(defaults, forced);  // points into `defaults` and `forced`
  PgConnection conn(PQconnectdbParams(arrays.keys.data(), arrays.values.data(), /*expand_dbname=*/0));
  if (!conn.conn_) return Status::Unavailable("libpq: out of memory");
  if (PQstatus(conn.get()) != CONNECTION_OK) {
    // libpq may echo parts of the settings; the password never leaves this function.
    return Status::Unavailable("cannot connect: " + dsn.Redact(Trim(PQerrorMessage(conn.get()))));
  }
  PQsetNoticeProcessor(conn.get(), [](void*, const char*) {}, nullptr);
  return conn;
}

Status PgConnection::Error(const std::string& what, const PGresult* result) const {
  const char* state = result ? PQresultErrorField(result, PG_DIAG_SQLSTATE) : nullptr;
  bool bad = PQstatus(get()) != CONNECTION_OK;
  std::string msg = result ? PQresultErrorMessage(result) : "";
  if (msg.empty()) msg = PQerrorMessage(get());
  return Status(CodeForSqlState(state ? state : "", bad),
                what + ": " + Trim(msg) + (state ? std::string(" (SQLSTATE ") + state + ")" : ""));
}

Result<PgResultPtr> PgConnection::Exec(const std::string& sql, const std::vector<std::string>& params) {
  std::vector<const char*> values;
  values.reserve(params.size());
  for (const auto& p : params) values.push_back(p.c_str());
  PgResultPtr res(params.empty() ? PQexec(get(), sql.c_str())
                                 : PQexecParams(get(), sql.c_str(), static_cast<int>(values.size()), nullptr,
                                                values.data(), nullptr, nullptr, 0));
  ExecStatusType st = res ? PQresultStatus(res.get()) : PGRES_FATAL_ERROR;
  if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) return Error(sql.substr(0, 80), res.get());
  return res;
}

Status PgConnection::StartCopy(const std::string& sql, ExecStatusType expected) {
  PgResultPtr res(PQexec(get(), sql.c_str()));
  if (!res || PQresultStatus(res.get()) != expected) return Error(sql.substr(0, 120), res.get());
  return Status::OK();
}

}  // namespace handoff
