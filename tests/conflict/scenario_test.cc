// Data-driven conflict scenarios (tests/conflict/scenarios/*.yaml): each runs
// in its declared order against its expectations; scenarios marked
// `permute: true` must also converge under every order of their changes.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

#include "scenario.h"

namespace handoff::conflict::testing {
namespace {

const char* kDir = HANDOFF_SOURCE_DIR "/tests/conflict/scenarios";

std::vector<std::string> ScenarioFiles() {
  std::vector<std::string> files;
  std::error_code ec;
  for (const auto& e : std::filesystem::directory_iterator(kDir, ec)) {
    if (e.path().extension() == ".yaml") files.push_back(e.path().string());
  }
  std::sort(files.begin(), files.end());
  return files;
}

Scenario LoadOrFail(const std::string& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  Result<Scenario> s = LoadScenario(text.str(), path);
  EXPECT_TRUE(s.ok()) << s.status().ToString();
  return s.ok() ? std::move(*s) : Scenario{};
}

std::string TestName(const ::testing::TestParamInfo<std::string>& info) {
  std::string n = std::filesystem::path(info.param).stem().string();
  for (char& c : n) c = std::isalnum(static_cast<unsigned char>(c)) ? c : '_';
  return n;
}

// The scenarios marked `permute: true` (owner_wins / last_writer_wins / delta).
std::vector<std::string> PermutedScenarioFiles() {
  std::vector<std::string> out;
  for (const std::string& f : ScenarioFiles()) {
    std::ifstream in(f);
    std::stringstream text;
    text << in.rdbuf();
    Result<Scenario> s = LoadScenario(text.str(), f);
    if (s.ok() && s->permute) out.push_back(f);
  }
  return out;
}

class ConflictScenario : public ::testing::TestWithParam<std::string> {};
class ConflictScenarioConvergence : public ::testing::TestWithParam<std::string> {};

TEST_P(ConflictScenario, DeclaredOrderMeetsExpectations) {
  Scenario s = LoadOrFail(GetParam());
  if (s.changes.empty()) return;
  Outcome o = RunScenario(s);
  EXPECT_EQ(CheckExpectations(s, o), "") << s.file << " (" << s.name << ")";
  // Deterministic: a second run gives the same records and state.
  Outcome again = RunScenario(s);
  EXPECT_EQ(CompareStates(o, again), "");
  ASSERT_EQ(o.audit.size(), again.audit.size());
  for (size_t i = 0; i < o.audit.size(); ++i) EXPECT_EQ(o.audit[i].reason, again.audit[i].reason);
}

TEST_P(ConflictScenarioConvergence, EveryOrderConverges) {
  Scenario s = LoadOrFail(GetParam());
  ASSERT_TRUE(s.permute);
  Outcome reference = RunScenario(s);
  std::vector<size_t> order(s.changes.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  size_t orders = 0;
  do {
    Outcome o = RunScenario(s, order);
    std::string diff = CompareStates(reference, o);
    ++orders;
    if (!diff.empty()) {
      std::string ord;
      for (size_t i : order) ord += std::to_string(i + 1) + " ";
      FAIL() << s.file << ": order [" << ord << "] diverges:\n" << diff;
    }
  } while (std::next_permutation(order.begin(), order.end()));
  EXPECT_GT(orders, 0u);
}

INSTANTIATE_TEST_SUITE_P(Scenarios, ConflictScenario, ::testing::ValuesIn(ScenarioFiles()), TestName);
INSTANTIATE_TEST_SUITE_P(Scenarios, ConflictScenarioConvergence,
                         ::testing::ValuesIn(PermutedScenarioFiles()), TestName);

TEST(ConflictScenarios, AtLeastTwentyCoveringEveryPolicyAndCase) {
  std::vector<std::string> files = ScenarioFiles();
  EXPECT_GE(files.size(), 20u);
  std::set<std::string> policies, cases;
  int permuted = 0;
  for (const std::string& f : files) {
    Scenario s = LoadOrFail(f);
    permuted += s.permute ? 1 : 0;
    Outcome o = RunScenario(s);
    for (const AuditRecord& a : o.audit) {
      if (!a.field.empty()) policies.insert(std::string(PolicyName(a.policy)));
    }
    for (const std::string& c : o.cases) cases.insert(c);
  }
  EXPECT_EQ(policies, (std::set<std::string>{"owner_wins", "last_writer_wins", "first_writer_wins",
                                             "manual", "delta"}));
  EXPECT_EQ(cases, (std::set<std::string>{"insert_exists", "update_missing", "delete_missing",
                                          "update_after_delete", "locked_edit"}));
  EXPECT_GE(permuted, 5);
}

TEST(ConflictScenarios, MalformedScenarioNamesFileAndLine) {
  const std::string bad =
      "name: bad\n"
      "entity: customer\n"
      "ownership:\n"
      "  customer:\n"
      "    default: { owner: crm }\n"
      "systems: { crm: [name], erp: [name] }\n"
      "changes:\n"
      "  - { system: crm, op: upsert, at: 1, after: { name: x } }\n"
      "expect: { canonical: {}, systems: { crm: absent, erp: absent } }\n";
  Result<Scenario> s = LoadScenario(bad, "bad.yaml");
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.status().message().find("bad.yaml:8:"), std::string::npos) << s.status().message();
  EXPECT_NE(s.status().message().find("upsert"), std::string::npos);

  Result<Scenario> syntax = LoadScenario("name: x\nchanges: [\n  - {\n", "broken.yaml");
  ASSERT_FALSE(syntax.ok());
  EXPECT_NE(syntax.status().message().find("broken.yaml:"), std::string::npos);

  Result<Scenario> rules = LoadScenario(
      "name: x\nentity: customer\nownership:\n  customer:\n    default: { policy: newest }\n"
      "systems: { crm: [name], erp: [name] }\nchanges: []\nexpect: {}\n",
      "rules.yaml");
  ASSERT_FALSE(rules.ok());
  EXPECT_NE(rules.status().message().find("rules.yaml:5:"), std::string::npos) << rules.status().message();

  Result<Scenario> field = LoadScenario(
      "name: x\nentity: customer\nownership:\n  customer: {}\n"
      "systems: { crm: [name], erp: [name] }\n"
      "changes:\n  - { system: erp, at: 1, after: { credit_limit: 5 } }\n"
      "expect: { canonical: {}, systems: { crm: absent, erp: absent } }\n",
      "field.yaml");
  ASSERT_FALSE(field.ok());
  EXPECT_NE(field.status().message().find("field.yaml:7:"), std::string::npos) << field.status().message();
}

}  // namespace
}  // namespace handoff::conflict::testing
