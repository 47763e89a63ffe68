#include "handoff/pg/pg_connection.h"

#include <libpq-fe.h>

#include <algorithm>

namespace handoff {
namespace {

using ResultPtr = std::unique_ptr<PGresult, decltype(&PQclear)>;

ResultPtr Owned(PGresult* r) { return ResultPtr(r, &PQclear); }

std::string Trim(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
  return s;
}

constexpr size_t kCopySlice = 1 << 20;  // COPY FROM data is sent in pieces of this size

}  // namespace

Status DefaultPgError(std::string_view, const PgError& error) {
  std::string text = error.sqlstate.empty() ? error.message : error.sqlstate + ": " + error.message;
  // No SQLSTATE, a connection exception (08) or an operator intervention
  // (57: shutdown, a terminated backend): the server may be back.
  const std::string_view cls = std::string_view(error.sqlstate).substr(0, 2);
  if (!error.connection_ok || error.sqlstate.empty() || cls == "08" || cls == "57")
    return Status::Unavailable(text);
  return Status::Permanent(text);
}

std::string QuoteIdent(std::string_view ident) {
  std::string out = "\"";
  for (char c : ident) {
    if (c == '"') out += '"';
    out += c;
  }
  return out + "\"";
}

std::string QuoteQualified(std::string_view schema, std::string_view table) {
  return QuoteIdent(schema) + "." + QuoteIdent(table);
}

std::string QuoteLiteral(std::string_view value) {
  std::string out = "'";
  for (char c : value) {
    if (c == '\'') out += '\'';
    out += c;
  }
  return out + "'";
}

void PgResult::Deleter::operator()(PGresult* r) const { PQclear(r); }

int PgResult::rows() const { return res_ ? PQntuples(res_.get()) : 0; }
int PgResult::columns() const { return res_ ? PQnfields(res_.get()) : 0; }
bool PgResult::is_null(int row, int column) const { return PQgetisnull(res_.get(), row, column) != 0; }
const char* PgResult::value(int row, int column) const { return PQgetvalue(res_.get(), row, column); }
size_t PgResult::length(int row, int column) const { return static_cast<size_t>(PQgetlength(res_.get(), row, column)); }
const char* PgResult::column_name(int column) const { return PQfname(res_.get(), column); }
uint32_t PgResult::column_type(int column) const { return PQftype(res_.get(), column); }

void PgConnection::ConnDeleter::operator()(PGconn* c) const { PQfinish(c); }

Result<PgConnection> PgConnection::Open(const ConnParams& dsn, const PgConnectOptions& options) {
  // Later keywords override earlier ones, so settings in `dsn` win over the
  // defaults and `forced` over both. A connect timeout always applies:
  // without one an unreachable host would block a worker's Stop().
  std::vector<ConninfoPair> defaults = {{"connect_timeout", std::to_string(options.connect_timeout_s)}};
  if (!options.application_name.empty()) defaults.push_back({"application_name", options.application_name});
  std::vector<ConninfoPair> forced;
  if (options.replication) forced.push_back({"replication", "database"});
  const auto arrays = dsn.ForLibpq(defaults, forced);  // points into `defaults` and `forced`
  PgConnection conn(PQconnectdbParams(arrays.keys.data(), arrays.values.data(), /*expand_dbname=*/0),
                    options.map_error ? options.map_error : &DefaultPgError);
  if (!conn.conn_) return Status::Unavailable("out of memory allocating a libpq connection");
  // libpq may echo parts of the settings; the password never leaves this function.
  if (PQstatus(conn.get()) != CONNECTION_OK) return Status::Unavailable(dsn.Redact(Trim(PQerrorMessage(conn.get()))));
  PQsetNoticeProcessor(
      conn.get(), [](void*, const char*) {}, nullptr);
  return conn;
}

bool PgConnection::alive() const { return conn_ && PQstatus(conn_.get()) == CONNECTION_OK; }

int PgConnection::backend_pid() const { return conn_ ? PQbackendPID(conn_.get()) : 0; }

std::string PgConnection::client_encoding() const {
  const char* enc = conn_ ? PQparameterStatus(conn_.get(), "client_encoding") : nullptr;
  return enc ? enc : "";
}

Status PgConnection::Error(std::string_view what, const PGresult* result) {
  const char* state = result ? PQresultErrorField(result, PG_DIAG_SQLSTATE) : nullptr;
  const char* primary = result ? PQresultErrorField(result, PG_DIAG_MESSAGE_PRIMARY) : nullptr;
  const char* detail = result ? PQresultErrorField(result, PG_DIAG_MESSAGE_DETAIL) : nullptr;
  const std::string connection_message = conn_ ? PQerrorMessage(conn_.get()) : "";
  PgError& e = last_error_;
  e.sqlstate = state ? state : "";
  e.message = primary ? primary : Trim(connection_message);
  if (e.message.empty()) e.message = "unknown libpq error";
  if (detail) e.message += std::string(" (") + detail + ")";
  e.report = result ? PQresultErrorMessage(result) : "";
  if (e.report.empty()) e.report = connection_message;
  e.report = Trim(e.report);
  e.connection_ok = alive();
  return map_error_(what, e);
}

Status PgConnection::Drain(PGresult* first, PgRows* rows, std::string_view what) {
  Status status;
  bool failed = false;
  for (ResultPtr res = Owned(first); res; res = Owned(PQgetResult(conn_.get()))) {
    ExecStatusType st = PQresultStatus(res.get());
    if (st == PGRES_COPY_IN) {  // not expected here: abort the copy
      PQputCopyEnd(conn_.get(), "unexpected COPY");
      continue;
    }
    if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK && st != PGRES_EMPTY_QUERY) {
      if (!failed) status = Error(what, res.get());
      failed = true;
      continue;
    }
    if (rows != nullptr && st == PGRES_TUPLES_OK && !failed) {
      const int nrows = PQntuples(res.get()), ncols = PQnfields(res.get());
      for (int r = 0; r < nrows; ++r) {
        auto& row = rows->emplace_back();
        for (int c = 0; c < ncols; ++c) {
          if (PQgetisnull(res.get(), r, c))
            row.emplace_back(std::nullopt);
          else
            row.emplace_back(std::string(PQgetvalue(res.get(), r, c), PQgetlength(res.get(), r, c)));
        }
      }
    }
  }
  if (!failed && !alive()) status = Error(what);
  return status;
}

