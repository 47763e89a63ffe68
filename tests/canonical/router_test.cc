// CanonicalRouter without PostgreSQL: journal in, derived changes out.
#include "handoff/canonical/router.h"

#include "handoff/canonical/entity_codec.h"
#include "handoff/canonical/requests.h"
#include "handoff/canonical/store_keys.h"
#include "handoff/canonical/trace.h"
#include "canonical_fixture.h"

#include <gtest/gtest.h>

#include <fmt/format.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

namespace handoff {
namespace {

// The default pack's ownership (docs/DOMAIN.md §1): CRM owns the account's name,
// industry and owner; ERP its legal and finance fields.
Result<conflict::OwnershipRules> PackOwnership(const schemas::Model& model) {
  return testing::OwnershipFor(model, std::string(HANDOFF_SOURCE_DIR) + "/schemas/ownership.yaml");
}

using testing::Null;
using testing::Text;

class CanonicalRouterTest : public ::testing::Test {
 protected:
  void SetUp() override {
    temp_ = std::make_unique<testing::TempJournal>("handoff-canon");
    journal_ = temp_->get();
    ASSERT_NE(journal_, nullptr) << temp_->status().ToString();
    auto m = schemas::LoadModel(std::string(HANDOFF_SOURCE_DIR) + "/schemas/pack");
    ASSERT_TRUE(m.ok()) << m.status().ToString();
    model_ = std::move(m).value();
    auto r = PackOwnership(model_);
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    rules_ = std::move(r).value();
    MakeRouter(CanonicalRouterOptions{}.tombstone_retention_us);
  }
  void MakeRouter(int64_t tombstone_retention_us) {
    CanonicalRouterOptions ro;
    ro.journal = journal_;
    ro.model = &model_;
    ro.rules = &rules_;
    ro.systems = {"crm", "erp"};
    ro.tombstone_retention_us = tombstone_retention_us;
    ro.flows = flows_;
    auto cr = CanonicalRouter::Create(std::move(ro));
    ASSERT_TRUE(cr.ok());
    router_ = std::move(cr).value();
  }
  void TearDown() override {
    router_.reset();
    temp_.reset();
  }

  void AppendCrm(Op op, std::vector<Column> before, std::vector<Column> after) {
    Append("crm", "accounts", op, std::move(before), std::move(after));
  }
  // One row change of public.<table> and its commit, as capture journals them.
  void Append(const std::string& source, const std::string& table, Op op, std::vector<Column> before,
              std::vector<Column> after) {
    ChangeEvent ev;
    ev.source = source;
    ev.position = SourcePosition{++lsn_, 1};
    ev.xid = 1;
    ev.commit_time_us = 1000000 * static_cast<int64_t>(lsn_);
    ev.schema = "public";
    ev.table = table;
    ev.op = op;
    ev.key_columns = {"id"};
    ev.has_before = !before.empty();
    ev.before = std::move(before);
    ev.after = std::move(after);
    ChangeEvent commit;
    commit.source = source;
    commit.position = SourcePosition{lsn_, 2};
    commit.op = Op::kCommit;
    std::vector<AppendBatch> b{{source, commit.position, {ev, commit}}};
    ASSERT_TRUE(journal_->Append(b, nullptr).ok());
  }

  std::vector<JournalEntry> Derived() {
    std::vector<JournalEntry> all, out;
    EXPECT_TRUE(journal_->Read(1, 1000, &all).ok());
    for (auto& e : all)
      if (e.event.source.rfind("canonical.", 0) == 0) out.push_back(e);
    return out;
  }

  std::vector<Column> Account(const std::string& name, const std::string& terms) {
    return {Text("id", "42"), Text("name", name), Text("industry", "manufacturing"), Text("owner_email", "a@x.example"),
            Null("legal_entity"), Null("tax_region"), Text("payment_terms", terms), Null("billing_status")};
  }

