// PgConnection (handoff/pg/pg_connection.h) against a real server: results
// and NULLs, the first failure of several statements, what the error mapper
// is given, the NUL-byte refusal, COPY in and out, a lost connection, the
// connect options and a replication connection.
#include "handoff/pg/pg_connection.h"

#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "pg_server.h"

namespace handoff {
namespace {

using handoff::testing::PgServer;

std::unique_ptr<PgServer> g_server;

class ServerEnvironment : public ::testing::Environment {
 public:
  void SetUp() override { g_server = PgServer::Start(); }
  void TearDown() override { g_server.reset(); }
};

[[maybe_unused]] ::testing::Environment* const kServerEnv =
    ::testing::AddGlobalTestEnvironment(new ServerEnvironment);

// What the last call of RecordingMapper saw.
std::string g_seen_what;
PgError g_seen_error;

Status RecordingMapper(std::string_view what, const PgError& error) {
  g_seen_what = std::string(what);
  g_seen_error = error;
  return Status::Conflict("mapped: " + error.sqlstate);
}

ConnParams Dsn(const std::string& extra = "") {
  auto p = ConnParams::Parse(g_server->Dsn("postgres") + extra);
  EXPECT_TRUE(p.ok()) << p.status().ToString();
  return p.ok() ? *p : ConnParams{};
}

PgConnection Connect(PgConnectOptions options = {}, const std::string& extra = "") {
  auto c = PgConnection::Open(Dsn(extra), options);
  EXPECT_TRUE(c.ok()) << c.status().ToString();
  return c.ok() ? std::move(c).value() : PgConnection();
}

TEST(PgConnectionTest, QueryReturnsRowsWithNulls) {
  PgConnection conn = Connect();
  ASSERT_TRUE(conn.alive());
  PgRows rows;
  Status st = conn.Query("SELECT $1::text, NULL::text, $2::int + 1 UNION ALL SELECT 'b', 'c', 0", {"a''x", "41"},
                         &rows);
  ASSERT_TRUE(st.ok()) << st.ToString();
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_EQ(*rows[0][0], "a''x");  // a parameter is data, never SQL
  EXPECT_FALSE(rows[0][1].has_value());
  EXPECT_EQ(*rows[0][2], "42");
  EXPECT_EQ(*rows[1][1], "c");
  // A SQL NULL parameter.
  rows.clear();
  ASSERT_TRUE(conn.Query("SELECT $1::text IS NULL", {std::nullopt}, &rows).ok());
  EXPECT_EQ(*rows.at(0).at(0), "t");
}

TEST(PgConnectionTest, FetchGivesTheResult) {
  PgConnection conn = Connect();
  auto res = conn.Fetch("SELECT $1::text, NULL::text, repeat('x', 3)", {"v"});
  ASSERT_TRUE(res.ok()) << res.status().ToString();
  EXPECT_EQ(res->rows(), 1);
  EXPECT_EQ(res->columns(), 3);
  EXPECT_STREQ(res->value(0, 0), "v");
  EXPECT_TRUE(res->is_null(0, 1));
  EXPECT_FALSE(res->is_null(0, 2));
  EXPECT_EQ(res->length(0, 2), 3u);
  // Several statements without parameters: the last one's result.
  auto last = conn.Fetch("SELECT 1; SELECT 2");
  ASSERT_TRUE(last.ok()) << last.status().ToString();
  EXPECT_STREQ(last->value(0, 0), "2");
}

TEST(PgConnectionTest, ExecStopsAtTheFirstFailureAndTheMapperDecides) {
  PgConnectOptions options;
  options.map_error = &RecordingMapper;
  PgConnection conn = Connect(options);
  ASSERT_TRUE(conn.Exec("DROP TABLE IF EXISTS pgc_first; DROP TABLE IF EXISTS pgc_after").ok());
  Status st = conn.Exec("CREATE TABLE pgc_first(a int); SELECT * FROM pgc_missing; CREATE TABLE pgc_after(a int)");
  ASSERT_FALSE(st.ok());
  // The mapper's Status is what the caller gets.
  EXPECT_EQ(st.code(), StatusCode::kConflict) << st.ToString();
  EXPECT_EQ(st.message(), "mapped: 42P01");
  EXPECT_EQ(g_seen_error.sqlstate, "42P01");
  EXPECT_NE(g_seen_error.message.find("pgc_missing"), std::string::npos) << g_seen_error.message;
  EXPECT_NE(g_seen_error.report.find("pgc_missing"), std::string::npos) << g_seen_error.report;
  EXPECT_TRUE(g_seen_error.connection_ok);
  EXPECT_EQ(g_seen_what.rfind("CREATE TABLE pgc_first", 0), 0u) << g_seen_what;
  EXPECT_EQ(conn.last_sqlstate(), "42P01");
  // One implicit transaction: nothing of the batch stayed.
  PgRows rows;
  ASSERT_TRUE(conn.Query("SELECT count(*) FROM pg_class WHERE relname IN ('pgc_first', 'pgc_after')", {}, &rows).ok());
  EXPECT_EQ(*rows.at(0).at(0), "0");
}

TEST(PgConnectionTest, DefaultMapperKeepsTheDetail) {
  PgConnection conn = Connect();
  ASSERT_TRUE(conn.Exec("DROP TABLE IF EXISTS pgc_unique; CREATE TABLE pgc_unique(a int PRIMARY KEY);"
                        " INSERT INTO pgc_unique VALUES (1)")
                  .ok());
  Status st = conn.Query("INSERT INTO pgc_unique VALUES ($1::int)", {"1"});
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.code(), StatusCode::kPermanent) << st.ToString();
  EXPECT_EQ(st.message().rfind("23505: ", 0), 0u) << st.message();
  EXPECT_NE(conn.last_message().find("(Key (a)=(1) already exists.)"), std::string::npos) << conn.last_message();
}

TEST(PgConnectionTest, ANulByteIsRefusedBeforeAnythingIsSent) {
  PgConnection conn = Connect();
  ASSERT_TRUE(conn.Exec("DROP TABLE IF EXISTS pgc_text; CREATE TABLE pgc_text(v text)").ok());
  Status st = conn.Query("INSERT INTO pgc_text VALUES ($1)", {std::string("ab\0cd", 5)});
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.code(), StatusCode::kPermanent);
  EXPECT_EQ(conn.last_sqlstate(), "invalid_bytes");
  EXPECT_NE(conn.last_message().find("offset 2"), std::string::npos) << conn.last_message();
  PgRows rows;
  ASSERT_TRUE(conn.Query("SELECT count(*) FROM pgc_text", {}, &rows).ok());
  EXPECT_EQ(*rows.at(0).at(0), "0");
}

