// The default pack: real-shaped change events from crm.accounts and
// psa.time_entries mapped to canonical changes and back to ERP rows.
#include "handoff/schemas/model.h"

#include <gtest/gtest.h>

#include "handoff/schemas/pg_text.h"

namespace handoff::schemas {
namespace {

const char* kPack = HANDOFF_SOURCE_DIR "/schemas/pack";

Column Text(const std::string& name, uint32_t oid, const std::string& value) {
  return Column{name, oid, Column::Kind::kText, value};
}
Column Null(const std::string& name, uint32_t oid) { return Column{name, oid, Column::Kind::kNull, ""}; }

ChangeEvent Event(const std::string& schema_table, Op op, std::vector<Column> after, std::vector<Column> before = {}) {
  ChangeEvent ev;
  ev.source = "src";
  ev.schema = schema_table.substr(0, schema_table.find('.'));
  ev.table = schema_table.substr(schema_table.find('.') + 1);
  ev.op = op;
  ev.commit_time_us = 1793483999000000;
  ev.after = std::move(after);
  ev.has_before = !before.empty();
  ev.before = std::move(before);
  return ev;
}

std::vector<Column> AccountRow(const std::string& name) {
  return {Text("id", pg_oid::kInt8, "42"),
          Text("name", pg_oid::kText, name),
          Text("industry", pg_oid::kText, "Maschinenbau"),
          Text("owner_email", pg_oid::kText, " Jana.Krüger@Example.com "),
          Text("legal_entity", pg_oid::kText, "Müller Beratung GmbH"),
          Text("tax_region", pg_oid::kText, "DE-BY"),
          Text("payment_terms", pg_oid::kText, "net_30"),
          Null("billing_status", pg_oid::kText),
          Text("updated_at", pg_oid::kTimestamptz, "2026-10-31 23:59:59.123456+02")};
}

std::vector<Column> TimeEntryRow(const std::string& status, const char* approved_at) {
  return {Text("id", pg_oid::kInt8, "3003"),
          Text("consultant_id", pg_oid::kInt4, "7"),
          Text("project_code", pg_oid::kText, "PRJ-1003"),
          Text("task_code", pg_oid::kText, "T3"),
          Text("work_date", pg_oid::kDate, "2026-10-31"),
          Text("hours", pg_oid::kNumeric, "7.50"),
          Text("billable", pg_oid::kBool, "t"),
          Text("status", pg_oid::kText, status),
          Text("notes", pg_oid::kText, "Workshop für Überleitung"),
          approved_at ? Text("approved_at", pg_oid::kTimestamptz, approved_at) : Null("approved_at", pg_oid::kTimestamptz),
          Text("updated_at", pg_oid::kTimestamptz, "2026-10-31 23:59:59.123456+02")};
}

// A tiny in-memory entity state standing in for the engine's.
struct FakeState {
  std::vector<EntityRecord> records;  // entity name in key prefix
  LookupFn Fn() const {
    return [this](const std::string& entity, const Xref& ref) -> std::optional<EntityRecord> {
      for (const auto& r : records) {
        if (r.key.rfind(entity + ":", 0) != 0) continue;
        if (ref.system.empty() ? r.key == ref.id
                               : std::find(r.xrefs.begin(), r.xrefs.end(), ref) != r.xrefs.end()) {
          return r;
        }
      }
      return std::nullopt;
    };
  }
};

FakeState DemoState() {
  FakeState s;
  s.records.push_back({"consultant:psa:7",
                       {{"email", "consultant7@example.com"}, {"name", "Émile Müller"}, {"role", "consultant"},
                        {"cost_center", "CC-101"}, {"active", "true"}},
                       {{"psa", "consultants", "7"}}});
  s.records.push_back({"project:PRJ-1003", {{"code", "PRJ-1003"}, {"status", "open"}}, {{"psa", "projects", "3"}}});
  s.records.push_back({"task:PRJ-1003/T3",
                       {{"project", "project:PRJ-1003"}, {"code", "T3"}, {"active", "true"}, {"billable", "true"}},
                       {{"psa", "tasks", "33"}}});
  return s;
}

class PackTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto m = LoadModel(kPack);
    ASSERT_TRUE(m.ok()) << m.status().message();
    model_ = std::move(*m);
  }
  Model model_;
};