  std::unique_ptr<testing::TempJournal> temp_;
  uint64_t lsn_ = 100;
  Journal* journal_ = nullptr;
  schemas::Model model_;
  conflict::OwnershipRules rules_;
  const schemas::Flows* flows_ = nullptr;
  std::unique_ptr<CanonicalRouter> router_;
};

TEST_F(CanonicalRouterTest, CrmInsertDerivesAnErpUpsertOnce) {
  AppendCrm(Op::kInsert, {}, Account("Acme", "net_30"));
  size_t n = 0;
  ASSERT_TRUE(router_->RunOnce(&n).ok());
  EXPECT_EQ(n, 2u);
  auto d = Derived();
  ASSERT_EQ(d.size(), 1u);
  const ChangeEvent& ev = d[0].event;
  EXPECT_EQ(ev.source, "canonical.erp");
  EXPECT_EQ(ev.table, "customers");
  const Column* key = ev.FindAfter("crm_account_id");
  ASSERT_NE(key, nullptr);
  EXPECT_EQ(key->data, "42");
  ASSERT_NE(ev.FindAfter("name"), nullptr);
  EXPECT_EQ(ev.FindAfter("name")->data, "Acme");
  // CRM does not own payment_terms: it is not sent to ERP.
  const Column* terms = ev.FindAfter("payment_terms");
  EXPECT_TRUE(terms == nullptr || terms->is_null() || terms->is_unchanged_toast());
  // Its own output and the position: nothing more to do, nothing derived twice.
  ASSERT_TRUE(router_->RunOnce(&n).ok());
  EXPECT_EQ(n, 1u);  // reads its derived event and skips it
  ASSERT_TRUE(router_->RunOnce(&n).ok());
  EXPECT_EQ(n, 0u);
  EXPECT_EQ(Derived().size(), 1u);
  auto state = journal_->GetMeta("entity:customer:crm:42");
  ASSERT_TRUE(state.ok() && state->has_value());
  conflict::EntityState s;
  ASSERT_TRUE(DecodeEntityState(**state, &s));
  EXPECT_EQ(EncodeEntityState(s), **state);
  EXPECT_TRUE(s.live());
  EXPECT_EQ(s.fields["name"].value, "Acme");
}

// Run() maps the next batch ahead on another thread. A mapping that asks for
// a lookup (a project names its customer by ERP id) must wait for its turn:
// the customers it names are stored by the batch routed meanwhile.
TEST_F(CanonicalRouterTest, ReadAheadLeavesLookupsToBeMappedInOrder) {
  constexpr int kRows = 300;  // 2 entries each (row and commit): 1,200 entries, three passes
  auto append_erp = [&](const std::string& table, std::vector<Column> after) {
    Append("erp", table, Op::kInsert, {}, std::move(after));
  };
  for (int i = 0; i < kRows; ++i)
    append_erp("customers", {Text("id", std::to_string(i)), Text("crm_account_id", std::to_string(1000 + i)),
                             Text("name", fmt::format("C{}", i)),
                             Null("legal_entity"), Null("tax_region"), Null("payment_terms"), Null("credit_limit"),
                             Null("currency"), Null("billing_status")});
  for (int i = 0; i < kRows; ++i)
    append_erp("projects", {Text("id", std::to_string(i)), Text("code", fmt::format("P{}", i)),
                            Text("customer_id", std::to_string(i)), Null("crm_opportunity_id"),
                            Null("contract_type"), Text("status", "open"), Null("budget_amount"), Null("currency"),
                            Null("cost_center")});
  const uint64_t last = journal_->LastSeq();
  Status run = Status::OK();
  std::thread routing([&] { run = router_->Run(); });
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  uint64_t routed = 0;
  while (std::chrono::steady_clock::now() < deadline) {
    auto applied = journal_->TargetApplied("canonical");
    if (applied.ok()) routed = *applied;
    if (routed >= last) break;
    journal_->WaitFor(journal_->LastSeq() + 1, std::chrono::milliseconds(20));
  }
  router_->Stop();
  routing.join();
  ASSERT_TRUE(run.ok()) << run.ToString();
  ASSERT_GE(routed, last) << "the router did not route the whole journal in time";
  auto open = journal_->Exceptions(ExceptionState::kOpen);
  ASSERT_TRUE(open.ok());
  EXPECT_TRUE(open->empty()) << (*open)[0].reason;
  for (int i : {0, 200, kRows - 1}) {
    auto v = journal_->GetMeta(fmt::format("entity:project:P{}", i));
    ASSERT_TRUE(v.ok() && v->has_value()) << "project P" << i;
    conflict::EntityState p;
    ASSERT_TRUE(DecodeEntityState(**v, &p));
    EXPECT_EQ(p.fields["customer"].value, fmt::format("customer:crm:{}", 1000 + i));
  }
}

// A pass whose commit does not fit the journal's map: the journal grows it
// and writes the pass again. What the pass wrote (derived changes, states,
// the trace naming each derived seq) is written once, whole.
TEST_F(CanonicalRouterTest, PassCommitThatGrowsTheJournalKeepsItsTrace) {
  constexpr int kAccounts = 150;
  for (int i = 1; i <= kAccounts; ++i) {
    std::vector<Column> a = Account(fmt::format("Account {}", i), "net_30");
    a[0] = Text("id", std::to_string(i));
    AppendCrm(Op::kInsert, {}, a);
  }
  // Unrouted rows until the map is nearly full, so the pass's commit is not.
  const std::string pad(2000, 'p');
  for (int i = 0; i < 100000; ++i) {
    JournalStats st = journal_->Stats();
    if (st.map_size - st.used_bytes < 40 * 1024) break;
    Append("crm", "padding", Op::kInsert, {}, {Text("id", std::to_string(i)), Text("v", pad)});
  }
  const uint64_t map_before = journal_->Stats().map_size;
  size_t n = 0;
  ASSERT_TRUE(router_->RunOnce(&n).ok());
  ASSERT_GT(journal_->Stats().map_size, map_before) << "the pass's commit did not grow the map";
  std::vector<JournalEntry> all;
  ASSERT_TRUE(journal_->Read(1, 1000000, &all).ok());
  size_t derived_events = 0;
  for (const auto& e : all) derived_events += e.event.source == "canonical.erp";
  EXPECT_EQ(derived_events, static_cast<size_t>(kAccounts));
  for (int i : {1, 77, kAccounts}) {
    auto t = ReadTrace(journal_, model_, rules_, fmt::format("crm:accounts:{}", i));
    ASSERT_TRUE(t.ok()) << t.status().ToString();
    int derived = 0;
    for (const TraceLine& l : t->lines) {
      if (l.step != "derived") continue;
      ++derived;
      EXPECT_EQ(l.target, "erp");
      EXPECT_GT(l.derived_seq, 0u);
    }
    EXPECT_EQ(derived, 1) << "account " << i;
  }
}

TEST_F(CanonicalRouterTest, ReprocessingAfterLostPositionDerivesNothingTwice) {
  AppendCrm(Op::kInsert, {}, Account("Acme", "net_30"));
  ASSERT_TRUE(router_->RunOnce().ok());
  // As if the position had not been stored: the same derived positions are duplicates.
  ASSERT_TRUE(journal_->PutMeta(kCanonicalSeqKey, "0").ok());
  ASSERT_TRUE(journal_->PutMeta("entity:customer:crm:42", "").ok());
  ASSERT_TRUE(router_->RunOnce().ok());
  EXPECT_EQ(Derived().size(), 1u);
}

TEST_F(CanonicalRouterTest, NonOwnerChangeIsAuditedAndCorrected) {
  AppendCrm(Op::kInsert, {}, Account("Acme", "net_30"));
  ASSERT_TRUE(router_->RunOnce().ok());
  AppendCrm(Op::kUpdate, Account("Acme", "net_30"), Account("Acme", "net_15"));
  const uint64_t seq = journal_->LastSeq() - 1;  // the update (then its commit)
  ASSERT_TRUE(router_->RunOnce().ok());
  auto audit = journal_->GetMeta(fmt::format("audit:{:020}:payment_terms", seq));
  ASSERT_TRUE(audit.ok());
  ASSERT_TRUE(audit->has_value()) << "no audit record for seq " << seq;
  EXPECT_NE((*audit)->find("\"system\":\"crm\""), std::string::npos) << **audit;
  EXPECT_NE((*audit)->find("net_15"), std::string::npos) << **audit;
  for (const auto& e : Derived()) {  // nothing derived for ERP from this change
    if (e.seq <= seq) continue;
    const Column* t = e.event.FindAfter("payment_terms");
    if (e.event.source == "canonical.erp") EXPECT_TRUE(t == nullptr || t->is_unchanged_toast());
  }
}

TEST_F(CanonicalRouterTest, RenameReachesErpAsAPartialUpdate) {
  AppendCrm(Op::kInsert, {}, Account("Acme", "net_30"));
  ASSERT_TRUE(router_->RunOnce().ok());
  AppendCrm(Op::kUpdate, Account("Acme", "net_30"), Account("Acme Holdings", "net_30"));
  ASSERT_TRUE(router_->RunOnce().ok());
  auto d = Derived();
  ASSERT_EQ(d.size(), 2u);
  const ChangeEvent& ev = d[1].event;
  EXPECT_EQ(ev.source, "canonical.erp");
  ASSERT_NE(ev.FindAfter("name"), nullptr);
  EXPECT_EQ(ev.FindAfter("name")->data, "Acme Holdings");
  ASSERT_NE(ev.FindAfter("legal_entity"), nullptr);
  EXPECT_TRUE(ev.FindAfter("legal_entity")->is_unchanged_toast());
}

// Tombstones leave at once, for the tests below.
class PackRouterTest : public CanonicalRouterTest {
 protected:
  void SetUp() override {
    CanonicalRouterTest::SetUp();
    MakeRouter(0);
  }
  void AppendOpportunity(const std::string& account_id) {
    ChangeEvent ev;
    ev.source = "crm";
    ev.position = SourcePosition{++lsn_, 1};
    ev.commit_time_us = 1000000 * static_cast<int64_t>(lsn_);
    ev.schema = "public";
    ev.table = "opportunities";
    ev.op = Op::kInsert;
    ev.key_columns = {"id"};
    ev.after = {Text("id", "7"), Text("account_id", account_id), Text("name", "Audit"), Text("stage", "Proposal"),
                Text("amount", "1000.00"), Text("currency", "EUR")};
    std::vector<AppendBatch> b{{"crm", ev.position, {ev}}};
    ASSERT_TRUE(journal_->Append(b, nullptr).ok());
  }
  std::optional<ExceptionRecord> Exception(uint64_t seq) {
    auto r = journal_->GetException("canonical", seq);
    EXPECT_TRUE(r.ok());
    return r.ok() ? *r : std::nullopt;
  }
  bool HasState(const std::string& key) {
    auto v = journal_->GetMeta("entity:" + key);
    return v.ok() && v->has_value();
  }
};

TEST_F(PackRouterTest, ValidationFailureIsParkedAndTheRestFlows) {
  AppendOpportunity("42");  // seq 1: its customer (account 42) is not known yet
  AppendCrm(Op::kInsert, {}, Account(std::string(201, 'x'), "net_30"));  // seq 2-3: name too long
  ASSERT_TRUE(router_->RunOnce().ok());
  auto x1 = Exception(1);
  ASSERT_TRUE(x1.has_value());
  EXPECT_EQ(x1->state, ExceptionState::kOpen);
  EXPECT_EQ(x1->code, "validation");
  EXPECT_NE(x1->reason.find("customer"), std::string::npos) << x1->reason;
  auto x2 = Exception(2);
  ASSERT_TRUE(x2.has_value());
  EXPECT_NE(x2->reason.find("name"), std::string::npos) << x2->reason;
  EXPECT_FALSE(HasState("engagement:crm:7"));
  EXPECT_FALSE(HasState("customer:crm:42"));
  EXPECT_TRUE(Derived().empty());
  // A manual retry of the bad name fails again; the record stays open with a note.
  ASSERT_TRUE(RequestCanonicalRetry(journal_, 2, "ops@firm.example").ok());
  ASSERT_TRUE(router_->RunOnce().ok());
  EXPECT_FALSE(CanonicalRetryPending(journal_, 2));
  x2 = Exception(2);
  ASSERT_TRUE(x2.has_value());
  EXPECT_EQ(x2->state, ExceptionState::kOpen);
  EXPECT_NE(x2->note.find("ops@firm.example"), std::string::npos) << x2->note;
}

TEST_F(PackRouterTest, ParkedChangeRetriesItselfWhenWhatItWaitsForArrives) {
  AppendOpportunity("42");
  ASSERT_TRUE(router_->RunOnce().ok());
  ASSERT_TRUE(Exception(1).has_value());
  AppendCrm(Op::kInsert, {}, Account("Acme", "net_30"));  // the customer arrives
  ASSERT_TRUE(router_->RunOnce().ok());                    // stores it, queues the retry
  EXPECT_TRUE(CanonicalRetryPending(journal_, 1));
  ASSERT_TRUE(router_->RunOnce().ok());  // runs the retry
  auto x = Exception(1);
  ASSERT_TRUE(x.has_value());
  EXPECT_EQ(x->state, ExceptionState::kRetried);
  EXPECT_NE(x->actor.find("handoff"), std::string::npos);
  EXPECT_TRUE(HasState("engagement:crm:7"));
  // A second retry of a closed record does nothing.
  ASSERT_TRUE(RequestCanonicalRetry(journal_, 1, "ops").ok());
  ASSERT_TRUE(router_->RunOnce().ok());
  EXPECT_EQ(Exception(1)->state, ExceptionState::kRetried);
  EXPECT_FALSE(CanonicalRetryPending(journal_, 1));
}

TEST_F(PackRouterTest, TombstonesLeaveAfterTheirWindow) {
  AppendCrm(Op::kInsert, {}, Account("Acme", "net_30"));
  AppendCrm(Op::kDelete, Account("Acme", "net_30"), {});
  ASSERT_TRUE(router_->RunOnce().ok());
  conflict::EntityState s;
  auto v = journal_->GetMeta("entity:customer:crm:42");
  ASSERT_TRUE(v.ok() && v->has_value());
  ASSERT_TRUE(DecodeEntityState(**v, &s));
  EXPECT_TRUE(s.deleted);
  auto kept = router_->SweepTombstones(s.deleted_at_us - 1);  // still inside the window
  ASSERT_TRUE(kept.ok());
  EXPECT_EQ(*kept, 0u);
  EXPECT_TRUE(HasState("customer:crm:42"));
  auto removed = router_->SweepTombstones(s.deleted_at_us + 1);
  ASSERT_TRUE(removed.ok());
  EXPECT_EQ(*removed, 1u);
  EXPECT_FALSE(HasState("customer:crm:42"));
  auto x = journal_->GetMeta("xref:customer:crm/accounts/42");
  ASSERT_TRUE(x.ok());
  EXPECT_FALSE(x->has_value());
  // The routine steps its state still held (insert, delete) are filed before it goes.
  EXPECT_FALSE(s.trace_tail.empty());
  size_t filed = 0;
  ASSERT_TRUE(journal_->ScanMeta("trace:customer:crm:42:", [&](std::string_view, std::string_view v) {
    filed += v.substr(0, 3) == "TR1";
    return true;
  }).ok());
  EXPECT_EQ(filed, 1u);
}

TEST_F(PackRouterTest, TraceFollowsARowToItsDerivedChanges) {
  AppendCrm(Op::kInsert, {}, Account("Acme", "net_30"));
  ASSERT_TRUE(router_->RunOnce().ok());
  AppendCrm(Op::kUpdate, Account("Acme", "net_30"), Account("Acme", "net_15"));  // CRM does not own terms
  ASSERT_TRUE(router_->RunOnce().ok());
  auto t = ReadTrace(journal_, model_, rules_, "crm:accounts:42");
  ASSERT_TRUE(t.ok()) << t.status().ToString();
  EXPECT_EQ(t->key, "customer:crm:42");
  EXPECT_EQ(t->root, "customer:crm:42");
  bool derived = false, audit = false;
  for (const TraceLine& l : t->lines) {
    if (l.step == "derived" && l.target == "erp" && l.table == "public.customers") {
      derived = true;
      EXPECT_GT(l.derived_seq, 0u);
      EXPECT_EQ(l.state, "pending");  // no target has applied it here
      EXPECT_EQ(l.row, "crm_account_id=42");
    }
    // The update's ignored payment_terms, with both images.
    if (l.step == "audit" && l.detail.find("payment_terms: crm sent \"net_15\" (it had \"net_30\")") == 0) {
      audit = true;
      EXPECT_NE(l.detail.find("ignored_not_owner"), std::string::npos) << l.detail;
    }
  }
  EXPECT_TRUE(derived);
  EXPECT_TRUE(audit);
  EXPECT_FALSE(ReadTrace(journal_, model_, rules_, "crm:accounts:999").ok());
}

// Routine steps (a decision and its derived writes, nothing else) are kept in
// the entity's state and filed as one record every few changes; the trace
// reads them back in journal order, with the seqs of the derived changes,
// beside the records of changes that were not routine.
TEST_F(PackRouterTest, RoutineStepsKeptInTheStateComeBackInOrder) {
  AppendCrm(Op::kInsert, {}, Account("Acme 0", "net_30"));
  ASSERT_TRUE(router_->RunOnce().ok());
  std::vector<Column> last = Account("Acme 0", "net_30");
  for (int i = 1; i <= 20; ++i) {
    // The seventh changes a field CRM does not own too (an audit step: filed as a record).
    std::vector<Column> next = Account(fmt::format("Acme {}", i), i == 7 ? "net_15" : "net_30");
    AppendCrm(Op::kUpdate, last, next);
    last = next;
    if (i % 3 == 0) ASSERT_TRUE(router_->RunOnce().ok());  // several changes in some passes
  }
  size_t n = 1;
  while (n > 0) ASSERT_TRUE(router_->RunOnce(&n).ok());
  // Where each source change's derived write went (derived position = source seq).
  std::map<uint64_t, uint64_t> derived_of;
  for (const JournalEntry& d : Derived()) derived_of[d.event.position.lsn] = d.seq;
  ASSERT_EQ(derived_of.size(), 21u);

  size_t folded_records = 0;
  ASSERT_TRUE(journal_->ScanMeta("trace:customer:crm:42:", [&](std::string_view, std::string_view v) {
    folded_records += v.substr(0, 3) == "TR1";
    return true;
  }).ok());
  EXPECT_GE(folded_records, 1u) << "no routine steps were filed as a record";
  auto state = journal_->GetMeta("entity:customer:crm:42");
  ASSERT_TRUE(state.ok() && state->has_value());
  conflict::EntityState s;
  ASSERT_TRUE(DecodeEntityState(**state, &s));
  EXPECT_EQ(EncodeEntityState(s), **state);

  auto t = ReadTrace(journal_, model_, rules_, "crm:accounts:42");
  ASSERT_TRUE(t.ok()) << t.status().ToString();
  std::vector<uint64_t> decided, derived;
  uint64_t prev = 0;
  bool audit = false;
  for (const TraceLine& l : t->lines) {
    EXPECT_GE(l.seq, prev) << "trace out of journal order at " << l.step << " " << l.detail;
    prev = l.seq;
    EXPECT_GT(l.at_us, 0) << l.step;
    if (l.step == "decided") {
      decided.push_back(l.seq);
      EXPECT_EQ(l.entity, "customer");
      EXPECT_EQ(l.key, "customer:crm:42");
      EXPECT_EQ(l.system, "crm");
      EXPECT_EQ(l.detail.rfind(decided.size() == 1 ? "insert customer:crm:42 at " : "update customer:crm:42 at ", 0), 0u)
          << l.detail;
      EXPECT_NE(l.detail.find("field(s) applied"), std::string::npos) << l.detail;
    }
    if (l.step == "derived") {
      derived.push_back(l.seq);
      EXPECT_EQ(l.target, "erp");
      EXPECT_EQ(l.table, "public.customers");
      EXPECT_EQ(l.row, "crm_account_id=42");
      EXPECT_EQ(l.detail, "write to erp public.customers");
      ASSERT_TRUE(derived_of.count(l.seq)) << l.seq;
      EXPECT_EQ(l.derived_seq, derived_of[l.seq]) << "derived seq of the change at " << l.seq;
      EXPECT_EQ(l.state, "pending");
    }
    audit |= l.step == "audit";
  }
  EXPECT_EQ(decided.size(), 21u);
  EXPECT_EQ(derived.size(), 21u);
  EXPECT_TRUE(audit);
  std::vector<uint64_t> sources;
  for (const auto& [seq, d] : derived_of) sources.push_back(seq);
  EXPECT_EQ(decided, sources);
  EXPECT_EQ(derived, sources);
}

// The pack's business flows (schemas/flows.yaml) over canonical states put
// straight into the journal.
class FlowRouterTest : public PackRouterTest {
 protected:
  void SetUp() override {
    auto f = schemas::LoadFlows(std::string(HANDOFF_SOURCE_DIR) + "/schemas/flows.yaml");
    ASSERT_TRUE(f.ok()) << f.status().ToString();
    loaded_flows_ = std::move(f).value();
    flows_ = &loaded_flows_;
    PackRouterTest::SetUp();
  }
  void PutState(const std::string& entity, const std::string& key, const std::map<std::string, std::string>& fields) {
    conflict::EntityState s;
    s.entity = entity;
    s.key = key;
    s.exists = true;
    for (const auto& [f, v] : fields) s.fields[f].value = v;
    ASSERT_TRUE(journal_->PutMeta("entity:" + key, EncodeEntityState(s)).ok());
  }
  // An approved, posted, billable time entry of October 2026.
  void PutTimeEntry(const std::string& key, const std::string& project, const std::string& hours) {
    PutState("time_entry", key,
             {{"project", project}, {"status", "approved"}, {"billable", "true"},
              {"posted_at", "2026-10-02T09:00:00Z"}, {"work_date", "2026-10-01"}, {"hours", hours},
              {"rate", "150.00"}, {"currency", "EUR"}, {"task", "task:PRJ/T1"}});
  }
  std::optional<std::string> Field(const std::string& key, const std::string& field) {
    auto v = journal_->GetMeta("entity:" + key);
    conflict::EntityState s;
    if (!v.ok() || !v->has_value() || !DecodeEntityState(**v, &s)) return std::nullopt;
    auto it = s.fields.find(field);
    return it == s.fields.end() ? std::nullopt : it->second.value;
  }
  schemas::Flows loaded_flows_;
};

// Hours that are no number must not be billed as 0 hours: that project gets no
// invoice and the billing run is parked naming the entry; the others are billed.
TEST_F(FlowRouterTest, BillingCloseParksAnUnparsableAmountInsteadOfBillingZero) {
  for (const char* code : {"PRJ-7", "PRJ-8"})
    PutState("project", std::string("project:") + code, {{"code", code}, {"currency", "EUR"}, {"status", "open"}});
  PutTimeEntry("time_entry:psa:1", "project:PRJ-7", "eight");
  PutTimeEntry("time_entry:psa:2", "project:PRJ-8", "2.50");
  auto seq = RequestBillingClose(journal_, "2026-10");
  ASSERT_TRUE(seq.ok()) << seq.status().ToString();
  ASSERT_TRUE(router_->RunOnce().ok());
  auto x = Exception(*seq);
  ASSERT_TRUE(x.has_value());
  EXPECT_EQ(x->code, "flow");
  EXPECT_NE(x->reason.find("no draft invoice for project:PRJ-7"), std::string::npos) << x->reason;
  EXPECT_NE(x->reason.find("hours of time entry time_entry:psa:1"), std::string::npos) << x->reason;
  EXPECT_NE(x->reason.find("\"eight\" is not an exact decimal number"), std::string::npos) << x->reason;
  EXPECT_FALSE(HasState("invoice:INV-2026-10-PRJ-7"));
  EXPECT_FALSE(journal_->GetMeta("flow:invoiced:time_entry:psa:1")->has_value());
  EXPECT_EQ(Field("invoice:INV-2026-10-PRJ-8", "subtotal"), "375.00");
  EXPECT_EQ(Field("invoice:INV-2026-10-PRJ-8", "total"), "375.00");  // no customer region: default rate 0.00
}

TEST(CanonicalRoutes, OneRoutePerTargetTable) {
  auto m = schemas::LoadModel(std::string(HANDOFF_SOURCE_DIR) + "/schemas/pack");
  ASSERT_TRUE(m.ok());
  bool erp_customers = false;
  for (const auto& r : CanonicalRoutes(*m))
    erp_customers |= r.from_source == "canonical.erp" && r.to_target == "erp" && r.to_table == "customers";
  EXPECT_TRUE(erp_customers);
}
}  // namespace
}  // namespace handoff
