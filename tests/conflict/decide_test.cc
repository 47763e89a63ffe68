// Unit tests of Decide: ownership, detection, every policy, every named case,
// locking, and determinism.
#include "handoff/conflict/decide.h"

#include <gtest/gtest.h>

namespace handoff::conflict {
namespace {

OwnershipRules Rules() {
  Result<OwnershipRules> r = ParseOwnershipRules(R"(
ownership:
  customer:
    default: { owner: crm, policy: owner_wins, non_owner: ignore }
    fields:
      payment_terms: { owner: erp }
      credit_limit: { owner: erp, non_owner: park }
      notes: { policy: last_writer_wins }
      industry: { policy: first_writer_wins }
      tax_region: { policy: manual }
      hours_used: { policy: delta }
  time_entry:
    default: { owner: psa }
    locked_when: { field: status, equals: approved }
    when_locked: { owner: erp, non_owner: park }
    cases: { update_missing: insert, delete_missing: park, insert_exists: ignore, update_after_delete: park }
)",
                                                 "test.yaml");
  EXPECT_TRUE(r.ok()) << r.status().ToString();
  return std::move(*r);
}

EntityState Customer() {
  EntityState s;
  s.entity = "customer";
  s.key = "c1";
  s.exists = true;
  s.fields["name"] = {"Acme", {"crm", 100, 1}};
  s.fields["payment_terms"] = {"net 30", {"erp", 100, 2}};
  s.fields["credit_limit"] = {"50000.00", {"erp", 100, 3}};
  s.fields["notes"] = {"vip", {"crm", 100, 4}};
  s.fields["industry"] = {"retail", {"crm", 100, 5}};
  s.fields["tax_region"] = {"EU", {"erp", 100, 6}};
  s.fields["hours_used"] = {"10.0", {"psa", 100, 7}};
  return s;
}

EntityChange Update(const std::string& system, int64_t t, FieldMap before, FieldMap after) {
  EntityChange c;
  c.entity = "customer";
  c.key = "c1";
  c.system = system;
  c.op = Op::kUpdate;
  c.commit_time_us = t;
  c.seq = static_cast<uint64_t>(t);
  c.has_before = true;
  c.before = std::move(before);
  c.after = std::move(after);
  return c;
}

const FieldDecision& Field(const Decision& d, const std::string& f) {
  for (const FieldDecision& x : d.fields) {
    if (x.field == f) return x;
  }
  static FieldDecision none{"<none>", FieldOutcome::kApplied, Policy::kOwnerWins, false};
  ADD_FAILURE() << "no decision for " << f;
  return none;
}

TEST(Decide, OwnerChangeApplies) {
  Decision d = Decide(Rules(), Customer(), Update("erp", 200, {{"payment_terms", "net 30"}},
                                                  {{"payment_terms", "net 45"}}));
  EXPECT_EQ(Field(d, "payment_terms").outcome, FieldOutcome::kApplied);
  EXPECT_EQ(d.state.fields["payment_terms"].value, "net 45");
  EXPECT_EQ(d.state.fields["payment_terms"].provenance, (FieldProvenance{"erp", 200, 200}));
  EXPECT_EQ(d.propagate, (FieldMap{{"payment_terms", "net 45"}}));
  EXPECT_TRUE(d.corrections.empty());
  EXPECT_TRUE(d.audit.empty());
  EXPECT_EQ(d.action, EntityAction::kUpsert);
}

TEST(Decide, UntouchedFieldsOfAFullRowAreSkipped) {
  Decision d = Decide(Rules(), Customer(),
                      Update("crm", 200, {{"name", "Acme"}, {"payment_terms", "net 10"}},
                             {{"name", "Acme Ltd"}, {"payment_terms", "net 10"}}));
  ASSERT_EQ(d.fields.size(), 1u);
  EXPECT_EQ(d.fields[0].field, "name");
  EXPECT_TRUE(d.audit.empty());
}

TEST(Decide, NonOwnerIgnoredIsAuditedAndCorrected) {
  Decision d = Decide(Rules(), Customer(), Update("crm", 200, {{"payment_terms", "net 30"}},
                                                  {{"payment_terms", "net 60"}}));
  EXPECT_EQ(Field(d, "payment_terms").outcome, FieldOutcome::kIgnoredNotOwner);
  EXPECT_EQ(d.state.fields["payment_terms"].value, "net 30");
  EXPECT_TRUE(d.propagate.empty());
  EXPECT_EQ(d.corrections, (FieldMap{{"payment_terms", "net 30"}}));
  ASSERT_EQ(d.audit.size(), 1u);
  EXPECT_EQ(d.audit[0].before, "net 30");
  EXPECT_EQ(d.audit[0].incoming, "net 60");
  EXPECT_EQ(d.audit[0].current, "net 30");
  EXPECT_NE(d.audit[0].reason.find("owned by erp"), std::string::npos) << d.audit[0].reason;
  EXPECT_TRUE(d.exceptions.empty());
}

TEST(Decide, NonOwnerParkedGoesToExceptions) {
  Decision d = Decide(Rules(), Customer(), Update("crm", 200, {{"credit_limit", "50000.00"}},
                                                  {{"credit_limit", "90000.00"}}));
  EXPECT_EQ(Field(d, "credit_limit").outcome, FieldOutcome::kParked);
  EXPECT_EQ(d.state.fields["credit_limit"].value, "50000.00");
  ASSERT_EQ(d.exceptions.size(), 1u);
  EXPECT_EQ(d.exceptions[0].field, "credit_limit");
  EXPECT_EQ(d.exceptions[0].incoming, "90000.00");
  EXPECT_TRUE(d.corrections.empty());
}

TEST(Decide, OwnerWinsOverNonOwnerValueAndDropsItsOwnStaleChange) {
  EntityState s = Customer();
  s.fields["payment_terms"] = {"net 30", {"erp", 300, 9}};
  Decision stale = Decide(Rules(), s, Update("erp", 200, {{"payment_terms", "net 15"}},
                                             {{"payment_terms", "net 20"}}));
  EXPECT_EQ(Field(stale, "payment_terms").outcome, FieldOutcome::kKeptCurrent);
  EXPECT_EQ(stale.corrections, (FieldMap{{"payment_terms", "net 30"}}));
  s.fields["payment_terms"].provenance.system = "";  // loaded, no owner yet
  Decision owner = Decide(Rules(), s, Update("erp", 200, {{"payment_terms", "net 15"}},
                                             {{"payment_terms", "net 20"}}));
  EXPECT_EQ(Field(owner, "payment_terms").outcome, FieldOutcome::kApplied);
  EXPECT_TRUE(Field(owner, "payment_terms").conflict);
  EXPECT_EQ(owner.audit.size(), 1u);
}

TEST(Decide, LastWriterWinsByCommitTimeThenSystemName) {
  EntityState s = Customer();
  s.fields["notes"] = {"from erp", {"erp", 500, 9}};
  Decision older = Decide(Rules(), s, Update("crm", 400, {{"notes", "vip"}}, {{"notes", "from crm"}}));
  EXPECT_EQ(Field(older, "notes").outcome, FieldOutcome::kKeptCurrent);
  EXPECT_TRUE(Field(older, "notes").conflict);
  EXPECT_EQ(older.corrections, (FieldMap{{"notes", "from erp"}}));
  Decision newer = Decide(Rules(), s, Update("crm", 600, {{"notes", "vip"}}, {{"notes", "from crm"}}));
  EXPECT_EQ(Field(newer, "notes").outcome, FieldOutcome::kApplied);
  EXPECT_EQ(newer.conflicts, 1);
  EXPECT_EQ(newer.audit.size(), 1u);
  // Tie at 500: "crm" sorts before "erp" and wins; "psa" would not.
  Decision tie = Decide(Rules(), s, Update("crm", 500, {{"notes", "vip"}}, {{"notes", "tie"}}));
  EXPECT_EQ(Field(tie, "notes").outcome, FieldOutcome::kApplied);
  Decision tie2 = Decide(Rules(), s, Update("psa", 500, {{"notes", "vip"}}, {{"notes", "tie"}}));
  EXPECT_EQ(Field(tie2, "notes").outcome, FieldOutcome::kKeptCurrent);
}

TEST(Decide, DetectionWithoutBeforeImageComparesSourceTime) {
  EntityState s = Customer();
  s.fields["industry"] = {"retail", {"erp", 500, 9}};
  EntityChange late = Update("crm", 400, {}, {{"industry", "media"}});
  late.has_before = false;
  EXPECT_TRUE(Field(Decide(Rules(), s, late), "industry").conflict);
  EntityChange fresh = late;
  fresh.commit_time_us = 600;
  Decision d = Decide(Rules(), s, fresh);
  EXPECT_FALSE(Field(d, "industry").conflict);
  EXPECT_EQ(d.state.fields["industry"].value, "media");
}

TEST(Decide, FirstWriterWinsKeepsTheHeldValueOnConflict) {
  EntityState s = Customer();
  s.fields["industry"] = {"retail", {"erp", 500, 9}};
  Decision c = Decide(Rules(), s, Update("crm", 600, {{"industry", "tech"}}, {{"industry", "media"}}));
  EXPECT_EQ(Field(c, "industry").outcome, FieldOutcome::kKeptCurrent);
  EXPECT_EQ(c.state.fields["industry"].value, "retail");
  EXPECT_NE(c.audit.at(0).reason.find("first"), std::string::npos);
  // Not a conflict when the source saw the held value.
  Decision ok = Decide(Rules(), s, Update("crm", 600, {{"industry", "retail"}}, {{"industry", "media"}}));
  EXPECT_EQ(Field(ok, "industry").outcome, FieldOutcome::kApplied);
}

TEST(Decide, ManualParksConflictsOnly) {
  EntityState s = Customer();
  Decision c = Decide(Rules(), s, Update("crm", 600, {{"tax_region", "US"}}, {{"tax_region", "UK"}}));
  EXPECT_EQ(Field(c, "tax_region").outcome, FieldOutcome::kParked);
  ASSERT_EQ(c.exceptions.size(), 1u);
  EXPECT_EQ(c.exceptions[0].current, "EU");
  EXPECT_EQ(c.state.fields["tax_region"].value, "EU");
  Decision ok = Decide(Rules(), s, Update("crm", 600, {{"tax_region", "EU"}}, {{"tax_region", "UK"}}));
  EXPECT_EQ(Field(ok, "tax_region").outcome, FieldOutcome::kApplied);
  EXPECT_TRUE(ok.exceptions.empty());
}

TEST(Decide, DeltaMergesConcurrentAdditionsExactly) {
  EntityState s = Customer();  // hours_used 10.0 (psa)
  // crm saw 8.5 and added 0.25 while psa had moved it to 10.0.
  Decision d = Decide(Rules(), s, Update("crm", 600, {{"hours_used", "8.5"}}, {{"hours_used", "8.75"}}));
  EXPECT_EQ(Field(d, "hours_used").outcome, FieldOutcome::kMerged);
  EXPECT_EQ(d.state.fields["hours_used"].value, "10.25");
  EXPECT_EQ(d.propagate["hours_used"], "10.25");
  EXPECT_EQ(d.corrections["hours_used"], "10.25");
  // Sequential change: the value is taken as is.
  Decision seq = Decide(Rules(), s, Update("crm", 600, {{"hours_used", "10.0"}}, {{"hours_used", "12"}}));
  EXPECT_EQ(seq.state.fields["hours_used"].value, "12");
  // Equal after-value can still carry an amount.
  Decision same = Decide(Rules(), s, Update("crm", 600, {{"hours_used", "9.0"}}, {{"hours_used", "10.0"}}));
  EXPECT_EQ(same.state.fields["hours_used"].value, "11.0");
  // No before-image: cannot merge, parked.
  EntityChange nb = Update("crm", 600, {}, {{"hours_used", "3"}});
  nb.has_before = false;
  EXPECT_EQ(Field(Decide(Rules(), s, nb), "hours_used").outcome, FieldOutcome::kParked);
  // Not a number: parked.
  Decision bad = Decide(Rules(), s, Update("crm", 600, {{"hours_used", "8"}}, {{"hours_used", "lots"}}));
  EXPECT_EQ(Field(bad, "hours_used").outcome, FieldOutcome::kParked);
}

EntityState TimeEntry(bool locked) {
  EntityState s;
  s.entity = "time_entry";
  s.key = "t1";
  s.exists = true;
  s.locked = locked;
  s.fields["hours"] = {"8", {"psa", 100, 1}};
  s.fields["status"] = {locked ? "approved" : "submitted", {"psa", 100, 1}};
  return s;
}

EntityChange TeChange(const std::string& system, Op op, int64_t t, FieldMap after) {
  EntityChange c;
  c.entity = "time_entry";
  c.key = "t1";
  c.system = system;
  c.op = op;
  c.commit_time_us = t;
  c.seq = 1;
  c.after = std::move(after);
  return c;
}

TEST(Decide, ApprovalLocksAndLaterPsaEditIsParked) {
  Decision approve = Decide(Rules(), TimeEntry(false),
                            TeChange("psa", Op::kUpdate, 200, {{"status", "approved"}}));
  EXPECT_TRUE(approve.state.locked);
  EXPECT_EQ(approve.named_case, NamedCase::kNone);
  Decision edit = Decide(Rules(), approve.state, TeChange("psa", Op::kUpdate, 300, {{"hours", "9"}}));
  EXPECT_EQ(edit.named_case, NamedCase::kLockedEdit);
  EXPECT_EQ(Field(edit, "hours").outcome, FieldOutcome::kParked);
  EXPECT_EQ(edit.state.fields["hours"].value, "8");
  ASSERT_EQ(edit.exceptions.size(), 1u);
  EXPECT_NE(edit.exceptions[0].reason.find("locked"), std::string::npos);
  Decision erp = Decide(Rules(), approve.state,
                        TeChange("erp", Op::kUpdate, 300, {{"posted_at", "2026-12-01T00:00:00Z"}}));
  EXPECT_EQ(Field(erp, "posted_at").outcome, FieldOutcome::kApplied);
  EXPECT_TRUE(erp.exceptions.empty());
  Decision del = Decide(Rules(), approve.state, TeChange("psa", Op::kDelete, 300, {}));
  EXPECT_EQ(del.named_case, NamedCase::kLockedEdit);
  EXPECT_FALSE(del.state.deleted);
}

TEST(Decide, NamedCasesFollowConfiguration) {
  OwnershipRules rules = Rules();
  // update_missing: insert (configured) -> creates the entity.
  Decision um = Decide(rules, EntityState{}, TeChange("psa", Op::kUpdate, 100, {{"hours", "8"}}));
  EXPECT_EQ(um.named_case, NamedCase::kUpdateMissing);
  EXPECT_TRUE(um.state.exists);
  EXPECT_EQ(um.state.fields["hours"].value, "8");
  // insert_exists: ignore.
  Decision ie = Decide(rules, TimeEntry(false), TeChange("psa", Op::kInsert, 200, {{"hours", "9"}}));
  EXPECT_EQ(ie.named_case, NamedCase::kInsertExists);
  EXPECT_EQ(ie.state, TimeEntry(false));
  ASSERT_EQ(ie.audit.size(), 1u);
  EXPECT_EQ(ie.audit[0].outcome, FieldOutcome::kIgnored);
  // delete_missing: park.
  Decision dm = Decide(rules, EntityState{}, TeChange("psa", Op::kDelete, 100, {}));
  EXPECT_EQ(dm.named_case, NamedCase::kDeleteMissing);
  EXPECT_EQ(dm.exceptions.size(), 1u);
  // update_after_delete: park; older than the delete: dropped.
  Decision del = Decide(rules, TimeEntry(false), TeChange("psa", Op::kDelete, 200, {}));
  EXPECT_TRUE(del.state.deleted);
  EXPECT_EQ(del.action, EntityAction::kDelete);
  Decision uad = Decide(rules, del.state, TeChange("psa", Op::kUpdate, 300, {{"hours", "7"}}));
  EXPECT_EQ(uad.named_case, NamedCase::kUpdateAfterDelete);
  EXPECT_EQ(uad.exceptions.size(), 1u);
  Decision late = Decide(rules, del.state, TeChange("psa", Op::kUpdate, 150, {{"hours", "7"}}));
  EXPECT_EQ(late.named_case, NamedCase::kUpdateAfterDelete);
  EXPECT_TRUE(late.exceptions.empty());
  EXPECT_TRUE(late.state.deleted);
}

TEST(Decide, DefaultNamedCaseOutcomes) {
  OwnershipRules rules = Rules();  // customer: built-in defaults
  EntityChange ins = Update("crm", 200, {}, {{"name", "Acme Two"}});
  ins.op = Op::kInsert;
  ins.has_before = false;
  Decision ie = Decide(rules, Customer(), ins);  // upsert
  EXPECT_EQ(ie.named_case, NamedCase::kInsertExists);
  EXPECT_EQ(ie.state.fields["name"].value, "Acme Two");
  EntityChange del = ins;
  del.op = Op::kDelete;
  Decision gone = Decide(rules, Customer(), del);
  EXPECT_TRUE(gone.state.deleted);
  Decision again = Decide(rules, gone.state, del);  // delete_missing: ignore
  EXPECT_EQ(again.named_case, NamedCase::kDeleteMissing);
  EXPECT_TRUE(again.exceptions.empty());
  EXPECT_EQ(again.state, gone.state);
  ins.commit_time_us = 300;
  Decision uad = Decide(rules, gone.state, ins);  // update_after_delete: ignore
  EXPECT_TRUE(uad.state.deleted);
}

TEST(Decide, NonOwnerDeleteIsIgnoredAndRestored) {
  EntityChange del = Update("erp", 200, {}, {});
  del.op = Op::kDelete;
  Decision d = Decide(Rules(), Customer(), del);
  EXPECT_FALSE(d.state.deleted);
  EXPECT_EQ(d.corrections.size(), Customer().fields.size());
  EXPECT_EQ(d.audit.at(0).outcome, FieldOutcome::kIgnoredNotOwner);
}

TEST(Decide, UnknownEntityIsParkedWhole) {
  EntityChange c = Update("crm", 1, {}, {{"x", "1"}});
  c.entity = "widget";
  Decision d = Decide(Rules(), EntityState{}, c);
  ASSERT_EQ(d.exceptions.size(), 1u);
  EXPECT_FALSE(d.state.exists);
}

TEST(Decide, SameInputsSameDecision) {
  EntityChange c = Update("crm", 600, {{"notes", "x"}, {"payment_terms", "a"}, {"hours_used", "1"}},
                          {{"notes", "y"}, {"payment_terms", "b"}, {"hours_used", "2"}});
  Decision a = Decide(Rules(), Customer(), c), b = Decide(Rules(), Customer(), c);
  EXPECT_EQ(a.state, b.state);
  EXPECT_EQ(a.propagate, b.propagate);
  ASSERT_EQ(a.audit.size(), b.audit.size());
  for (size_t i = 0; i < a.audit.size(); ++i) EXPECT_EQ(a.audit[i].reason, b.audit[i].reason);
}

}  // namespace
}  // namespace handoff::conflict