TEST_F(PackTest, LoadsEveryEntityAndDemoTable) {
  for (const char* e : {"customer", "engagement", "project", "task", "consultant", "rate_card", "time_entry",
                        "expense", "invoice", "payment", "invoice_line", "billing_milestone"}) {
    EXPECT_NE(model_.FindEntity(e), nullptr) << e;
  }
  for (const char* t : {"accounts", "opportunities"}) EXPECT_NE(model_.FindSource("crm", t), nullptr) << t;
  for (const char* t : {"consultants", "projects", "tasks", "time_entries", "expenses"})
    EXPECT_NE(model_.FindSource("psa", t), nullptr) << t;
  for (const char* t : {"customers", "projects", "billing_schedules", "rate_cards", "labor_ledger", "invoices",
                        "invoice_lines", "payments"})
    EXPECT_NE(model_.FindSource("erp", t), nullptr) << t;
  EXPECT_EQ(model_.Systems(), (std::set<std::string>{"crm", "erp", "psa"}));
  EXPECT_EQ(model_.FieldsHeldBy("customer", "erp"),
            (std::vector<std::string>{"billing_status", "credit_limit", "currency", "legal_entity", "name",
                                      "payment_terms", "tax_region"}));
}

TEST_F(PackTest, CrmAccountToCustomerAndBackToErpRow) {
  auto ch = model_.MapSource(Event("public.accounts", Op::kInsert, AccountRow("Müller Beratung")), "crm", NoLookup());
  ASSERT_TRUE(ch.ok()) << ch.status().message();
  ASSERT_TRUE(ch->has_value());
  const EntityChange& c = **ch;
  EXPECT_EQ(c.entity, "customer");
  EXPECT_EQ(c.key, "customer:crm:42");
  EXPECT_EQ(c.system, "crm");
  EXPECT_EQ(c.op, Op::kInsert);
  EXPECT_EQ(c.commit_time_us, 1793483999000000);
  EXPECT_EQ(c.xrefs, (std::vector<Xref>{{"crm", "accounts", "42"}}));
  FieldMap want = {{"name", "Müller Beratung"},         {"industry", "Maschinenbau"},
                   {"owner", "jana.krüger@example.com"}, {"legal_entity", "Müller Beratung GmbH"},
                   {"tax_region", "DE-BY"},              {"payment_terms", "net_30"},
                   {"billing_status", std::nullopt}};
  EXPECT_EQ(c.after, want);
  EXPECT_FALSE(c.has_before);

  // ERP adds its own fields; the row keys on the CRM account id.
  FieldMap fields = c.after;
  fields["credit_limit"] = "250000.5";
  fields["currency"] = "EUR";
  auto row = model_.MapChange(c, "erp", NoLookup());
  ASSERT_TRUE(row.ok()) << row.status().message();
  ASSERT_TRUE(row->has_value());
  EXPECT_EQ((*row)->table, "customers");
  EXPECT_EQ((*row)->key_columns, (std::vector<std::string>{"crm_account_id"}));
  EXPECT_EQ((*row)->Find("crm_account_id")->value, "42");
  EXPECT_EQ((*row)->Find("name")->value, "Müller Beratung");
  EXPECT_EQ((*row)->Find("billing_status")->value, std::nullopt);  // NULL written
  EXPECT_EQ((*row)->Find("credit_limit"), nullptr);                 // absent: not written

  auto full = model_.MapTarget("customer", fields, "erp", TargetContext{c.key, c.xrefs, NoLookup()});
  ASSERT_TRUE(full.ok()) << full.status().message();
  EXPECT_EQ(full->Find("credit_limit")->value, "250000.50");  // exact, scale 2
  EXPECT_EQ(full->Find("credit_limit")->type_oid, pg_oid::kNumeric);
  EXPECT_EQ(full->Find("currency")->value, "EUR");

  // And the ERP row comes back as the same customer.
  auto back = model_.MapSource(Event("public.customers", Op::kUpdate,
                                     {Text("id", pg_oid::kInt4, "9"), Text("crm_account_id", pg_oid::kInt8, "42"),
                                      Text("name", pg_oid::kText, "Müller Beratung"),
                                      Text("credit_limit", pg_oid::kNumeric, "250000.50"),
                                      Text("currency", pg_oid::kText, "eur"),
                                      Text("payment_terms", pg_oid::kText, "net_45")}),
                               "erp", NoLookup());
  ASSERT_TRUE(back.ok()) << back.status().message();
  EXPECT_EQ((*back)->key, "customer:crm:42");
  EXPECT_EQ((*back)->xrefs, (std::vector<Xref>{{"erp", "customers", "9"}, {"crm", "accounts", "42"}}));
  EXPECT_EQ((*back)->after.at("currency"), "EUR");
  EXPECT_EQ((*back)->after.at("payment_terms"), "net_45");
}