TEST(PgConnectionTest, CopyInThenCopyOut) {
  PgConnection conn = Connect();
  ASSERT_TRUE(conn.Exec("DROP TABLE IF EXISTS pgc_copy; CREATE TABLE pgc_copy(id int, v text)").ok());
  Status in = conn.CopyIn("COPY pgc_copy (id, v) FROM STDIN", "1\tone\n2\t\\N\n3\ttab\\there\n");
  ASSERT_TRUE(in.ok()) << in.ToString();
  std::vector<std::string> lines;
  Status out = conn.CopyOut("COPY (SELECT id, v FROM pgc_copy ORDER BY id) TO STDOUT", "COPY pgc_copy",
                            [&](std::string_view row) {
                              lines.emplace_back(row);
                              return Status::OK();
                            });
  ASSERT_TRUE(out.ok()) << out.ToString();
  EXPECT_EQ(lines, (std::vector<std::string>{"1\tone\n", "2\t\\N\n", "3\ttab\\there\n"}));

  // Bad COPY data fails the statement and leaves the connection usable.
  Status bad = conn.CopyIn("COPY pgc_copy (id, v) FROM STDIN", "x\tnot a number\n");
  EXPECT_FALSE(bad.ok());
  EXPECT_EQ(conn.last_sqlstate(), "22P02");
  EXPECT_TRUE(conn.alive());
  // A copy that cannot start names its statement.
  PgConnectOptions options;
  options.map_error = &RecordingMapper;
  PgConnection mapped = Connect(options);
  Status missing = mapped.CopyOut("COPY pgc_nowhere TO STDOUT", "COPY pgc_nowhere",
                                  [](std::string_view) { return Status::OK(); });
  EXPECT_FALSE(missing.ok());
  EXPECT_EQ(g_seen_error.sqlstate, "42P01");
  EXPECT_EQ(g_seen_what, "COPY pgc_nowhere TO STDOUT");
}

