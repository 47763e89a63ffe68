#include "pg_server.h"

#include <libpq-fe.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <stdexcept>

namespace handoff::testing {
namespace {

constexpr const char* kBin = "/usr/lib/postgresql/15/bin";

[[noreturn]] void Die(const std::string& what) {
  std::fprintf(stderr, "PgServer: %s\n", what.c_str());
  std::abort();
}

int FreePort() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) Die("cannot bind a probe socket");
  socklen_t len = sizeof(addr);
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  int port = ntohs(addr.sin_port);
  ::close(fd);
  return port;
}

std::string Shell(const std::string& cmd, bool as_postgres) {
  if (!as_postgres) return cmd;
  return "runuser -u postgres -- " + cmd;
}

int Run(const std::string& cmd) { return std::system(cmd.c_str()); }

using ConnPtr = std::unique_ptr<PGconn, decltype(&PQfinish)>;
using ResPtr = std::unique_ptr<PGresult, decltype(&PQclear)>;

}  // namespace

std::unique_ptr<PgServer> PgServer::Start() {
  std::unique_ptr<PgServer> s(new PgServer());
  s->as_postgres_ = (::geteuid() == 0);
  char tmpl[] = "/tmp/handoff-pg-XXXXXX";
  if (!::mkdtemp(tmpl)) Die("mkdtemp failed");
  s->dir_ = tmpl;
  if (s->as_postgres_) Run("chown postgres:postgres " + s->dir_);
  std::string data = s->dir_ + "/data";
  std::string cmd = Shell(std::string(kBin) + "/initdb -A trust -U postgres -E UTF8 --locale=C.UTF-8 -D " + data +
                              " > " + s->dir_ + "/initdb.log 2>&1",
                          s->as_postgres_);
  if (Run(cmd) != 0) Die("initdb failed; see " + s->dir_ + "/initdb.log");
  std::ofstream conf(data + "/postgresql.conf", std::ios::app);
  conf << "\nwal_level = logical\nmax_replication_slots = 20\nmax_wal_senders = 20\n"
          "listen_addresses = '127.0.0.1'\nunix_socket_directories = '"
       << s->dir_ << "'\nfsync = off\nsynchronous_commit = off\nfull_page_writes = off\n"
          "shared_buffers = 128MB\nmax_connections = 100\nwal_sender_timeout = 60s\n"
          "max_worker_processes = 16\nmax_logical_replication_workers = 8\n";
  conf.close();
  s->port_ = FreePort();
  s->StartServer();
  return s;
}

void PgServer::StartServer(bool keep_port) {
  std::string data = dir_ + "/data";
  for (int attempt = 0; attempt < (keep_port ? 10 : 3); ++attempt) {
    std::string cmd = Shell(std::string(kBin) + "/pg_ctl -w -t 60 -D " + data + " -o '-p " + std::to_string(port_) +
                                "' -l " + dir_ + "/server.log start > /dev/null 2>&1",
                            as_postgres_);
    if (Run(cmd) == 0) {
      running_ = true;
      return;
    }
    if (keep_port) {
      ::usleep(500 * 1000);  // the old server's socket may linger a moment
    } else {
      port_ = FreePort();
    }
  }
  Die("postgres did not start; see " + dir_ + "/server.log");
}

PgServer::~PgServer() {
  Stop();
  if (!dir_.empty() && std::getenv("HANDOFF_KEEP_PG") == nullptr) {
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }
}

void PgServer::Stop() {
  if (!running_) return;
  Run(Shell(std::string(kBin) + "/pg_ctl -w -t 60 -m fast -D " + dir_ + "/data stop > /dev/null 2>&1", as_postgres_));
  running_ = false;
}

void PgServer::Resume() {
  if (!running_) StartServer(/*keep_port=*/true);
}

void PgServer::Restart() {
  Stop();
  Resume();
}

std::string PgServer::Dsn(const std::string& db) const {
  return "host=127.0.0.1 port=" + std::to_string(port_) + " dbname=" + db + " user=postgres connect_timeout=10";
}

Status PgServer::Exec(const std::string& db, const std::string& sql) const {
  ConnPtr conn(PQconnectdb(Dsn(db).c_str()), &PQfinish);
  if (PQstatus(conn.get()) != CONNECTION_OK) return Status::Unavailable(PQerrorMessage(conn.get()));
  PQsetNoticeProcessor(conn.get(), [](void*, const char*) {}, nullptr);
  ResPtr res(PQexec(conn.get(), sql.c_str()), &PQclear);
  auto st = PQresultStatus(res.get());
  if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) return Status::InvalidArgument(PQerrorMessage(conn.get()));
  return Status::OK();
}

struct PgSession::Conn {
  PGconn* c = nullptr;
};

PgSession::PgSession(const PgServer& server, const std::string& db) : conn_(std::make_unique<Conn>()) {
  conn_->c = PQconnectdb(server.Dsn(db).c_str());
  PQsetNoticeProcessor(conn_->c, [](void*, const char*) {}, nullptr);
}

PgSession::~PgSession() { PQfinish(conn_->c); }

Status PgSession::Exec(const std::string& sql) {
  if (PQstatus(conn_->c) != CONNECTION_OK) return Status::Unavailable(PQerrorMessage(conn_->c));
  ResPtr res(PQexec(conn_->c, sql.c_str()), &PQclear);
  auto st = PQresultStatus(res.get());
  if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) return Status::InvalidArgument(PQerrorMessage(conn_->c));
  return Status::OK();
}

Result<std::vector<std::vector<std::string>>> PgServer::Query(const std::string& db, const std::string& sql) const {
  ConnPtr conn(PQconnectdb(Dsn(db).c_str()), &PQfinish);
  if (PQstatus(conn.get()) != CONNECTION_OK) return Status::Unavailable(PQerrorMessage(conn.get()));
  ResPtr res(PQexec(conn.get(), sql.c_str()), &PQclear);
  if (PQresultStatus(res.get()) != PGRES_TUPLES_OK) return Status::InvalidArgument(PQerrorMessage(conn.get()));
  std::vector<std::vector<std::string>> rows;
  for (int r = 0; r < PQntuples(res.get()); ++r) {
    std::vector<std::string> row;
    for (int c = 0; c < PQnfields(res.get()); ++c)
      row.push_back(PQgetisnull(res.get(), r, c) ? "\\N" : PQgetvalue(res.get(), r, c));
    rows.push_back(std::move(row));
  }
  return rows;
}

std::string PgServer::Dump(const std::string& db, const std::string& sql) const {
  auto rows = Query(db, sql);
  if (!rows.ok()) return "ERROR: " + rows.status().ToString();
  std::string out;
  for (const auto& row : *rows) {
    for (size_t i = 0; i < row.size(); ++i) {
      if (i) out += '|';
      out += row[i];
    }
    out += '\n';
  }
  return out;
}

Status PgServer::CreateDatabase(const std::string& db) const { return Exec("postgres", "CREATE DATABASE " + db); }

}  // namespace handoff::testing
