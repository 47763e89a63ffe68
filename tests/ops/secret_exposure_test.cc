// A database password through the whole engine: `handoff run` authenticates
// with a password holding spaces, quotes, backslashes and '=' (scram-sha-256
// for the source from the environment, md5 for the target from a
// password_file), and the password shows nowhere an operator looks: the
// engine log, /metrics, /status (JSON and text), /readyz, `handoff status`
// and `handoff config validate`, also when the login fails. An environment
// value with a space and `dbname=other` stays one value.
#include <signal.h>

#include <fstream>
#include <sstream>

#include "admin_client.h"
#include "spine_fixture.h"

namespace handoff::testing {
namespace {

// No part of it may be spliced into libpq syntax.
constexpr const char* kPassword = "Pw Leak9 'sq' \"dq\" \\bs k=v dbname=other";
constexpr const char* kWrong = "Wrong Leak7 'x' k=v";

std::string SqlLiteral(const std::string& v) {
  std::string out = "'";
  for (char c : v) out += c == '\'' ? std::string("''") : std::string(1, c);
  return out + "'";
}

class SecretExposureTest : public SpineTest {
 protected:
  static void SetUpTestSuite() {
    SpineTest::SetUpTestSuite();
    // Superusers so that capture and apply need no grants; only the
    // authentication is under test.
    ASSERT_TRUE(server_->Exec("postgres", "SET password_encryption = 'scram-sha-256'; CREATE ROLE handoff_scram "
                                          "LOGIN SUPERUSER REPLICATION PASSWORD " + SqlLiteral(kPassword)).ok());
    ASSERT_TRUE(server_->Exec("postgres", "SET password_encryption = 'md5'; CREATE ROLE handoff_md5 LOGIN SUPERUSER "
                                          "PASSWORD " + SqlLiteral(kPassword)).ok());
    const std::string hba = server_->dir() + "/data/pg_hba.conf";
    std::stringstream old;
    old << std::ifstream(hba).rdbuf();
    std::ofstream(hba) << "host all handoff_scram 127.0.0.1/32 scram-sha-256\n"
                       << "host replication handoff_scram 127.0.0.1/32 scram-sha-256\n"
                       << "host all handoff_md5 127.0.0.1/32 md5\n"
                       << old.str();
    ASSERT_TRUE(server_->Exec("postgres", "SELECT pg_reload_conf()").ok());
  }

  void WriteSecretConfig() {
    const std::string pw_file = dir_ + "/target.pw";
    std::ofstream(pw_file) << kPassword << "\n";
    const std::string port = std::to_string(server_->port());
    admin_port_ = FreeTcpPort();
    std::ostringstream c;
    c << "journal: { path: " << dir_ << "/journal }\n"
      << "sources:\n  - { name: " << name_ << ", kind: postgres, tables: [public.consultants], dsn: \"host=127.0.0.1 "
      << "port=" << port << " dbname=" << src_db_
      << " user=handoff_scram password=${HANDOFF_TEST_SECRET} application_name=${HANDOFF_TEST_APP}\" }\n"
      << "targets:\n  - { name: erp, kind: postgres, password_file: " << pw_file
      << ", dsn: \"postgresql://handoff_md5@127.0.0.1:" << port << "/" << dst_db_ << "\" }\n"
      << "routes:\n  - { from: " << name_ << ".public.consultants, to: erp.public.consultants }\n"
      << "admin: { listen: \"127.0.0.1:" << admin_port_ << "\" }\n"
      << "engine: { slot_check_interval: 1s }\n";
    config_ = dir_ + "/handoff.yaml";
    std::ofstream(config_) << c.str();
  }

  // Everything an operator reads, as one text.
  std::string Visible() {
    std::string out = ReadAll(dir_ + "/engine.log");
    for (const char* path : {"/metrics", "/status", "/status?format=text", "/readyz"})
      out += HttpGet(admin_port_, path).body;
    std::string text, err;
    Handoff({"status", "--config", config_}, &text, &err);
    out += text + err;
    Handoff({"status", "--json", "--config", config_}, &text, &err);
    out += text + err;
    Handoff({"config", "validate", "--config", config_}, &text, &err);
    return out + text + err;
  }

  static std::string ReadAll(const std::string& path) {
    std::stringstream ss;
    ss << std::ifstream(path).rdbuf();
    return ss.str();
  }

  // Neither the whole password nor its distinctive word.
  static void ExpectNoSecret(const std::string& text, const std::string& secret, const std::string& word) {
    for (const std::string& part : {secret, word})
      EXPECT_EQ(text.find(part), std::string::npos) << "'" << part << "' is visible:\n" << text;
  }

  int admin_port_ = 0;
};

TEST_F(SecretExposureTest, PasswordAuthenticatesAndShowsNowhere) {
  CreateDatabases(name_);
  ASSERT_TRUE(server_->Exec(src_db_, "INSERT INTO consultants VALUES ('a@x', 'A', 1.5, true, 1), "
                                     "('b@x', 'B', 2.5, false, 2)").ok());
  WriteSecretConfig();
  setenv("HANDOFF_TEST_SECRET", kPassword, 1);  // for the CLI runs
  setenv("HANDOFF_TEST_APP", "x dbname=other", 1);
  StartEngine({std::string("HANDOFF_TEST_SECRET=") + kPassword, "HANDOFF_TEST_APP=x dbname=other"});
  ASSERT_TRUE(WaitUntil([&] { return Contents(src_db_, "consultants") == Contents(dst_db_, "consultants"); },
                        std::chrono::seconds(90)))
      << LogTail();
  // Both roles logged in with the password; the environment value stayed
  // the application name and did not move any connection to "other".
  const std::string sessions = server_->Dump(
      "postgres", "SELECT usename || '|' || coalesce(datname, '-') || '|' || application_name || '|' || backend_type "
                  "FROM pg_stat_activity WHERE usename = 'handoff_scram' ORDER BY 1");
  EXPECT_NE(sessions.find("handoff_scram|" + src_db_ + "|x dbname=other|walsender"), std::string::npos) << sessions;
  EXPECT_EQ(sessions.find("|other|"), std::string::npos) << sessions;
  ExpectNoSecret(Visible(), kPassword, "Leak9");

  // A wrong password: the failure is said, the password is not.
  ASSERT_EQ(StopEngine(SIGTERM), 0);
  setenv("HANDOFF_TEST_SECRET", kWrong, 1);
  StartEngine({std::string("HANDOFF_TEST_SECRET=") + kWrong, "HANDOFF_TEST_APP=x dbname=other"});
  ASSERT_TRUE(WaitUntil([&] { return LogTail(100000).find("password authentication failed") != std::string::npos; },
                        std::chrono::seconds(60)))
      << LogTail();
  ASSERT_TRUE(WaitUntil([&] {
    return HttpGet(admin_port_, "/status").body.find("password authentication failed") != std::string::npos;
  }, std::chrono::seconds(30))) << HttpGet(admin_port_, "/status").body;
  const std::string visible = Visible();
  ExpectNoSecret(visible, kWrong, "Leak7");
  ExpectNoSecret(visible, kPassword, "Leak9");
  EXPECT_EQ(StopEngine(SIGTERM), 0);
  unsetenv("HANDOFF_TEST_SECRET");
  unsetenv("HANDOFF_TEST_APP");
}

}  // namespace
}  // namespace handoff::testing