TEST_F(PackTest, ErpCustomerWithoutCrmIdKeepsItsOwnKey) {
  auto ch = model_.MapSource(Event("public.customers", Op::kInsert,
                                   {Text("id", pg_oid::kInt4, "9"), Null("crm_account_id", pg_oid::kInt8),
                                    Text("name", pg_oid::kText, "Direct GmbH")}),
                             "erp", NoLookup());
  ASSERT_TRUE(ch.ok()) << ch.status().message();
  EXPECT_EQ((*ch)->key, "customer:erp:9");
}

TEST_F(PackTest, ApprovedTimeEntryToCanonicalAndLaborLedger) {
  FakeState state = DemoState();
  auto ev = Event("public.time_entries", Op::kUpdate, TimeEntryRow("approved", "2026-10-31 23:59:59.123456+02"),
                  TimeEntryRow("submitted", nullptr));
  auto ch = model_.MapSource(ev, "psa", state.Fn());
  ASSERT_TRUE(ch.ok()) << ch.status().message();
  ASSERT_TRUE(ch->has_value());
  EntityChange c = **ch;
  EXPECT_EQ(c.key, "time_entry:psa:3003");
  FieldMap want = {{"consultant", "consultant:psa:7"}, {"project", "project:PRJ-1003"},
                   {"task", "task:PRJ-1003/T3"},       {"work_date", "2026-10-31"},
                   {"hours", "7.50"},                  {"billable", "true"},
                   {"status", "approved"},             {"notes", "Workshop für Überleitung"},
                   {"approved_at", "2026-10-31T21:59:59.123456Z"}};
  EXPECT_EQ(c.after, want);
  ASSERT_TRUE(c.has_before);
  EXPECT_EQ(c.before.at("status"), "submitted");
  EXPECT_EQ(c.before.at("approved_at"), std::nullopt);
  EXPECT_TRUE(model_.Validate("time_entry", c.after, state.Fn()).empty());

  // Posting adds the rate and cost center (ERP-owned fields).
  c.after["rate"] = "123.45";
  c.after["currency"] = "EUR";
  c.after["cost_center"] = "CC-101";
  c.after["posted_at"] = "2026-11-01T08:00:00Z";
  auto row = model_.MapChange(c, "erp", state.Fn());
  ASSERT_TRUE(row.ok()) << row.status().message();
  ASSERT_TRUE(row->has_value());
  const TargetRow& r = **row;
  EXPECT_EQ(r.table, "labor_ledger");
  EXPECT_EQ(r.op, Op::kUpdate);
  std::vector<TargetColumn> want_cols = {
      {"time_entry_ref", "time_entry:psa:3003", pg_oid::kText},
      {"project_code", "PRJ-1003", pg_oid::kText},
      {"task_code", "T3", pg_oid::kText},
      {"consultant_email", "consultant7@example.com", pg_oid::kText},
      {"work_date", "2026-10-31", pg_oid::kDate},
      {"hours", "7.50", pg_oid::kNumeric},
      {"rate", "123.45", pg_oid::kNumeric},
      {"amount", "925.88", pg_oid::kNumeric},  // 7.50 * 123.45 = 925.875, half away from zero
      {"cost_center", "CC-101", pg_oid::kText},
      {"billable", "t", pg_oid::kBool},
      {"posted_at", "2026-11-01 08:00:00+00", pg_oid::kTimestamptz},
  };
  EXPECT_EQ(r.columns, want_cols);
}

