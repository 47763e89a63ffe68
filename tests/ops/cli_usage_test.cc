// The handoff binary's own usage answers: `--version`, and a suggestion for a
// mistyped verb or sub-verb (exit 2) instead of only a parse error. Runs
// ops/handoff as a child process; needs no configuration or PostgreSQL.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "process.h"

namespace handoff {
namespace {

struct CliRun {
  int rc = -1;
  std::string out, err;
};

CliRun Handoff(const std::vector<std::string>& args) {
  std::vector<std::string> argv{testing::HandoffBinary()};
  argv.insert(argv.end(), args.begin(), args.end());
  CliRun r;
  r.rc = testing::RunCommand(argv, &r.out, &r.err);
  return r;
}

TEST(CliUsageTest, VersionPrintsTheProjectVersion) {
  CliRun r = Handoff({"--version"});
  EXPECT_EQ(r.rc, 0) << r.err;
  EXPECT_EQ(r.out, "handoff " HANDOFF_PROJECT_VERSION "\n");
  EXPECT_EQ(r.err, "");
}

TEST(CliUsageTest, MistypedVerbGetsASuggestion) {
  CliRun r = Handoff({"stauts"});
  EXPECT_EQ(r.rc, 2);
  EXPECT_EQ(r.err, "handoff: unknown command 'stauts'; did you mean 'status'?\n");
  EXPECT_EQ(r.out, "");
  // With its options still given, and global options before it.
  r = Handoff({"--log-format", "json", "replya", "--config", "x.yaml", "--target", "erp"});
  EXPECT_EQ(r.rc, 2);
  EXPECT_NE(r.err.find("unknown command 'replya'; did you mean 'replay'?"), std::string::npos) << r.err;
  r = Handoff({"valdate"});  // a sub-verb's name at the top level is not offered
  EXPECT_EQ(r.rc, 2);
  EXPECT_EQ(r.err.find("did you mean"), std::string::npos) << r.err;
}

TEST(CliUsageTest, MistypedSubVerbGetsASuggestion) {
  CliRun r = Handoff({"exceptions", "lsit", "--config", "x.yaml"});
  EXPECT_EQ(r.rc, 2);
  EXPECT_EQ(r.err, "handoff: unknown command 'exceptions lsit'; did you mean 'exceptions list'?\n");
  r = Handoff({"journal", "dupm"});
  EXPECT_EQ(r.rc, 2);
  EXPECT_NE(r.err.find("did you mean 'journal dump'?"), std::string::npos) << r.err;
  r = Handoff({"config", "validat", "--config", "x.yaml"});
  EXPECT_EQ(r.rc, 2);
  EXPECT_NE(r.err.find("did you mean 'config validate'?"), std::string::npos) << r.err;
  r = Handoff({"exceptions", "disc"});  // a prefix of exactly one sub-verb
  EXPECT_EQ(r.rc, 2);
  EXPECT_NE(r.err.find("did you mean 'exceptions discard'?"), std::string::npos) << r.err;
}

TEST(CliUsageTest, FarOffVerbListsTheCommands) {
  CliRun r = Handoff({"frobnicate"});
  EXPECT_EQ(r.rc, 2);
  EXPECT_NE(r.err.find("unknown command 'frobnicate'; the commands are: "), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("status"), std::string::npos) << r.err;
  EXPECT_EQ(r.err.find("did you mean"), std::string::npos) << r.err;
  r = Handoff({"exceptions", "re"});  // replay? resolve? retry? not a guess
  EXPECT_EQ(r.rc, 2);
  EXPECT_NE(r.err.find("the commands of 'exceptions' are: list, show, retry, resolve, discard"), std::string::npos)
      << r.err;
}

TEST(CliUsageTest, KnownVerbsKeepTheirOwnErrors) {
  // A leaf verb's positional argument is never taken for a verb.
  CliRun r = Handoff({"inspect", "debezium", "/nonexistent/stauts"});
  EXPECT_EQ(r.rc, 1);
  EXPECT_NE(r.err.find("cannot open /nonexistent/stauts"), std::string::npos) << r.err;
  EXPECT_EQ(r.err.find("unknown command"), std::string::npos) << r.err;
  // A missing required option is CLI11's usage error, not a suggestion.
  r = Handoff({"status"});
  EXPECT_EQ(r.rc, 2);
  EXPECT_NE(r.err.find("--config"), std::string::npos) << r.err;
  EXPECT_EQ(r.err.find("unknown command"), std::string::npos) << r.err;
  r = Handoff({"--help"});
  EXPECT_EQ(r.rc, 0);
  EXPECT_NE(r.out.find("--version"), std::string::npos) << r.out;
}

}  // namespace
}  // namespace handoff
