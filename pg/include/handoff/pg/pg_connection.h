// PgConnection: handoff's one wrapper of libpq, for plain SQL against
// PostgreSQL. capture (sources) and apply (targets) both build on it.
//
// It owns a PGconn (PQfinish on destruction) and turns every failure into a
// Status through the PgErrorMapper it was opened with: the wrapper reads what
// libpq reports (PgError), the component that acts on the failure decides
// what an SQLSTATE means to it (retry, park, a configuration error). Values
// travel only as parameters or COPY data; the few identifier and literal
// quotes are below.
//
// libpq's header stays out of this one: PGconn and PGresult are declared the
// way libpq-fe.h declares them, so a private file that streams (capture's
// COPY BOTH replication protocol) can use get() with libpq directly.
//
// Thread-safety: not thread-safe; one owner at a time (move-only).
#pragma once

#include <cstddef>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "handoff/engine/conn_params.h"
#include "handoff/engine/status.h"

typedef struct pg_conn PGconn;
typedef struct pg_result PGresult;

namespace handoff {

using PgParams = std::vector<std::optional<std::string>>;  // nullopt = SQL NULL
using PgRows = std::vector<std::vector<std::optional<std::string>>>;

// What libpq reported about one failed call, read once at the failure.
struct PgError {
  std::string sqlstate;  // "" when there is none (connection loss, a client-side refusal)
  // The server's primary message, its detail in parentheses; libpq's
  // connection message when the server sent none.
  std::string message;
  // libpq's whole report: the failed result's error message, else the
  // connection's; trailing newlines cut.
  std::string report;
  bool connection_ok = true;  // whether the connection was still usable
};

// The Status a failure becomes. `what` names the call (the start of its
// statement, or what the caller passed to Error()).
using PgErrorMapper = Status (*)(std::string_view what, const PgError& error);

// kUnavailable when the connection is lost (or the server says it is going:
// SQLSTATE classes 08 and 57, or no SQLSTATE), else kPermanent; the text is
// "SQLSTATE: message". For callers without a policy of their own.
Status DefaultPgError(std::string_view what, const PgError& error);

struct PgConnectOptions {
  std::string application_name;  // "" leaves it to the DSN (or libpq)
  bool replication = false;      // a logical replication connection; the DSN cannot override it
  int connect_timeout_s = 10;    // a connect_timeout in the DSN wins
  PgErrorMapper map_error = &DefaultPgError;
};

// One result; owns its PGresult (PQclear on destruction).
class PgResult {
 public:
  PgResult() = default;
  explicit PgResult(PGresult* result) : res_(result) {}

  int rows() const;
  int columns() const;
  bool is_null(int row, int column) const;
  // The field's text ("" for NULL), valid while the result lives.
  const char* value(int row, int column) const;
  size_t length(int row, int column) const;
  // The column's name and its type OID.
  const char* column_name(int column) const;
  uint32_t column_type(int column) const;

  PGresult* get() const { return res_.get(); }
  explicit operator bool() const { return res_ != nullptr; }

 private:
  struct Deleter {
    void operator()(PGresult* r) const;
  };
  std::unique_ptr<PGresult, Deleter> res_;
};

class PgConnection {
 public:
  // Connects with the pairs of `dsn`, handed to libpq as keyword/value
  // arrays (never one string, expand_dbname off). Any failure is
  // kUnavailable: the server may come back. The message never holds the
  // password.
  static Result<PgConnection> Open(const ConnParams& dsn, const PgConnectOptions& options = {});

  PgConnection() = default;
  PgConnection(PgConnection&&) noexcept = default;
  PgConnection& operator=(PgConnection&&) noexcept = default;

  // Runs one or more parameterless statements (simple query protocol); the
  // first failure is the result.
  Status Exec(const std::string& sql);
  // Runs one statement with text parameters; result rows go to *rows when
  // not null. libpq reads text parameters up to their first NUL byte, so a
  // parameter holding one is refused (kPermanent, last_error().sqlstate
  // "invalid_bytes") before anything is sent: a value is never cut short.
  Status Query(const std::string& sql, const PgParams& params, PgRows* rows = nullptr);
  // Runs `copy_sql` (COPY ... FROM STDIN, text format) and sends `data`.
  Status CopyIn(const std::string& copy_sql, std::string_view data);

  // Runs `sql` and returns its result; COMMAND_OK and TUPLES_OK succeed.
  // With `params`, one statement with text parameters; without, the simple
  // protocol (several statements return the last one's result).
  Result<PgResult> Fetch(const std::string& sql, const std::vector<std::string>& params = {});

  enum class CopyMode { kOut, kBoth };
  // Runs `sql`, expecting it to start COPY OUT or COPY BOTH; the stream is
  // then read with CopyOutRows or, for COPY BOTH, libpq on get().
  Status StartCopy(const std::string& sql, CopyMode mode);
  // Runs `sql` (COPY ... TO STDOUT) and calls `on_row` with each row's data,
  // valid during the call; stops at on_row's first error. `what` names the
  // copy in errors.
  Status CopyOut(const std::string& sql, const std::string& what,
                 const std::function<Status(std::string_view)>& on_row);

  // The Status for the connection's current failure (with `result`, that
  // result's), named with `what`; also recorded as last_error().
  Status Error(std::string_view what, const PGresult* result = nullptr);

  PGconn* get() const { return conn_.get(); }
  bool valid() const { return conn_ != nullptr; }
  void Close() { conn_.reset(); }
  // Whether the connection is still usable.
  bool alive() const;
  int backend_pid() const;
  // The client_encoding the server reported ("UTF8", "SQL_ASCII", ...).
  std::string client_encoding() const;

  // The last failure: SQLSTATE ("" when none) and message.
  const PgError& last_error() const { return last_error_; }
  const std::string& last_sqlstate() const { return last_error_.sqlstate; }
  const std::string& last_message() const { return last_error_.message; }

 private:
  struct ConnDeleter {
    void operator()(PGconn* c) const;
  };
  PgConnection(PGconn* conn, PgErrorMapper map_error) : conn_(conn), map_error_(map_error) {}
  // Consumes every pending result; records and returns the first error.
  Status Drain(PGresult* first, PgRows* rows, std::string_view what);

  std::unique_ptr<PGconn, ConnDeleter> conn_;
  PgErrorMapper map_error_ = &DefaultPgError;
  PgError last_error_;
};

// "my""table" style quoting of one identifier.
std::string QuoteIdent(std::string_view ident);
// "schema"."table".
std::string QuoteQualified(std::string_view schema, std::string_view table);
// 'it''s' style quoting, for the few commands (replication commands, SET
// TRANSACTION SNAPSHOT) that take no parameters.
std::string QuoteLiteral(std::string_view value);

}  // namespace handoff
