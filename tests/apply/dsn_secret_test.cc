// Secrets in a DSN against a real server: a password with spaces, '=' and
// quotes authenticates (scram-sha-256), never shows in an error, and an
// environment value cannot add connection keywords.
#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>
#include <sstream>

#include "apply_fixture.h"
#include "handoff/engine/config.h"
#include "target_connection.h"

namespace handoff::apply {
namespace {

using handoff::testing::SharedServer;

constexpr const char* kPassword = "S3cr3t Leak=1 dbname=other 'q' \\x";

class DsnSecretTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    auto* s = SharedServer();
    Status st = s->Exec("postgres", "CREATE ROLE handoff_pw LOGIN PASSWORD 'S3cr3t Leak=1 dbname=other ''q'' \\x'");
    ASSERT_TRUE(st.ok()) << st.ToString();
    st = s->CreateDatabase("other");
    ASSERT_TRUE(st.ok()) << st.ToString();
    // Password authentication for this role only; everyone else stays on trust.
    const std::string hba = s->dir() + "/data/pg_hba.conf";
    std::stringstream old;
    old << std::ifstream(hba).rdbuf();
    std::ofstream(hba) << "host all handoff_pw 127.0.0.1/32 scram-sha-256\n" << old.str();
    ASSERT_TRUE(s->Exec("postgres", "SELECT pg_reload_conf()").ok());
  }

  // The target DSN of a config whose dsn text is `dsn`.
  static ConnParams ConfiguredDsn(const std::string& dsn) {
    auto c = ParseConfig("journal: { path: /j }\ntargets:\n  - { name: t, kind: postgres, dsn: \"" + dsn + "\" }\n",
                         "x.yaml");
    EXPECT_TRUE(c.ok()) << c.status().ToString();
    return c.ok() && c->targets[0].postgres() ? c->targets[0].postgres()->dsn : ConnParams{};
  }

  static std::string Base() {
    return "host=127.0.0.1 port=" + std::to_string(SharedServer()->port()) + " dbname=postgres";
  }
};

TEST_F(DsnSecretTest, PasswordWithSpacesAndEqualsAuthenticates) {
  setenv("HANDOFF_TEST_PG_PW", kPassword, 1);
  auto conn = ConnectTarget(ConfiguredDsn(Base() + " user=handoff_pw password=${HANDOFF_TEST_PG_PW}"), "t");
  ASSERT_TRUE(conn.ok()) << conn.status().ToString();
  PgRows rows;
  ASSERT_TRUE((*conn)->Query("SELECT current_user, current_database()", {}, &rows).ok());
  EXPECT_EQ(*rows.at(0).at(0), "handoff_pw");
  EXPECT_EQ(*rows.at(0).at(1), "postgres");

  // The same password over a URI.
  auto uri = ConnectTarget(
      ConfiguredDsn("postgresql://handoff_pw:${HANDOFF_TEST_PG_PW}@127.0.0.1:" +
                    std::to_string(SharedServer()->port()) + "/postgres"),
      "t");
  ASSERT_TRUE(uri.ok()) << uri.status().ToString();
  unsetenv("HANDOFF_TEST_PG_PW");
}

TEST_F(DsnSecretTest, AFailedLoginNamesNoPassword) {
  setenv("HANDOFF_TEST_PG_PW", "wrong Leak=2 x", 1);
  auto conn = ConnectTarget(ConfiguredDsn(Base() + " user=handoff_pw password=${HANDOFF_TEST_PG_PW}"), "t");
  ASSERT_FALSE(conn.ok());
  const std::string msg = conn.status().ToString();
  EXPECT_NE(msg.find("password authentication failed"), std::string::npos) << msg;
  EXPECT_EQ(msg.find("Leak"), std::string::npos) << msg;
  // Whatever libpq echoes, the password is cut out of it.
  EXPECT_EQ(ConfiguredDsn(Base() + " password=${HANDOFF_TEST_PG_PW}").Redact("x wrong Leak=2 x y"), "x *** y");
  unsetenv("HANDOFF_TEST_PG_PW");
}

TEST_F(DsnSecretTest, AnEnvironmentValueCannotAddKeywords) {
  setenv("HANDOFF_TEST_APP", "x dbname=other user=handoff_pw", 1);
  auto conn = ConnectTarget(ConfiguredDsn(Base() + " user=postgres application_name=${HANDOFF_TEST_APP}"), "t");
  ASSERT_TRUE(conn.ok()) << conn.status().ToString();
  PgRows rows;
  ASSERT_TRUE((*conn)->Query("SELECT current_database(), current_user, current_setting('application_name')", {}, &rows).ok());
  EXPECT_EQ(*rows.at(0).at(0), "postgres");
  EXPECT_EQ(*rows.at(0).at(1), "postgres");
  EXPECT_EQ(*rows.at(0).at(2), "x dbname=other user=handoff_pw");
  unsetenv("HANDOFF_TEST_APP");
}

// A database name from the environment is a name, never more settings
// (libpq's expand_dbname is off), also in a URI.
TEST_F(DsnSecretTest, AnEnvironmentDatabaseNameIsOnlyAName) {
  setenv("HANDOFF_TEST_DB", "postgres dbname=other", 1);
  const std::string port = std::to_string(SharedServer()->port());
  auto conn = ConnectTarget(ConfiguredDsn("host=127.0.0.1 port=" + port + " user=postgres dbname=${HANDOFF_TEST_DB}"), "t");
  ASSERT_FALSE(conn.ok()) << "connected to a database named by a spliced keyword";
  EXPECT_NE(conn.status().message().find("\"postgres dbname=other\" does not exist"), std::string::npos)
      << conn.status().ToString();
  setenv("HANDOFF_TEST_DB", "dbname=other", 1);
  auto uri = ConnectTarget(ConfiguredDsn("postgresql://postgres@127.0.0.1:" + port + "/${HANDOFF_TEST_DB}"), "t");
  ASSERT_FALSE(uri.ok());
  EXPECT_NE(uri.status().message().find("\"dbname=other\" does not exist"), std::string::npos) << uri.status().ToString();
  unsetenv("HANDOFF_TEST_DB");
}

}  // namespace
}  // namespace handoff::apply