TEST_F(PackTest, LaborLedgerOnlyWhenTimeBecomesApproved) {
  FakeState state = DemoState();
  auto map = [&](const char* before_status, const char* after_status) {
    auto ev = Event("public.time_entries", Op::kUpdate, TimeEntryRow(after_status, "2026-10-31 17:00:00+01"),
                    before_status ? TimeEntryRow(before_status, nullptr) : std::vector<Column>{});
    auto ch = model_.MapSource(ev, "psa", state.Fn());
    EXPECT_TRUE(ch.ok()) << ch.status().message();
    auto row = model_.MapChange(**ch, "erp", state.Fn());
    EXPECT_TRUE(row.ok()) << row.status().message();
    return row->has_value();
  };
  EXPECT_TRUE(map("submitted", "approved"));
  EXPECT_FALSE(map("approved", "approved"));   // an edit of an approved entry is not posted again
  EXPECT_FALSE(map("submitted", "submitted"));
  EXPECT_FALSE(map("approved", "rejected"));
  EXPECT_TRUE(map(nullptr, "approved"));       // no before image: the ledger's key makes it idempotent
}

TEST_F(PackTest, FailedLookupIsAReadableError) {
  auto ev = Event("public.time_entries", Op::kInsert, TimeEntryRow("draft", nullptr));
  auto ch = model_.MapSource(ev, "psa", NoLookup());
  ASSERT_FALSE(ch.ok());
  EXPECT_EQ(ch.status().code(), StatusCode::kNotFound);
  EXPECT_EQ(ch.status().message(),
            "time entry psa.time_entries 3003: consultant: consultant psa/consultants/7 is not known to handoff yet");
}

