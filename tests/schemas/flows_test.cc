// The flows file: the default one loads, and every problem of a broken one is
// reported with its line.
#include "handoff/schemas/flows.h"

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

TEST(FlowsTest, MissingFileIsNotFound) {
  auto f = LoadFlows("/nonexistent/flows.yaml");
  ASSERT_FALSE(f.ok());
  EXPECT_EQ(f.status().code(), StatusCode::kNotFound);
}

}  // namespace
}  // namespace handoff::schemas
