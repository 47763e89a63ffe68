// PgConnection: a move-only owner of one libpq connection (normal or
// replication), with the few query helpers capture needs. Private to capture:
// libpq types never leave capture/src.
//
// Thread-safety: not thread-safe; one owner.
#pragma once

#include <libpq-fe.h>

#include <memory>
#include <string>
#include <vector>

#include "handoff/engine/conn_params.h"
#include "handoff/engine/status.h"

namespace handoff {

struct PgResultDeleter {
  void operator()(PGresult* r) const { PQclear(r); }
};
struct PgConnDeleter {
  void operator()(PGconn* c) const { PQfinish(c); }
};
struct PgFreeDeleter {
  void operator()(void* p) const { PQfreemem(p); }
};
using PgResultPtr = std::unique_ptr<PGresult, PgResultDeleter>;
using PgBufferPtr = std::unique_ptr<char, PgFreeDeleter>;

// "my""table" style quoting of one identifier.
std::string QuoteIdent(const std::string& name);
// 'it''s' style quoting for the few places (replication commands, SET
// TRANSACTION SNAPSHOT) that take no parameters.
std::string QuoteLiteral(const std::string& value);

class PgConnection {
 public:
  // Connects with the pairs of `dsn` (handed to libpq as keyword/value
  // arrays, never as one string). With `replication`, opens a logical
  // replication connection (replication=database, which `dsn` cannot
  // override). Fails with kUnavailable when the server cannot be reached;
  // the message never holds the password. A connect_timeout in `dsn` wins
  // over `connect_timeout_s`.
  static Result<PgConnection> Open(const ConnParams& dsn, bool replication, int connect_timeout_s = 10);

  PgConnection() = default;
  PgConnection(PgConnection&&) noexcept = default;
  PgConnection& operator=(PgConnection&&) noexcept = default;

  PGconn* get() const { return conn_.get(); }
  bool valid() const { return conn_ != nullptr; }
  void Close() { conn_.reset(); }

  // Runs `sql` with text parameters; succeeds for COMMAND_OK and TUPLES_OK.
  // Errors are mapped from SQLSTATE: connection loss is kUnavailable.
  Result<PgResultPtr> Exec(const std::string& sql, const std::vector<std::string>& params = {});
  // Runs `sql` expecting COPY OUT or COPY BOTH; the stream is then read with
  // PQgetCopyData.
  Status StartCopy(const std::string& sql, ExecStatusType expected);

  // The status for the connection's current error, named with `what`.
  Status Error(const std::string& what, const PGresult* result = nullptr) const;

 private:
  explicit PgConnection(PGconn* c) : conn_(c) {}
  std::unique_ptr<PGconn, PgConnDeleter> conn_;
};

}  // namespace handoff