TEST(PgConnectionTest, ALostConnectionIsNotTheStatementsFault) {
  PgConnection victim = Connect();
  PgConnection killer = Connect();
  const int pid = victim.backend_pid();
  ASSERT_GT(pid, 0);
  PgRows rows;
  ASSERT_TRUE(killer.Query("SELECT pg_terminate_backend($1::int)", {std::to_string(pid)}, &rows).ok());
  ASSERT_EQ(*rows.at(0).at(0), "t");
  // The server closes the session: the next call finds it gone.
  Status st = victim.Exec("SELECT 1");
  if (st.ok()) st = victim.Exec("SELECT 1");
  ASSERT_FALSE(st.ok());
  EXPECT_FALSE(victim.alive());
  const std::string& state = victim.last_sqlstate();
  EXPECT_TRUE(state.empty() || state.rfind("57", 0) == 0 || state.rfind("08", 0) == 0) << state;
  EXPECT_EQ(st.code(), StatusCode::kUnavailable) << st.ToString();
}

TEST(PgConnectionTest, ConnectOptions) {
  PgConnectOptions options;
  options.application_name = "pgc test";
  PgConnection named = Connect(options);
  PgRows rows;
  ASSERT_TRUE(named.Query("SELECT current_setting('application_name')", {}, &rows).ok());
  EXPECT_EQ(*rows.at(0).at(0), "pgc test");
  EXPECT_FALSE(named.client_encoding().empty());
  // The DSN's own application_name wins.
  PgConnection dsn_named = Connect(options, " application_name=from_dsn");
  rows.clear();
  ASSERT_TRUE(dsn_named.Query("SELECT current_setting('application_name')", {}, &rows).ok());
  EXPECT_EQ(*rows.at(0).at(0), "from_dsn");

  // Nobody listens: kUnavailable, without the password.
  auto closed = ConnParams::Parse("host=127.0.0.1 port=1 dbname=postgres user=postgres password=Hidden9");
  ASSERT_TRUE(closed.ok());
  auto refused = PgConnection::Open(*closed);
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.status().code(), StatusCode::kUnavailable);
  EXPECT_EQ(refused.status().message().find("Hidden9"), std::string::npos) << refused.status().message();
}

TEST(PgConnectionTest, AReplicationConnectionTakesReplicationCommands) {
  PgConnectOptions options;
  options.replication = true;
  PgConnection repl = Connect(options, " replication=false");  // the DSN cannot turn it off
  auto id = repl.Fetch("IDENTIFY_SYSTEM");
  ASSERT_TRUE(id.ok()) << id.status().ToString();
  EXPECT_EQ(id->rows(), 1);
  EXPECT_GE(id->columns(), 4);
  // A normal connection refuses it.
  PgConnection normal = Connect();
  EXPECT_FALSE(normal.Fetch("IDENTIFY_SYSTEM").ok());
}

TEST(PgConnectionTest, Quoting) {
  EXPECT_EQ(QuoteIdent("plain"), "\"plain\"");
  EXPECT_EQ(QuoteIdent("we\"ird"), "\"we\"\"ird\"");
  EXPECT_EQ(QuoteQualified("s", "t\""), "\"s\".\"t\"\"\"");
  EXPECT_EQ(QuoteLiteral("it's"), "'it''s'");
}

}  // namespace
}  // namespace handoff
