// PgConnection: the one libpq wrapper of the apply component. Owns a PGconn
// (PQfinish on destruction), turns every failure into a classified Status
// (kUnavailable = transient, kPermanent = the statement's data is at fault;
// see sqlstate.h) and keeps the SQLSTATE and server message of the last error
// for exception records. Values travel only as parameters or COPY data.
//
// Thread-safety: not thread-safe; one owner (the apply thread).
#pragma once

#include <libpq-fe.h>

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "handoff/engine/conn_params.h"
#include "handoff/engine/status.h"

namespace handoff::apply {

using PgParams = std::vector<std::optional<std::string>>;  // nullopt = SQL NULL
using PgRows = std::vector<std::vector<std::optional<std::string>>>;

class PgConnection {
 public:
  // Connects with the pairs of `dsn` (keyword/value arrays, never one
  // string) as `application_name`, unless `dsn` names another. Any failure is
  // kUnavailable: the server may come back. The message never holds the password.
  static Result<std::unique_ptr<PgConnection>> Connect(const ConnParams& dsn, const std::string& application_name);

  // Runs one or more parameterless statements (simple query protocol).
  Status Exec(const std::string& sql);
  // Runs one statement with text parameters; result rows go to *rows when not null.
  // libpq reads text parameters up to their first NUL byte, so a parameter
  // holding one is refused (kPermanent, last_sqlstate() "invalid_bytes")
  // before anything is sent: a value is never cut short.
  Status Query(const std::string& sql, const PgParams& params, PgRows* rows = nullptr);
  // Runs `copy_sql` (COPY ... FROM STDIN, text format) and sends `data`.
  Status CopyIn(const std::string& copy_sql, std::string_view data);

  // Whether the connection is still usable.
  bool alive() const;
  int backend_pid() const;
  // The client_encoding the server reported ("UTF8", "SQL_ASCII", ...).
  std::string client_encoding() const;
  // SQLSTATE ("" when none) and server message of the last failed call.
  const std::string& last_sqlstate() const { return last_sqlstate_; }
  const std::string& last_message() const { return last_message_; }

  PgConnection(const PgConnection&) = delete;
  PgConnection& operator=(const PgConnection&) = delete;

 private:
  struct ConnDeleter {
    void operator()(PGconn* c) const { PQfinish(c); }
  };
  explicit PgConnection(PGconn* conn) : conn_(conn) {}
  // Consumes every pending result; records and returns the first error.
  Status Drain(PGresult* first, PgRows* rows);
  Status Fail(const PGresult* res);

  std::unique_ptr<PGconn, ConnDeleter> conn_;
  std::string last_sqlstate_;
  std::string last_message_;
};

// "schema"."table" with embedded quotes doubled.
std::string QuoteIdent(std::string_view ident);
std::string QuoteQualified(std::string_view schema, std::string_view table);

}  // namespace handoff::apply
