// The exception queue through the real binary: changes the target refuses are
// parked with their reason while the rest flow on; `handoff exceptions`
// lists, shows, retries (after the data is fixed: applied exactly once),
// resolves with operator-chosen values and discards with who and why.
#include <signal.h>

#include <sstream>
#include <thread>

#include "spine_fixture.h"

namespace handoff::testing {
namespace {

constexpr auto kCatchUp = std::chrono::seconds(60);

class ExceptionsCliTest : public SpineTest {
 protected:
  bool WaitForDst(const std::string& sql, const std::string& want) {
    auto deadline = std::chrono::steady_clock::now() + kCatchUp;
    while (server_->Dump(dst_db_, sql) != want) {
      if (std::chrono::steady_clock::now() > deadline) return false;
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    return true;
  }
  // The seq of the open exception whose reason mentions `needle`.
  uint64_t SeqOf(const std::string& needle) {
    std::string out;
    EXPECT_EQ(Handoff({"exceptions", "list", "--config", config_, "--json"}, &out), 0);
    std::istringstream lines(out);
    for (std::string line; std::getline(lines, line);) {
      if (line.find(needle) == std::string::npos) continue;
      size_t p = line.find("\"seq\":");
      return std::stoull(line.substr(p + 6));
    }
    ADD_FAILURE() << "no open exception mentions " << needle << ":\n" << out;
    return 0;
  }
};

TEST_F(ExceptionsCliTest, ParkListShowRetryResolveDiscard) {
  CreateDatabases(name_);
  ASSERT_TRUE(server_->Exec(dst_db_, R"sql(
    ALTER TABLE consultants ADD CONSTRAINT rate_cap CHECK (rate < 1000);
    CREATE TABLE applied_log (email text);
    CREATE FUNCTION log_apply() RETURNS trigger LANGUAGE plpgsql AS
      $$ BEGIN INSERT INTO applied_log VALUES (NEW.email); RETURN NEW; END $$;
    CREATE TRIGGER log_apply AFTER INSERT OR UPDATE ON consultants FOR EACH ROW EXECUTE FUNCTION log_apply();
  )sql").ok());
  WriteConfig();
  StartEngine();
  ASSERT_TRUE(server_->Exec(src_db_, R"sql(
    INSERT INTO consultants VALUES ('ok1@x', 'Ok', 100, true, 1);
    INSERT INTO consultants VALUES ('retry@x', 'Rita', 1500, true, 2);
    INSERT INTO consultants VALUES ('resolve@x', 'Rob', 2500, true, 3);
    INSERT INTO consultants VALUES ('discard@x', 'Dora', 3500, true, 4);
    INSERT INTO consultants VALUES ('ok2@x', 'Ok too', 200, true, 5);
  )sql").ok());
  // The refused rows are parked; the rest flow on.
  ASSERT_TRUE(WaitForDst("SELECT email FROM consultants ORDER BY 1", "ok1@x\nok2@x\n")) << LogTail();
  std::string out, err;
  auto deadline = std::chrono::steady_clock::now() + kCatchUp;
  do {
    ASSERT_EQ(Handoff({"exceptions", "list", "--config", config_}, &out, &err), 0) << err;
    if (out.find("3 open exception(s); 23514: 3") != std::string::npos) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  } while (std::chrono::steady_clock::now() < deadline);
  EXPECT_NE(out.find("3 open exception(s); 23514: 3"), std::string::npos) << out;
  EXPECT_NE(out.find("rate_cap"), std::string::npos) << "the reason names the refused rule:\n" << out;

  const uint64_t retry_seq = SeqOf("retry@x"), resolve_seq = SeqOf("resolve@x"), discard_seq = SeqOf("discard@x");
  ASSERT_GT(retry_seq, 0u);
  ASSERT_EQ(Handoff({"exceptions", "show", "--config", config_, "--target", "erp", "--seq", std::to_string(retry_seq)},
                    &out, &err), 0) << err;
  EXPECT_NE(out.find("reason:"), std::string::npos) << out;
  EXPECT_NE(out.find("\"rate\":\"1500.0000\""), std::string::npos) << "the new image:\n" << out;

  // Retry before the data is fixed: refused again, still open.
  EXPECT_EQ(Handoff({"exceptions", "retry", "--config", config_, "--target", "erp", "--seq", std::to_string(retry_seq)},
                    &out, &err), 1);
  EXPECT_NE(err.find("did not go through"), std::string::npos) << err;
  // Fix the data (raise the cap), retry: applied exactly once.
  ASSERT_TRUE(server_->Exec(dst_db_, "ALTER TABLE consultants DROP CONSTRAINT rate_cap; "
                                     "ALTER TABLE consultants ADD CONSTRAINT rate_cap CHECK (rate < 2000)").ok());
  ASSERT_EQ(Handoff({"exceptions", "retry", "--config", config_, "--target", "erp", "--seq", std::to_string(retry_seq)},
                    &out, &err), 0) << err;
  EXPECT_EQ(server_->Dump(dst_db_, "SELECT rate FROM consultants WHERE email = 'retry@x'"), "1500.0000\n");
  EXPECT_EQ(server_->Dump(dst_db_, "SELECT count(*) FROM applied_log WHERE email = 'retry@x'"), "1\n");
  EXPECT_EQ(Handoff({"exceptions", "retry", "--config", config_, "--target", "erp", "--seq", std::to_string(retry_seq)},
                    &out, &err), 1) << "a closed exception is not retried twice";
  EXPECT_EQ(server_->Dump(dst_db_, "SELECT count(*) FROM applied_log WHERE email = 'retry@x'"), "1\n");

  // Resolve with an operator-chosen value.
  ASSERT_EQ(Handoff({"exceptions", "resolve", "--config", config_, "--target", "erp", "--seq",
                     std::to_string(resolve_seq), "--set", "rate=999.5", "--actor", "ana@finance", "--note",
                     "capped per contract"}, &out, &err), 0) << err;
  EXPECT_EQ(server_->Dump(dst_db_, "SELECT name, rate FROM consultants WHERE email = 'resolve@x'"), "Rob|999.5000\n");
  EXPECT_EQ(Handoff({"exceptions", "resolve", "--config", config_, "--target", "erp", "--seq",
                     std::to_string(discard_seq), "--set", "nope=1", "--actor", "a"}, &out, &err), 2);

  // Discard with who and why.
  ASSERT_EQ(Handoff({"exceptions", "discard", "--config", config_, "--target", "erp", "--seq",
                     std::to_string(discard_seq), "--actor", "bo@finance", "--note", "duplicate contractor"}, &out,
                    &err), 0) << err;
  EXPECT_EQ(server_->Dump(dst_db_, "SELECT count(*) FROM consultants WHERE email = 'discard@x'"), "0\n");

  ASSERT_EQ(Handoff({"exceptions", "list", "--config", config_, "--state", "all", "--json"}, &out, &err), 0) << err;
  EXPECT_NE(out.find("\"state\":\"retried\""), std::string::npos) << out;
  EXPECT_NE(out.find("\"state\":\"resolved\""), std::string::npos) << out;
  EXPECT_NE(out.find("\"actor\":\"ana@finance\""), std::string::npos) << out;
  EXPECT_NE(out.find("\"note\":\"duplicate contractor\""), std::string::npos) << out;
  ASSERT_EQ(Handoff({"exceptions", "list", "--config", config_}, &out, &err), 0) << err;
  EXPECT_NE(out.find("0 open exception(s)"), std::string::npos) << out;
  ASSERT_EQ(Handoff({"status", "--config", config_}, &out, &err), 0) << err;
  EXPECT_NE(out.find("exceptions open: 0"), std::string::npos) << out;
  EXPECT_EQ(StopEngine(SIGTERM), 0);
}

}  // namespace
}  // namespace handoff::testing
