#include <gtest/gtest.h>

#include "handoff/conflict/ownership_rules.h"

namespace handoff::conflict {
namespace {

const char* kRules = R"(
ownership:
  customer:
    default: { owner: crm, policy: owner_wins, non_owner: ignore }
    fields:
      payment_terms: { owner: erp }
      credit_limit: { owner: erp, non_owner: park }
      notes: { policy: last_writer_wins }
      hours_used: { policy: delta }
      region: { owner: [erp, crm] }
  time_entry:
    default: { owner: psa }
    locked_when: { field: status, equals: [approved, invoiced] }
    when_locked: { owner: erp, non_owner: park }
    cases: { update_missing: insert, delete_missing: park, insert_exists: update, update_after_delete: park }
journal: { path: /ignored/by/this/parser }
)";

TEST(OwnershipRulesParser, ParsesTheDocumentedShape) {
  Result<OwnershipRules> r = ParseOwnershipRules(kRules, "handoff.yaml");
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  const EntityRules* c = r->Find("customer");
  ASSERT_NE(c, nullptr);
  EXPECT_EQ(c->default_rule.owners, std::vector<std::string>{"crm"});
  EXPECT_EQ(c->ForField("name").owners, std::vector<std::string>{"crm"});
  EXPECT_EQ(c->ForField("payment_terms").owners, std::vector<std::string>{"erp"});
  EXPECT_EQ(c->ForField("payment_terms").non_owner, NonOwnerAction::kIgnore);
  EXPECT_EQ(c->ForField("credit_limit").non_owner, NonOwnerAction::kPark);
  EXPECT_TRUE(c->ForField("notes").owners.empty());  // shared
  EXPECT_EQ(c->ForField("notes").policy, Policy::kLastWriterWins);
  EXPECT_EQ(c->ForField("hours_used").policy, Policy::kDelta);
  EXPECT_EQ(c->ForField("region").owners, (std::vector<std::string>{"crm", "erp"}));
  EXPECT_EQ(c->OutcomeFor(NamedCase::kDeleteMissing), CaseOutcome::kIgnore);  // built-in default
  EXPECT_FALSE(c->lock.has_value());

  const EntityRules* t = r->Find("time_entry");
  ASSERT_NE(t, nullptr);
  ASSERT_TRUE(t->lock.has_value());
  EXPECT_EQ(t->lock->field, "status");
  EXPECT_EQ(t->lock->owners, std::vector<std::string>{"erp"});
  EXPECT_TRUE(t->MatchesLock("invoiced"));
  EXPECT_FALSE(t->MatchesLock("submitted"));
  EXPECT_EQ(t->OutcomeFor(NamedCase::kUpdateMissing), CaseOutcome::kApply);
  EXPECT_EQ(t->OutcomeFor(NamedCase::kDeleteMissing), CaseOutcome::kPark);
  EXPECT_EQ(t->OutcomeFor(NamedCase::kUpdateAfterDelete), CaseOutcome::kPark);
  EXPECT_EQ(r->Find("invoice"), nullptr);
}

struct BadCase {
  const char* yaml;
  const char* where;  // "file:line:"
  const char* says;
};

class OwnershipRulesParserErrors : public ::testing::TestWithParam<BadCase> {};

TEST_P(OwnershipRulesParserErrors, NameFileAndLine) {
  Result<OwnershipRules> r = ParseOwnershipRules(GetParam().yaml, "rules.yaml");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
  const std::string& m = r.status().message();
  EXPECT_EQ(m.rfind(GetParam().where, 0), 0u) << m;
  EXPECT_NE(m.find(GetParam().says), std::string::npos) << m;
}

INSTANTIATE_TEST_SUITE_P(
    Cases, OwnershipRulesParserErrors,
    ::testing::Values(
        BadCase{"ownership:\n  custmer:\n    default: { owner: crm }\n", "rules.yaml:2:",
                "unknown entity \"custmer\""},
        BadCase{"ownership:\n  customer:\n    default: { owner: crm, policy: newest }\n",
                "rules.yaml:3:", "unknown policy \"newest\""},
        BadCase{"ownership:\n  customer:\n    default: { owner: crm }\n    fields:\n"
                "      notes: { polcy: manual }\n",
                "rules.yaml:5:", "unknown key \"polcy\""},
        BadCase{"ownership:\n  customer:\n    defaults: {}\n", "rules.yaml:3:", "unknown key \"defaults\""},
        BadCase{"ownership:\n  customer:\n    default: { non_owner: shout }\n", "rules.yaml:3:",
                "non_owner"},
        BadCase{"ownership:\n  time_entry:\n    cases: { delete_missing: apply }\n", "rules.yaml:3:",
                "unknown outcome"},
        BadCase{"ownership:\n  time_entry:\n    cases: { update_gone: park }\n", "rules.yaml:3:",
                "unknown case"},
        BadCase{"ownership:\n  time_entry:\n    when_locked: { owner: erp }\n", "rules.yaml:3:",
                "needs `locked_when`"},
        BadCase{"ownership:\n  customer: { default: [\n", "rules.yaml:", "end of"},
        BadCase{"journal: {}\n", "rules.yaml:1:", "no `ownership:` section"}));

TEST(OwnershipRulesParser, KnownEntitiesCanBeGiven) {
  Result<OwnershipRules> r =
      ParseOwnershipRules("ownership:\n  widget: {}\n", "w.yaml", {"widget"});
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_NE(r->Find("widget"), nullptr);
}

}  // namespace
}  // namespace handoff::conflict
