// End to end: the professional-services flows of docs/DOMAIN.md §4 with the default
// pack (schemas/pack, schemas/ownership.yaml, schemas/flows.yaml) and the demo
// tables (ops/demo/*.sql) on a real PostgreSQL: an opportunity closes and its
// project appears in ERP and PSA; time is approved and posted at the
// effective-dated rate, the entries that must fail are parked with their
// reasons; a fixed customer is retried once; billing close drafts each invoice
// once; issuing and paying the invoice shows in CRM; the engine is killed in
// the middle and the final state is the same; the trace tells the story.
#include <signal.h>

#include <algorithm>
#include <chrono>
#include <fstream>
#include <functional>
#include <regex>
#include <sstream>
#include <thread>

#include <fmt/format.h>

#include "spine_fixture.h"

namespace handoff::testing {
namespace {


std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

class FlowsTest : public SpineTest {
 protected:
  // Open canonical exceptions as "seq|reason" lines.
  std::vector<std::pair<uint64_t, std::string>> OpenCanonical() {
    std::string out;
    Handoff({"exceptions", "list", "--config", config_, "--target", "canonical", "--json"}, &out);
    std::vector<std::pair<uint64_t, std::string>> list;
    std::regex re("\"seq\":([0-9]+).*?\"reason\":\"((?:[^\"\\\\]|\\\\.)*)\"");
    std::istringstream lines(out);
    std::string line;
    while (std::getline(lines, line)) {
      std::smatch m;
      if (std::regex_search(line, m, re)) list.emplace_back(std::stoull(m[1]), m[2]);
    }
    return list;
  }
  // Waits until `sql` in `db` prints `want`; returns what it printed last.
  ::testing::AssertionResult Eventually(const std::string& db, const std::string& sql, const std::string& want) {
    std::string got;
    bool ok = WaitUntil([&] {
      got = server_->Dump(db, sql);
      return got == want;
    });
    if (ok) return ::testing::AssertionSuccess();
    std::string open;
    for (const auto& [seq, reason] : OpenCanonical()) open += fmt::format("  {}: {}\n", seq, reason);
    return ::testing::AssertionFailure() << db << ": " << sql << "\n  want: " << want << "  got:  " << got
                                         << "\n--- open canonical exceptions ---\n" << open
                                         << "--- engine log ---\n" << LogTail();
  }
  void Exec(const std::string& db, const std::string& sql) {
    auto st = server_->Exec(db, sql);
    ASSERT_TRUE(st.ok()) << db << ": " << st.ToString();
  }
  std::string Run(const std::vector<std::string>& args, int want_rc = 0) {
    std::string out, err;
    int rc = Handoff(args, &out, &err);
    EXPECT_EQ(rc, want_rc) << "handoff " << fmt::format("{}", fmt::join(args, " ")) << "\n" << out << err;
    return out + err;
  }
  // Seqs of the open canonical exceptions whose reason mentions `needle`, ascending.
  std::vector<uint64_t> ExceptionSeqs(const std::string& needle) {
    std::vector<uint64_t> seqs;
    for (const auto& [s, reason] : OpenCanonical())
      if (reason.find(needle) != std::string::npos) seqs.push_back(s);
    std::sort(seqs.begin(), seqs.end());
    return seqs;
  }
  std::optional<uint64_t> WaitForException(const std::string& needle) {
    std::optional<uint64_t> seq;
    WaitUntil([&] {
      for (const auto& [s, reason] : OpenCanonical())
        if (reason.find(needle) != std::string::npos) seq = s;
      return seq.has_value();
    });
    return seq;
  }
};

TEST_F(FlowsTest, OpportunityToInvoiceAndBack) {
  const std::string crm = name_ + "_crm", psa = name_ + "_psa", erp = name_ + "_erp";
  for (const auto& [db, file] : {std::pair{crm, "crm"}, {psa, "psa"}, {erp, "erp"}}) {
    ASSERT_TRUE(server_->CreateDatabase(db).ok());
    Exec(db, ReadFile(std::string(HANDOFF_SOURCE_DIR) + "/ops/demo/" + file + ".sql"));
  }
  // Seed: two customers (Globex lacks its legal entity and tax region in ERP),
  // rate card STD with a rate change on 2026-10-01, three consultants.
  Exec(crm, "INSERT INTO accounts (id, name, industry, owner_email) VALUES "
            "(42, 'Acme', 'manufacturing', 'sales@firm.example'), (43, 'Globex', 'energy', 'sales@firm.example')");
  Exec(erp, "INSERT INTO customers (id, crm_account_id, name, legal_entity, tax_region, payment_terms, currency) VALUES "
            "(900, 42, 'Acme', 'Acme GmbH', 'DE-BE', 'net_30', 'EUR'), (901, 43, 'Globex', NULL, NULL, 'net_30', 'EUR')");
  Exec(erp, "INSERT INTO rate_cards VALUES ('STD', 'consultant', 150.00, 'EUR', '2026-01-01', '2026-09-30'), "
            "('STD', 'consultant', 160.00, 'EUR', '2026-10-01', NULL), ('STD', 'manager', 210.00, 'EUR', '2026-01-01', NULL)");
  Exec(psa, "INSERT INTO consultants VALUES (1, 'ann@firm.example', 'Ann', 'consultant', 'CC-ADV', true), "
            "(2, 'bob@firm.example', 'Bob', 'manager', 'CC-MGMT', true), (3, 'cy@firm.example', 'Cy', 'architect', 'CC-ARC', true)");
  Exec(crm, "INSERT INTO opportunities (id, account_id, name, stage, amount, currency, contract_type, service_line, "
            "rate_card_code, start_date, end_date, budget_hours) VALUES "
            "(100, 42, 'Acme ERP rollout', 'Proposal', 50000.00, 'EUR', 'fixed_fee', 'advisory', 'STD', '2026-10-01', "
            "'2026-12-31', 16), "
            "(101, 43, 'Globex audit', 'Negotiation', 8000.00, 'EUR', 'time_and_materials', 'advisory', 'STD', "
            "'2026-10-01', '2026-11-30', 40)");

  std::ofstream(dir_ + "/handoff.yaml")
      << "journal: { path: " << dir_ << "/journal }\n"
      << "canonical: { schemas: " << HANDOFF_SOURCE_DIR << "/schemas/pack, ownership: " << HANDOFF_SOURCE_DIR
      << "/schemas/ownership.yaml, flows: " << HANDOFF_SOURCE_DIR << "/schemas/flows.yaml }\n"
      << "sources:\n"
      << "  - { name: crm, kind: postgres, dsn: \"" << server_->Dsn(crm)
      << "\", tables: [public.accounts, public.opportunities], slot: " << name_ << "_crm, publication: " << name_
      << "_crm }\n"
      << "  - { name: psa, kind: postgres, dsn: \"" << server_->Dsn(psa)
      << "\", tables: [public.consultants, public.projects, public.tasks, public.time_entries, public.expenses], slot: "
      << name_ << "_psa, publication: " << name_ << "_psa }\n"
      << "  - { name: erp, kind: postgres, dsn: \"" << server_->Dsn(erp)
      << "\", tables: [public.customers, public.rate_cards, public.projects, public.billing_schedules, "
         "public.labor_ledger, public.invoices, public.invoice_lines, public.payments, public.billing_runs], slot: "
      << name_ << "_erp, publication: " << name_ << "_erp }\n"
      << "targets:\n"
      << "  - { name: crm, kind: postgres, dsn: \"" << server_->Dsn(crm) << "\" }\n"
      << "  - { name: psa, kind: postgres, dsn: \"" << server_->Dsn(psa) << "\" }\n"
      << "  - { name: erp, kind: postgres, dsn: \"" << server_->Dsn(erp) << "\" }\n";
  config_ = dir_ + "/handoff.yaml";
  Run({"config", "validate", "--config", config_});
  StartEngine();

  // Customer master: ERP's legal entity reaches CRM.
  ASSERT_TRUE(Eventually(crm, "SELECT id, legal_entity, tax_region FROM accounts ORDER BY id",
                         "42|Acme GmbH|DE-BE\n43|\\N|\\N\n"));

  // 1. Closed-won: the ERP project, its billing schedule and the PSA project.
  Exec(crm, "UPDATE opportunities SET stage = 'Closed Won', close_date = '2026-09-28' WHERE id = 100");
  ASSERT_TRUE(Eventually(erp, "SELECT code, customer_id, crm_opportunity_id, contract_type, status, budget_amount, "
                              "currency, cost_center FROM projects",
                         "PRJ-100|900|100|fixed_fee|open|50000.00|EUR|CC-ADV\n"));
  ASSERT_TRUE(Eventually(erp, "SELECT project_code, milestone, amount, due_date FROM billing_schedules ORDER BY due_date",
                         "PRJ-100|kickoff|15000.00|2026-10-01\nPRJ-100|acceptance|35000.00|2026-12-31\n"));
  ASSERT_TRUE(Eventually(psa, "SELECT code, name, crm_opportunity_id, status FROM projects",
                         "PRJ-100|Acme ERP rollout|100|open\n"));

  // 2. Globex closes without legal entity / tax region: parked with the reason, no project.
  Exec(crm, "UPDATE opportunities SET stage = 'Closed Won' WHERE id = 101");
  auto globex = WaitForException("Globex");
  ASSERT_TRUE(globex.has_value()) << LogTail();
  std::string reason;
  for (const auto& [s, r] : OpenCanonical())
    if (s == *globex) reason = r;
  EXPECT_NE(reason.find("customer Globex has no legal entity in ERP"), std::string::npos) << reason;
  EXPECT_NE(reason.find("customer Globex has no tax region in ERP"), std::string::npos) << reason;
  EXPECT_EQ(server_->Dump(erp, "SELECT count(*) FROM projects WHERE code = 'PRJ-101'"), "0\n");
  // Retry before the fix fails again and stays open.
  Run({"exceptions", "retry", "--config", config_, "--target", "canonical", "--seq", std::to_string(*globex)}, 1);
  // Finance fixes the customer; the retry completes it exactly once.
  Exec(erp, "UPDATE customers SET legal_entity = 'Globex SA', tax_region = 'FR-IDF' WHERE crm_account_id = 43");
  ASSERT_TRUE(Eventually(crm, "SELECT legal_entity FROM accounts WHERE id = 43", "Globex SA\n"));
  std::string out =
      Run({"exceptions", "retry", "--config", config_, "--target", "canonical", "--seq", std::to_string(*globex)});
  EXPECT_NE(out.find("applied"), std::string::npos) << out;
  ASSERT_TRUE(Eventually(erp, "SELECT code, customer_id, contract_type FROM projects WHERE code = 'PRJ-101'",
                         "PRJ-101|901|time_and_materials\n"));
  EXPECT_EQ(server_->Dump(erp, "SELECT count(*) FROM billing_schedules WHERE project_code = 'PRJ-101'"), "0\n");
  Run({"exceptions", "retry", "--config", config_, "--target", "canonical", "--seq", std::to_string(*globex)}, 1);

  // 3. Time: tasks, then entries approved in the PSA.
  Exec(psa, "INSERT INTO tasks VALUES (1, 'PRJ-100', 'T1', 'Design', true, true), "
            "(2, 'PRJ-100', 'T2', 'Legacy review', false, true)");
  Exec(psa, "INSERT INTO time_entries (id, consultant_id, project_code, task_code, work_date, hours, status) VALUES "
            "(1, 1, 'PRJ-100', 'T1', '2026-10-05', 4.00, 'submitted'), "   // posts at 160.00
            "(2, 1, 'PRJ-100', 'T1', '2026-09-30', 2.00, 'submitted'), "   // posts at 150.00 (effective dating)
            "(3, 2, 'PRJ-100', 'T2', '2026-10-06', 3.00, 'submitted'), "   // inactive task
            "(4, 3, 'PRJ-100', 'T1', '2026-10-06', 1.00, 'submitted'), "   // no rate for architects
            "(5, 2, 'PRJ-100', 'T1', '2026-10-07', 1.50, 'submitted')");   // manager: 210.00
  Exec(psa, "UPDATE time_entries SET status = 'approved', approved_at = now() WHERE id IN (1, 2, 3, 4, 5)");
  ASSERT_TRUE(Eventually(erp, "SELECT time_entry_ref, task_code, consultant_email, work_date, hours, rate, amount, "
                              "cost_center FROM labor_ledger ORDER BY time_entry_ref",
                         "time_entry:psa:1|T1|ann@firm.example|2026-10-05|4.00|160.00|640.00|CC-ADV\n"
                         "time_entry:psa:2|T1|ann@firm.example|2026-09-30|2.00|150.00|300.00|CC-ADV\n"
                         "time_entry:psa:5|T1|bob@firm.example|2026-10-07|1.50|210.00|315.00|CC-MGMT\n"));
  ASSERT_TRUE(WaitForException("rate card 'STD' has no rate for role 'architect' on 2026-10-06").has_value());
  // Entry 3 failed validation twice (its insert and its approval): task T2 is inactive.
  ASSERT_TRUE(WaitUntil([&] { return ExceptionSeqs("time_entry:psa:3").size() == 2; })) << LogTail();
  for (const auto& [s, reason] : OpenCanonical())
    if (reason.find("time_entry:psa:3") != std::string::npos)
      EXPECT_NE(reason.find("task task:PRJ-100/T2 is not active"), std::string::npos) << reason;
  // The PSA reactivates the task; retrying both changes, oldest first, posts the entry exactly once.
  Exec(psa, "UPDATE tasks SET active = true WHERE id = 2");
  const std::vector<uint64_t> entry3 = ExceptionSeqs("time_entry:psa:3");
  ASSERT_EQ(entry3.size(), 2u);
  // The task change is not visible in any target: retry until the router has read it.
  std::string retried;
  ASSERT_TRUE(WaitUntil([&] {
    retried.clear();
    return Handoff({"exceptions", "retry", "--config", config_, "--target", "canonical", "--seq",
                    std::to_string(entry3[0])},
                   &retried, &retried) == 0;
  })) << retried;
  retried = Run({"exceptions", "retry", "--config", config_, "--target", "canonical", "--seq", std::to_string(entry3[1])});
  EXPECT_NE(retried.find("applied"), std::string::npos) << retried;
  ASSERT_TRUE(Eventually(erp, "SELECT hours, rate, amount FROM labor_ledger WHERE time_entry_ref = 'time_entry:psa:3'",
                         "3.00|210.00|630.00\n"));
  Run({"exceptions", "retry", "--config", config_, "--target", "canonical", "--seq", std::to_string(entry3[1])}, 1);
  EXPECT_TRUE(ExceptionSeqs("time_entry:psa:3").empty());

  // The engine dies in the middle of the flow; a restart ends in the same state.
  Exec(psa, "INSERT INTO time_entries (id, consultant_id, project_code, task_code, work_date, hours, status, approved_at) "
            "VALUES (6, 1, 'PRJ-100', 'T1', '2026-10-08', 3.00, 'approved', now()), "
            "(7, 1, 'PRJ-100', 'T1', '2026-10-09', 4.00, 'approved', now())");  // 7 passes the 16 h budget
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  StopEngine(SIGKILL);
  StartEngine();
  ASSERT_TRUE(Eventually(erp, "SELECT time_entry_ref, hours, amount FROM labor_ledger ORDER BY time_entry_ref",
                         "time_entry:psa:1|4.00|640.00\ntime_entry:psa:2|2.00|300.00\n"
                         "time_entry:psa:3|3.00|630.00\ntime_entry:psa:5|1.50|315.00\n"
                         "time_entry:psa:6|3.00|480.00\n"));
  ASSERT_TRUE(WaitForException("project PRJ-100 would exceed its budget of 16.00 hours (13.50 approved so far + 4.00)")
                  .has_value())
      << LogTail();

  // An edit to an approved (locked) entry is a conflict, not an overwrite.
  Exec(psa, "UPDATE time_entries SET hours = 9.00 WHERE id = 1");
  ASSERT_TRUE(WaitForException("time_entry:psa:1").has_value()) << LogTail();
  EXPECT_EQ(server_->Dump(erp, "SELECT hours FROM labor_ledger WHERE time_entry_ref = 'time_entry:psa:1'"), "4.00\n");

  // 4. Billing close for October, twice: one invoice, the same lines.
  out = Run({"billing", "close", "--config", config_, "--period", "2026-10"});
  EXPECT_NE(out.find("INV-2026-10-PRJ-100"), std::string::npos) << out;
  const std::string invoice_sql =
      "SELECT number, customer_id, project_code, period_start, period_end, status, subtotal, tax, total, currency "
      "FROM invoices ORDER BY number";
  // 15000.00 kickoff + 640.00 + 630.00 + 315.00 + 480.00 = 17065.00; VAT 19% (DE-BE) = 3242.35.
  ASSERT_TRUE(Eventually(erp, invoice_sql,
                         "INV-2026-10-PRJ-100|900|PRJ-100|2026-10-01|2026-10-31|draft|17065.00|3242.35|20307.35|EUR\n"));
  const std::string lines_sql =
      "SELECT line_no, kind, coalesce(time_entry_ref, '-'), quantity, unit_price, amount FROM invoice_lines "
      "WHERE invoice_number = 'INV-2026-10-PRJ-100' ORDER BY line_no";
  const std::string want_lines =
      "1|milestone|-|1.00|15000.00|15000.00\n2|labor|time_entry:psa:1|4.00|160.00|640.00\n"
      "3|labor|time_entry:psa:3|3.00|210.00|630.00\n4|labor|time_entry:psa:5|1.50|210.00|315.00\n"
      "5|labor|time_entry:psa:6|3.00|160.00|480.00\n";
  ASSERT_TRUE(Eventually(erp, lines_sql, want_lines));
  Run({"billing", "close", "--config", config_, "--period", "2026-10"});
  std::this_thread::sleep_for(std::chrono::seconds(2));
  EXPECT_EQ(server_->Dump(erp, "SELECT count(*) FROM invoices"), "1\n");
  EXPECT_EQ(server_->Dump(erp, lines_sql), want_lines);
  // September through a billing_runs row captured like any change.
  Exec(erp, "INSERT INTO billing_runs (period) VALUES ('2026-09')");
  ASSERT_TRUE(Eventually(erp, "SELECT number, subtotal, tax, total FROM invoices WHERE period_start = '2026-09-01'",
                         "INV-2026-09-PRJ-100|300.00|57.00|357.00\n"));

  // 5. Finance issues the October invoice and is paid: CRM shows it.
  Exec(erp, "UPDATE invoices SET status = 'issued' WHERE number = 'INV-2026-10-PRJ-100'");
  ASSERT_TRUE(Eventually(crm, "SELECT billing_status FROM accounts WHERE id = 42", "invoiced\n"));
  ASSERT_TRUE(Eventually(crm, "SELECT billing_status FROM opportunities WHERE id = 100", "invoiced\n"));
  Exec(erp, "INSERT INTO payments (id, invoice_id, amount, paid_at, reference) SELECT 1, id, 10000.00, "
            "'2026-11-20 10:00+00', 'SEPA-1' FROM invoices WHERE number = 'INV-2026-10-PRJ-100'");
  ASSERT_TRUE(Eventually(crm, "SELECT billing_status FROM opportunities WHERE id = 100", "partially_paid\n"));
  Exec(erp, "INSERT INTO payments (id, invoice_id, amount, paid_at, reference) SELECT 2, id, 10307.35, "
            "'2026-11-25 10:00+00', 'SEPA-2' FROM invoices WHERE number = 'INV-2026-10-PRJ-100'");
  ASSERT_TRUE(Eventually(crm, "SELECT billing_status FROM accounts WHERE id = 42", "paid\n"));
  ASSERT_TRUE(Eventually(crm, "SELECT billing_status FROM opportunities WHERE id = 100", "paid\n"));
  // A re-issued invoice after the close does not change: billing close leaves issued invoices alone.
  Run({"billing", "close", "--config", config_, "--period", "2026-10"});
  EXPECT_EQ(server_->Dump(erp, "SELECT status, total FROM invoices WHERE number = 'INV-2026-10-PRJ-100'"),
            "issued|20307.35\n");

  // 6. Nothing was written twice and nothing loops.
  EXPECT_EQ(server_->Dump(erp, "SELECT count(*) FROM projects"), "2\n");
  EXPECT_EQ(server_->Dump(psa, "SELECT count(*) FROM projects"), "2\n");
  EXPECT_EQ(server_->Dump(erp, "SELECT count(*) FROM labor_ledger"), "5\n");

  // 7. The trace of the engagement: closed-won, provisioning, posting, invoice, payment.
  out = Run({"trace", "--config", config_, "crm:opportunities:100"});
  for (const char* want : {"project PRJ-100 provisioned", "public.projects (code=PRJ-100)", "public.billing_schedules",
                           "posted 4.00 h of ann@firm.example", "public.labor_ledger",
                           "draft invoice INV-2026-10-PRJ-100", "invoice INV-2026-10-PRJ-100 is issued",
                           "payments of 20307.35", ": applied"})
    EXPECT_NE(out.find(want), std::string::npos) << "missing '" << want << "' in\n" << out;
  std::string json = Run({"trace", "--config", config_, "crm:opportunities:100", "--json"});
  EXPECT_EQ(json.rfind("{\"ref\":\"crm:opportunities:100\",\"key\":\"engagement:crm:100\"", 0), 0u) << json;
  EXPECT_NE(json.find("\"state\":\"applied\""), std::string::npos);
  Run({"trace", "--config", config_, "crm:opportunities:999"}, 1);

  // 8. Reconciliation of October, read from the systems: every approved entry
  // is posted at its rate or parked with its reason, each posted billable entry
  // is on one invoice line, the invoice adds up, both won deals are provisioned.
  // Entries 1 (locked edit), 4 (no architect rate) and 7 (budget) are parked.
  out = Run({"reconcile", "--config", config_, "--period", "2026-10", "--format", "json"});
  auto count_of = [](const std::string& json, const std::string& check, const std::string& what) {
    std::smatch m;
    std::regex re("\\{\"check\":\"" + check + "\"[^\\[]*?\"" + what + "\":([0-9]+)");
    return std::regex_search(json, m, re) ? std::stoi(m[1]) : -1;
  };
  EXPECT_NE(out.find("\"breaks\":0,"), std::string::npos) << out;
  EXPECT_EQ(count_of(out, "time_posting", "checked"), 6) << out;
  EXPECT_EQ(count_of(out, "time_posting", "ok"), 3) << out;
  EXPECT_EQ(count_of(out, "time_posting", "parked"), 3) << out;
  EXPECT_EQ(count_of(out, "billing", "ok"), 4) << out;
  EXPECT_EQ(count_of(out, "invoice_totals", "ok"), 1) << out;
  EXPECT_EQ(count_of(out, "closed_won", "ok"), 2) << out;
  for (const char* want : {"\"key\":\"time_entry:psa:1\"", "\"key\":\"time_entry:psa:4\"",
                           "\"key\":\"time_entry:psa:7\"", "has no rate for role 'architect'",
                           "would exceed its budget", "\"checked_amount\":{\"EUR\":\"58000.00\"}"})
    EXPECT_NE(out.find(want), std::string::npos) << "missing " << want << " in\n" << out;

  // Behind handoff's back: a ledger row deleted, an invoice line edited. Exactly
  // those are reported, with their amounts; the engine's own reaction to the
  // edits (captured from erp) does not hide them.
  Exec(erp, "DELETE FROM labor_ledger WHERE time_entry_ref = 'time_entry:psa:5'");
  Exec(erp, "UPDATE invoice_lines SET amount = 500.00 WHERE invoice_number = 'INV-2026-10-PRJ-100' AND line_no = 5");
  ASSERT_TRUE(Eventually(erp, "SELECT count(*) FROM labor_ledger", "4\n"));
  const std::string csv = dir_ + "/2026-10.csv";
  std::string text;
  EXPECT_EQ(Handoff({"reconcile", "--config", config_, "--period", "2026-10"}, &text), 1) << text;
  EXPECT_EQ(Handoff({"reconcile", "--config", config_, "--period", "2026-10", "--format", "csv", "--output", csv}, &out),
            1)
      << out;
  std::vector<std::string> breaks;
  {
    std::istringstream lines(ReadFile(csv));
    std::string line;
    std::getline(lines, line);
    EXPECT_EQ(line, "period,check,state,key,row,currency,amount,difference,what,reason\r");
    while (std::getline(lines, line))
      if (line.find(",break,") != std::string::npos) breaks.push_back(line);
  }
  std::sort(breaks.begin(), breaks.end());
  ASSERT_EQ(breaks.size(), 4u) << text;
  // Lines are named by the ERP's own line id (the row) and by invoice and number (the text).
  EXPECT_EQ(breaks[0].rfind("2026-10,billing,break,time_entry:psa:5,erp:invoice_lines:", 0), 0u) << breaks[0];
  EXPECT_NE(breaks[0].find(",EUR,315.00,,\"line 4 of invoice INV-2026-10-PRJ-100 bills time_entry:psa:5 (1.50 h x "
                           "210.00 = 315.00), but it is not posted in erp\""),
            std::string::npos)
      << breaks[0];
  EXPECT_EQ(breaks[1].rfind("2026-10,billing,break,time_entry:psa:6,erp:invoice_lines:", 0), 0u) << breaks[1];
  EXPECT_NE(breaks[1].find(",EUR,480.00,20.00,\"line 5 of invoice INV-2026-10-PRJ-100: amount 500.00, posted "
                           "amount 480.00\""),
            std::string::npos)
      << breaks[1];
  EXPECT_EQ(breaks[2].rfind("2026-10,invoice_totals,break,invoice:INV-2026-10-PRJ-100,erp:invoices:", 0), 0u)
      << breaks[2];
  EXPECT_NE(breaks[2].find(",EUR,20307.35,-20.00,"), std::string::npos) << breaks[2];
  EXPECT_NE(breaks[2].find("subtotal 17065.00, its 5 line(s) sum to 17085.00"), std::string::npos) << breaks[2];
  EXPECT_EQ(breaks[3].rfind("2026-10,time_posting,break,time_entry:psa:5,psa:time_entries:5,EUR,315.00,,", 0), 0u)
      << breaks[3];
  EXPECT_NE(breaks[3].find("not posted in erp (expected 1.50 x 210.00 = 315.00)"), std::string::npos) << breaks[3];
  EXPECT_NE(text.find("4 break(s)"), std::string::npos) << text;
  // A period that is no month is refused.
  EXPECT_EQ(Handoff({"reconcile", "--config", config_, "--period", "2026-13"}, &out, &out), 2) << out;

  // Scheduled inside the engine (`reconcile:`, taken by a reload): the result
  // is kept and `handoff checks` shows it, with the breaks and their money.
  std::ofstream(config_, std::ios::app) << "reconcile: { every: 1h, first_after: 0s, periods: [2026-10] }\n";
  Run({"reload", "--config", config_});
  ASSERT_TRUE(WaitUntil([&] {
    Handoff({"checks", "--config", config_}, &out);
    return out.find("reconcile 2026-10: finished") != std::string::npos;
  })) << out << LogTail();
  EXPECT_NE(out.find(", 4 break(s); billing 4 checked, 2 ok, 2 break(s) 795.00 EUR, 0 parked, 0 waiting; closed_won 2 "
                     "checked, 2 ok, 0 break(s), 0 parked, 0 waiting; invoice_totals 1 checked, 0 ok, 1 break(s) "
                     "20307.35 EUR"),
            std::string::npos)
      << out;
}

}  // namespace
}  // namespace handoff::testing