Status PgConnection::Exec(const std::string& sql) {
  const std::string what = sql.substr(0, 80);
  if (!PQsendQuery(conn_.get(), sql.c_str())) return Error(what);
  return Drain(PQgetResult(conn_.get()), nullptr, what);
}

Status PgConnection::Query(const std::string& sql, const PgParams& params, PgRows* rows) {
  const std::string what = sql.substr(0, 80);
  std::vector<const char*> values;
  values.reserve(params.size());
  for (size_t i = 0; i < params.size(); ++i) {
    const auto& p = params[i];
    if (p && p->find('\0') != std::string::npos) {
      last_error_ = PgError{};
      last_error_.sqlstate = "invalid_bytes";
      last_error_.message = "parameter $" + std::to_string(i + 1) + " holds a NUL byte (offset " +
                            std::to_string(p->find('\0')) + "), which PostgreSQL text cannot store; nothing was sent";
      last_error_.report = last_error_.message;
      last_error_.connection_ok = alive();
      return Status::Permanent(last_error_.sqlstate + ": " + last_error_.message);
    }
    values.push_back(p ? p->c_str() : nullptr);  // no NUL inside: the C string is the whole value
  }
  if (!PQsendQueryParams(conn_.get(), sql.c_str(), static_cast<int>(values.size()), nullptr, values.data(), nullptr,
                         nullptr, 0))
    return Error(what);
  return Drain(PQgetResult(conn_.get()), rows, what);
}

Status PgConnection::CopyIn(const std::string& copy_sql, std::string_view data) {
  const std::string what = copy_sql.substr(0, 80);
  if (!PQsendQuery(conn_.get(), copy_sql.c_str())) return Error(what);
  ResultPtr res = Owned(PQgetResult(conn_.get()));
  if (!res || PQresultStatus(res.get()) != PGRES_COPY_IN) return Drain(res.release(), nullptr, what);
  res.reset();
  for (size_t off = 0; off < data.size(); off += kCopySlice) {
    const size_t n = std::min(kCopySlice, data.size() - off);
    if (PQputCopyData(conn_.get(), data.data() + off, static_cast<int>(n)) != 1) break;
  }
  PQputCopyEnd(conn_.get(), nullptr);
  return Drain(PQgetResult(conn_.get()), nullptr, what);
}

Result<PgResult> PgConnection::Fetch(const std::string& sql, const std::vector<std::string>& params) {
  std::vector<const char*> values;
  values.reserve(params.size());
  for (const auto& p : params) values.push_back(p.c_str());
  PgResult res(params.empty() ? PQexec(get(), sql.c_str())
                              : PQexecParams(get(), sql.c_str(), static_cast<int>(values.size()), nullptr,
                                             values.data(), nullptr, nullptr, 0));
  ExecStatusType st = res ? PQresultStatus(res.get()) : PGRES_FATAL_ERROR;
  if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) return Error(sql.substr(0, 80), res.get());
  return res;
}

Status PgConnection::StartCopy(const std::string& sql, CopyMode mode) {
  const ExecStatusType expected = mode == CopyMode::kOut ? PGRES_COPY_OUT : PGRES_COPY_BOTH;
  ResultPtr res = Owned(PQexec(get(), sql.c_str()));
  if (!res || PQresultStatus(res.get()) != expected) return Error(sql.substr(0, 120), res.get());
  return Status::OK();
}

Status PgConnection::CopyOut(const std::string& sql, const std::string& what,
                             const std::function<Status(std::string_view)>& on_row) {
  HANDOFF_RETURN_IF_ERROR(StartCopy(sql, CopyMode::kOut));
  while (true) {
    char* raw = nullptr;
    int len = PQgetCopyData(get(), &raw, /*async=*/0);
    if (len == -1) break;
    if (len < 0) return Error(what);
    std::unique_ptr<char, decltype(&PQfreemem)> buffer(raw, &PQfreemem);
    HANDOFF_RETURN_IF_ERROR(on_row(std::string_view(raw, static_cast<size_t>(len))));
  }
  ResultPtr res = Owned(PQgetResult(get()));
  if (!res || PQresultStatus(res.get()) != PGRES_COMMAND_OK) return Error(what, res.get());
  while (Owned(PQgetResult(get()))) {
  }
  return Status::OK();
}

}  // namespace handoff
