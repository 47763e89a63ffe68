// A throwaway PostgreSQL 15 server for tests: initdb in a temp directory,
// wal_level=logical, a free port, run as the postgres user when tests run as
// root. Stopped and removed by the destructor.
//
// Thread-safety: not thread-safe; one owner.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "handoff/engine/status.h"

namespace handoff::testing {

class PgServer {
 public:
  // Starts a server; aborts the test binary with a clear message on failure.
  static std::unique_ptr<PgServer> Start();
  ~PgServer();

  int port() const { return port_; }
  const std::string& dir() const { return dir_; }
  // "host=127.0.0.1 port=N dbname=DB user=postgres".
  std::string Dsn(const std::string& db) const;
  // Runs SQL (several statements allowed) in `db`; returns the error text.
  Status Exec(const std::string& db, const std::string& sql) const;
  // Runs a query and returns rows, each column as text ("\\N" for NULL).
  Result<std::vector<std::vector<std::string>>> Query(const std::string& db, const std::string& sql) const;
  // Rows of the query joined as "c1|c2|...\n" lines: a compact table dump.
  std::string Dump(const std::string& db, const std::string& sql) const;
  Status CreateDatabase(const std::string& db) const;

  void Stop();     // fast shutdown (open sessions are disconnected)
  void Resume();   // starts a stopped server again on the same port and data directory
  void Restart();  // Stop() then Resume()
  bool running() const { return running_; }

 private:
  PgServer() = default;
  // Starts postgres; `keep_port` retries on the same port (clients hold it).
  void StartServer(bool keep_port = false);
  std::string dir_;
  int port_ = 0;
  bool running_ = false;
  bool as_postgres_ = false;
};

// One connection kept open, for a transaction that spans other work (an
// engine killed while it runs, say).
class PgSession {
 public:
  PgSession(const PgServer& server, const std::string& db);
  ~PgSession();
  PgSession(const PgSession&) = delete;
  PgSession& operator=(const PgSession&) = delete;
  Status Exec(const std::string& sql);

 private:
  struct Conn;
  std::unique_ptr<Conn> conn_;
};

}  // namespace handoff::testing