TEST_F(PackTest, UnconvertibleValueIsAReadableError) {
  auto row = TimeEntryRow("draft", nullptr);
  row[5] = Text("hours", pg_oid::kNumeric, "7.125");
  auto ch = model_.MapSource(Event("public.time_entries", Op::kInsert, row), "psa", DemoState().Fn());
  ASSERT_FALSE(ch.ok());
  EXPECT_EQ(ch.status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(ch.status().message(), "time entry psa.time_entries 3003: hours 7.125 has more than 2 decimal places");

  row = TimeEntryRow("pending", nullptr);
  ch = model_.MapSource(Event("public.time_entries", Op::kInsert, row), "psa", DemoState().Fn());
  ASSERT_FALSE(ch.ok());
  EXPECT_NE(ch.status().message().find("status \"pending\" is not one of: draft, submitted, approved, rejected"),
            std::string::npos)
      << ch.status().message();
}

TEST_F(PackTest, UnknownTableSystemAndIgnoredTable) {
  auto ch = model_.MapSource(Event("public.audit_log", Op::kInsert, {Text("id", 20, "1")}), "crm", NoLookup());
  ASSERT_FALSE(ch.ok());
  EXPECT_EQ(ch.status().code(), StatusCode::kNotFound);
  EXPECT_NE(ch.status().message().find("crm.public.audit_log is not mapped"), std::string::npos);
  EXPECT_FALSE(model_.MapSource(Event("public.accounts", Op::kInsert, AccountRow("x")), "hr", NoLookup()).ok());
  auto ignored = model_.MapSource(Event("public.handoff_applied", Op::kInsert, {Text("id", 20, "1")}), "crm", NoLookup());
  ASSERT_TRUE(ignored.ok());
  EXPECT_FALSE(ignored->has_value());
  auto commit = Event("public.accounts", Op::kCommit, {});
  EXPECT_FALSE(model_.MapSource(commit, "crm", NoLookup())->has_value());
}

TEST_F(PackTest, DeleteAndUnchangedToast) {
  auto del = Event("public.accounts", Op::kDelete, {}, {Text("id", pg_oid::kInt8, "42")});
  auto ch = model_.MapSource(del, "crm", NoLookup());
  ASSERT_TRUE(ch.ok()) << ch.status().message();
  EXPECT_EQ((*ch)->op, Op::kDelete);
  EXPECT_EQ((*ch)->key, "customer:crm:42");
  EXPECT_TRUE((*ch)->after.empty());

  auto row = AccountRow("Acme");
  row[2] = Column{"industry", pg_oid::kText, Column::Kind::kUnchangedToast, ""};
  ch = model_.MapSource(Event("public.accounts", Op::kUpdate, row), "crm", NoLookup());
  ASSERT_TRUE(ch.ok());
  EXPECT_EQ((*ch)->after.count("industry"), 0u);  // unknown, so not touched
}

TEST_F(PackTest, NaturalKeysAndKeyOf) {
  auto ch = model_.MapSource(Event("public.tasks", Op::kInsert,
                                   {Text("id", 23, "33"), Text("project_code", 25, "PRJ-1003"), Text("code", 25, "T3"),
                                    Text("name", 25, "Design"), Text("active", 16, "t"), Text("billable", 16, "f")}),
                             "psa", NoLookup());
  ASSERT_TRUE(ch.ok()) << ch.status().message();
  EXPECT_EQ((*ch)->key, "task:PRJ-1003/T3");
  EXPECT_EQ((*ch)->after.at("project"), "project:PRJ-1003");

  auto opp = model_.MapSource(
      Event("public.opportunities", Op::kInsert,
            {Text("id", 20, "501"), Text("account_id", 20, "42"), Text("name", 25, "Rollout"),
             Text("stage", 25, "Closed Won"), Text("amount", 1700, "120000.00"), Text("currency", 25, "eur"),
             Text("budget_hours", 1700, "800"), Text("start_date", 1082, "2026-11-01")}),
      "crm", NoLookup());
  ASSERT_TRUE(opp.ok()) << opp.status().message();
  EXPECT_EQ((*opp)->key, "engagement:crm:501");
  EXPECT_EQ((*opp)->after.at("customer"), "customer:crm:42");
  EXPECT_EQ((*opp)->after.at("stage"), "closed_won");
  EXPECT_EQ((*opp)->after.at("budget_hours"), "800.00");
}

TEST_F(PackTest, ValidationFailuresHaveReasons) {
  FakeState state = DemoState();
  state.records[0].fields["active"] = "false";      // consultant left
  state.records[1].fields["status"] = "closed";     // project closed
  FieldMap te = {{"consultant", "consultant:psa:7"}, {"project", "project:PRJ-1003"},
                 {"task", "task:PRJ-9/T1"},          {"work_date", "1999-12-31"},
                 {"hours", "25"},                    {"billable", "yes"},
                 {"status", "pending"},              {"rate", "100"},
                 {"colour", "blue"}};
  auto problems = model_.Validate("time_entry", te, state.Fn());
  std::vector<ValidationProblem> want = {
      {"colour", "field", "colour is not a field of time entry"},
      {"consultant", "ref_inactive", "consultant: consultant consultant:psa:7 is not active (active is false)"},
      {"project", "ref_inactive", "project: project project:PRJ-1003 is not open (status is closed)"},
      {"task", "ref_missing", "task: task task:PRJ-9/T1 does not exist"},
      {"work_date", "range", "work date 1999-12-31 is below the minimum of 2000-01-01"},
      {"hours", "range", "hours 25.00 is above the maximum of 24"},
      {"status", "enum", "status \"pending\" is not one of: draft, submitted, approved, rejected"},
      {"rate", "currency", "rate 100.00 has no currency (currency is empty)"},
  };
  EXPECT_EQ(problems, want);

  auto missing = model_.Validate("customer", {{"credit_limit", "-5"}, {"currency", "EUR"}}, NoLookup());
  EXPECT_EQ(missing, (std::vector<ValidationProblem>{{"name", "required", "name is required"},
                                                     {"credit_limit", "range",
                                                      "credit limit -5.00 is below the minimum of 0"}}));
  auto order = model_.Validate("rate_card",
                               {{"code", "STD"}, {"role", "manager"}, {"rate", "150"}, {"currency", "EUR"},
                                {"effective_from", "2026-01-01"}, {"effective_to", "2025-12-31"}},
                               NoLookup());
  EXPECT_EQ(order, (std::vector<ValidationProblem>{
                       {"effective_to", "order", "effective to 2025-12-31 is before effective from 2026-01-01"}}));
  EXPECT_EQ(model_.Validate("nope", {}, NoLookup()).size(), 1u);
}

TEST_F(PackTest, TargetKeyWithoutValueIsAnError) {
  auto row = model_.MapTarget("customer", {{"name", "Acme"}}, "erp");
  ASSERT_FALSE(row.ok());
  EXPECT_NE(row.status().message().find("key column crm_account_id"), std::string::npos) << row.status().message();
  auto bad = model_.MapTarget("customer", {{"credit_limit", "lots"}}, "erp", TargetContext{"customer:crm:1", {}, {}});
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("credit limit \"lots\" is not an exact decimal number"), std::string::npos)
      << bad.status().message();
  EXPECT_EQ(model_.MapTarget("customer", {}, "psa").status().code(), StatusCode::kNotFound);
}

}  // namespace
}  // namespace handoff::schemas
