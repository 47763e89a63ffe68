// The flows file: the default one loads, and every problem of a broken one is
// reported with its line.
#include "handoff/schemas/flows.h"

#include "handoff/schemas/model.h"

#include <gtest/gtest.h>

#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <string>

namespace handoff::schemas {
namespace {

std::string Write(const std::string& text) {
  char name[] = "/tmp/handoff-flows-XXXXXX";
  int fd = mkstemp(name);
  EXPECT_GE(fd, 0);
  close(fd);
  std::ofstream(name) << text;
  return name;
}

TEST(FlowsTest, DefaultPackLoads) {
  auto f = LoadFlows(std::string(HANDOFF_SOURCE_DIR) + "/schemas/flows.yaml");
  ASSERT_TRUE(f.ok()) << f.status().ToString();
  ASSERT_TRUE(f->closed_won.has_value());
  EXPECT_EQ(f->closed_won->stage, "closed_won");
  EXPECT_EQ(f->closed_won->service_lines.at("advisory"), "CC-ADV");
  ASSERT_EQ(f->closed_won->milestones.at("fixed_fee").size(), 2u);
  EXPECT_EQ(f->closed_won->milestones.at("fixed_fee")[0].share, "0.30");
  ASSERT_TRUE(f->billing.has_value());
  EXPECT_EQ(f->billing->TaxRate("DE-BE"), "0.19");
  EXPECT_EQ(f->billing->TaxRate("XX-UNKNOWN"), "0.00");  // the default
  ASSERT_TRUE(f->billing_status.has_value());
  EXPECT_EQ(f->billing_status->invoice.at("issued"), "invoiced");
  ASSERT_TRUE(f->time_posting.has_value());
}

TEST(FlowsTest, EveryProblemIsReportedWithItsLine) {
  std::string path = Write(R"yaml(flows:
  closed_won:
    project_code: "P-{code}"
    milestones:
      fixed_fee:
        - { name: a, share: "0.5", due: start_date }
        - { name: b, share: "0.6", due: someday }
  billing:
    invoice_number: "INV-{period}"
    tax_rates: { DE: "1.5" }
  extra: {}
)yaml");
  auto f = LoadFlows(path);
  std::remove(path.c_str());
  ASSERT_FALSE(f.ok());
  const std::string m = f.status().message();
  EXPECT_NE(m.find(":3: closed_won.project_code must contain {id}"), std::string::npos) << m;
  EXPECT_NE(m.find(":7: closed_won.milestones.fixed_fee.b.due must be"), std::string::npos) << m;
  EXPECT_NE(m.find("shares add up to 1.1, not 1"), std::string::npos) << m;
  EXPECT_NE(m.find(":9: billing.invoice_number must contain {period} and {project}"), std::string::npos) << m;
  EXPECT_NE(m.find("billing.tax_rates.DE must be between 0 and 1"), std::string::npos) << m;
  EXPECT_NE(m.find(":11: unknown key \"extra\" in flows"), std::string::npos) << m;
}

// The bindings name the default pack's entities, fields and systems; the
// engine takes them from here.
TEST(FlowsTest, DefaultBindingsMatchTheDefaultPack) {
  auto f = LoadFlows(std::string(HANDOFF_SOURCE_DIR) + "/schemas/flows.yaml");
  ASSERT_TRUE(f.ok()) << f.status().ToString();
  EXPECT_EQ(f->closed_won->deal.entity, "engagement");
  EXPECT_EQ(f->closed_won->deal.stage, "stage");
  EXPECT_EQ(f->closed_won->project.entity, "project");
  EXPECT_EQ(f->closed_won->customer.required, (std::vector<std::string>{"legal_entity", "tax_region"}));
  EXPECT_EQ(f->time_posting->entry.entity, "time_entry");
  EXPECT_EQ(f->time_posting->rate_card.lookup.system, "erp");
  EXPECT_EQ(f->billing->run.starts, std::vector<std::string>{"requested"});
  EXPECT_EQ(f->billing->line.expense_kind, "expense");
  ASSERT_TRUE(f->billing->milestones.has_value());
  EXPECT_EQ(f->billing_status->payments.entity, "payment");
  // One lookup, shared by closed-won and time posting: the rate card's code.
  ASSERT_EQ(f->lookups.size(), 1u);
  EXPECT_EQ(f->lookups[0].entity, "rate_card");
  EXPECT_EQ(f->lookups[0].field, "code");
  auto m = LoadModel(std::string(HANDOFF_SOURCE_DIR) + "/schemas/pack");
  ASSERT_TRUE(m.ok()) << m.status().ToString();
  Status st = CheckFlows(*f, *m);
  EXPECT_TRUE(st.ok()) << st.ToString();
}

TEST(FlowsTest, MissingBindingKeyNamesTheFlowAndTheKey) {
  std::string path = Write(R"yaml(flows:
  time_posting:
    entry: { entity: time_entry, status: status, project: project, hours: hours, work_date: work_date }
    status: approved
    project: { status: status, open: open, code: code, deal: engagement }
    deal: { budget_hours: budget_hours, rate_card: rate_card }
    consultant: { role: role, cost_center: cost_center, email: email }
    rate_card: { entity: rate_card, field: code, role: role, from: effective_from, rate: rate, currency: currency }
)yaml");
  auto f = LoadFlows(path);
  std::remove(path.c_str());
  ASSERT_FALSE(f.ok());
  const std::string m = f.status().message();
  EXPECT_NE(m.find(":3: time_posting.entry: missing key \"consultant\""), std::string::npos) << m;
  EXPECT_NE(m.find(": time_posting: missing key \"posting\""), std::string::npos) << m;
}

TEST(FlowsTest, CheckFlowsNamesWhatThePackLacks) {
  auto f = LoadFlows(std::string(HANDOFF_SOURCE_DIR) + "/schemas/flows.yaml");
  auto m = LoadModel(std::string(HANDOFF_SOURCE_DIR) + "/schemas/pack");
  ASSERT_TRUE(f.ok() && m.ok());
  Flows bad = *f;
  bad.closed_won->deal.customer = "name";           // not a ref
  bad.closed_won->project.entity = "job";           // not an entity
  bad.time_posting->entry.hours = "minutes";        // not a field
  bad.time_posting->posting.system = "books";       // not a system
  bad.time_posting->project.deal = "customer";      // a ref, but the flow reads a deal's fields there
  bad.billing->invoice.draft = "pending";           // not a status
  Status st = CheckFlows(bad, *m);
  ASSERT_FALSE(st.ok());
  const std::string msg = st.message();
  EXPECT_NE(msg.find("flows: closed_won.deal.customer: engagement.name must be a ref field"), std::string::npos) << msg;
  EXPECT_NE(msg.find("flows: closed_won.project.entity: 'job' is not an entity of the pack"), std::string::npos) << msg;
  EXPECT_NE(msg.find("flows: time_posting.entry: 'minutes' is not a field of time_entry"), std::string::npos) << msg;
  EXPECT_NE(msg.find("flows: time_posting.posting.system: 'books' is not a system of the pack"), std::string::npos)
      << msg;
  EXPECT_NE(msg.find("flows: time_posting.deal: 'budget_hours' is not a field of customer"), std::string::npos) << msg;
  EXPECT_NE(msg.find("flows: billing.invoice.draft: 'pending' is not a value of invoice.status"), std::string::npos)
      << msg;
}

TEST(FlowsTest, MissingFileIsNotFound) {
  auto f = LoadFlows("/nonexistent/flows.yaml");
  ASSERT_FALSE(f.ok());
  EXPECT_EQ(f.status().code(), StatusCode::kNotFound);
}

}  // namespace
}  // namespace handoff::schemas
