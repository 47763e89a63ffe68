#include "pg_connection.h"

#include "sqlstate.h"

namespace handoff::apply {
namespace {

struct ResultDeleter {
  void operator()(PGresult* r) const { PQclear(r); }
};
using ResultPtr = std::unique_ptr<PGresult, ResultDeleter>;

std::string Trim(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
  return s;
}

constexpr size_t kCopySlice = 1 << 20;

}  // namespace

std::string QuoteIdent(std::string_view ident) {
  std::string out = "\"";
  for (char c : ident) {
    if (c == '"') out += '"';
    out += c;
  }
  out += '"';
  return out;
}

std::string QuoteQualified(std::string_view schema, std::string_view table) {
  return QuoteIdent(schema) + "." + QuoteIdent(table);
}

Result<std::unique_ptr<PgConnection>> PgConnection::Connect(const ConnParams& dsn,
                                                             const std::string& application_name) {
  // Later keywords override earlier ones, so settings in `dsn` win; with
  // expand_dbname off a dbname value is only a name.
  const std::vector<ConninfoPair> defaults = {{"connect_timeout", "10"}, {"application_name", application_name}};
  const std::vector<ConninfoPair> none;
  const auto arrays = dsn.ForLibpq(defaults, none);  // points into `defaults`
  PGconn* raw = PQconnectdbParams(arrays.keys.data(), arrays.values.data(), /*expand_dbname=*/0);
  std::unique_ptr<PgConnection> conn(new PgConnection(raw));
  if (raw == nullptr) return Status::Unavailable("out of memory allocating a libpq connection");
  // libpq may echo parts of the settings; the password never leaves this function.
  if (PQstatus(raw) != CONNECTION_OK) return Status::Unavailable(dsn.Redact(Trim(PQerrorMessage(raw))));
  PQsetNoticeProcessor(raw, [](void*, const char*) {}, nullptr);
  return conn;
}

bool PgConnection::alive() const { return conn_ && PQstatus(conn_.get()) == CONNECTION_OK; }

int PgConnection::backend_pid() const { return conn_ ? PQbackendPID(conn_.get()) : 0; }

std::string PgConnection::client_encoding() const {
  const char* enc = conn_ ? PQparameterStatus(conn_.get(), "client_encoding") : nullptr;
  return enc ? enc : "";
}

Status PgConnection::Fail(const PGresult* res) {
  const char* state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : nullptr;
  const char* primary = res ? PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY) : nullptr;
  const char* detail = res ? PQresultErrorField(res, PG_DIAG_MESSAGE_DETAIL) : nullptr;
  last_sqlstate_ = state ? state : "";
  last_message_ = primary ? primary : Trim(PQerrorMessage(conn_.get()));
  if (last_message_.empty()) last_message_ = "unknown libpq error";
  if (detail) last_message_ += std::string(" (") + detail + ")";
  std::string text = last_sqlstate_.empty() ? last_message_ : last_sqlstate_ + ": " + last_message_;
  if (ClassifySqlState(last_sqlstate_, alive()) == ErrorKind::kTransient) return Status::Unavailable(text);
  return Status::Permanent(text);
}

Status PgConnection::Drain(PGresult* first, PgRows* rows) {
  Status status;
  bool failed = false;
  for (ResultPtr res(first); res; res.reset(PQgetResult(conn_.get()))) {
    ExecStatusType st = PQresultStatus(res.get());
    if (st == PGRES_COPY_IN) {  // not expected here: abort the copy
      PQputCopyEnd(conn_.get(), "unexpected COPY");
      continue;
    }
    if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK && st != PGRES_EMPTY_QUERY) {
      if (!failed) status = Fail(res.get());
      failed = true;
      continue;
    }
    if (rows != nullptr && st == PGRES_TUPLES_OK && !failed) {
      const int nrows = PQntuples(res.get()), ncols = PQnfields(res.get());
      for (int r = 0; r < nrows; ++r) {
        auto& row = rows->emplace_back();
        for (int c = 0; c < ncols; ++c) {
          if (PQgetisnull(res.get(), r, c)) row.emplace_back(std::nullopt);
          else row.emplace_back(std::string(PQgetvalue(res.get(), r, c), PQgetlength(res.get(), r, c)));
        }
      }
    }
  }
  if (!failed && !alive()) status = Fail(nullptr);
  return status;
}

Status PgConnection::Exec(const std::string& sql) {
  if (!PQsendQuery(conn_.get(), sql.c_str())) return Fail(nullptr);
  return Drain(PQgetResult(conn_.get()), nullptr);
}

Status PgConnection::Query(const std::string& sql, const PgParams& params, PgRows* rows) {
  std::vector<const char*> values;
  values.reserve(params.size());
  for (size_t i = 0; i < params.size(); ++i) {
    const auto& p = params[i];
    if (p && p->find('\0') != std::string::npos) {
      last_sqlstate_ = "invalid_bytes";
      last_message_ = "parameter $" + std::to_string(i + 1) + " holds a NUL byte (offset " +
                      std::to_string(p->find('\0')) + "), which PostgreSQL text cannot store; nothing was sent";
      return Status::Permanent(last_sqlstate_ + ": " + last_message_);
    }
    values.push_back(p ? p->c_str() : nullptr);  // no NUL inside: the C string is the whole value
  }
  if (!PQsendQueryParams(conn_.get(), sql.c_str(), static_cast<int>(values.size()), nullptr, values.data(), nullptr,
                         nullptr, 0))
    return Fail(nullptr);
  return Drain(PQgetResult(conn_.get()), rows);
}

Status PgConnection::CopyIn(const std::string& copy_sql, std::string_view data) {
  if (!PQsendQuery(conn_.get(), copy_sql.c_str())) return Fail(nullptr);
  ResultPtr res(PQgetResult(conn_.get()));
  if (!res || PQresultStatus(res.get()) != PGRES_COPY_IN) return Drain(res.release(), nullptr);
  res.reset();
  for (size_t off = 0; off < data.size(); off += kCopySlice) {
    const size_t n = std::min(kCopySlice, data.size() - off);
    if (PQputCopyData(conn_.get(), data.data() + off, static_cast<int>(n)) != 1) break;
  }
  PQputCopyEnd(conn_.get(), nullptr);
  return Drain(PQgetResult(conn_.get()), nullptr);
}

}  // namespace handoff::apply
