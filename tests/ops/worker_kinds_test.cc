// The kind tables of ops: each configured kind builds its worker behind the
// engine's Source / Target interface; an unknown kind names the known ones.
#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>

#include "handoff/engine/journal.h"
#include "source_factory.h"
#include "target_factory.h"

namespace handoff {
namespace {

Config Parse(const std::string& yaml) {
  auto c = ParseConfig(yaml, "kinds.yaml");
  EXPECT_TRUE(c.ok()) << c.status().ToString();
  return c.ok() ? std::move(c).value() : Config{};
}

TEST(WorkerKindsTest, TheTablesListEveryKind) {
  EXPECT_EQ(SourceKindList(), "postgres, debezium, webhook");
  EXPECT_EQ(TargetKindList(), "postgres, http");
  for (const auto& k : SourceKinds()) EXPECT_STREQ(k.name, SourceKindName(k.kind));
  for (const auto& k : TargetKinds()) EXPECT_STREQ(k.name, TargetKindName(k.kind));
}

TEST(WorkerKindsTest, AnUnknownSourceKindListsTheKnownOnes) {
  SourceConfig s;
  s.name = "m";
  s.kind = "mysql";
  auto a = MakeSource(s, TransportContext::Create(), "inproc://kinds");
  ASSERT_FALSE(a.ok());
  EXPECT_EQ(a.status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(a.status().message(), "source m: unknown kind 'mysql' (known: postgres, debezium, webhook)");
}

TEST(WorkerKindsTest, AnUnknownTargetKindListsTheKnownOnes) {
  TargetConfig t;
  t.name = "f";
  t.kind = "ftp";
  auto w = MakeTarget(Config{}, t, nullptr);
  ASSERT_FALSE(w.ok());
  EXPECT_EQ(w.status().message(), "target f: unknown kind 'ftp' (known: postgres, http)");
}

TEST(WorkerKindsTest, AKindWithoutItsSettingsIsRefused) {
  SourceConfig s;  // postgres settings by default
  s.name = "d";
  s.kind = "debezium";
  auto a = MakeSource(s, TransportContext::Create(), "inproc://kinds");
  ASSERT_FALSE(a.ok());
  EXPECT_NE(a.status().message().find("without its settings"), std::string::npos) << a.status().message();
}

TEST(WorkerKindsTest, SourcesAreBuiltByTheirKind) {
  Config c = Parse(R"(
journal: { path: /j }
sources:
  - { name: dbz, kind: debezium, pull: "tcp://127.0.0.1:0" }
  - { name: hooks, kind: webhook, listen: "127.0.0.1:0", format: debezium, signature: none }
)");
  ASSERT_EQ(c.sources.size(), 2u);
  auto ctx = TransportContext::Create();
  auto dbz = MakeSource(c.sources[0], ctx, "inproc://kinds");
  ASSERT_TRUE(dbz.ok()) << dbz.status().ToString();
  EXPECT_EQ((*dbz)->name(), "dbz");
  EXPECT_EQ((*dbz)->kind(), SourceKind::kDebezium);
  EXPECT_EQ((*dbz)->Health().state, HealthState::kStarting);
  auto hooks = MakeSource(c.sources[1], ctx, "inproc://kinds");
  ASSERT_TRUE(hooks.ok()) << hooks.status().ToString();
  EXPECT_EQ((*hooks)->name(), "hooks");
  EXPECT_EQ((*hooks)->kind(), SourceKind::kWebhook);
}

TEST(WorkerKindsTest, TargetsAreBuiltByTheirKind) {
  char tmpl[] = "/tmp/handoff-kinds-XXXXXX";
  ASSERT_NE(mkdtemp(tmpl), nullptr);
  const std::string dir = tmpl;
  {
    JournalOptions o;
    o.path = dir;
    o.map_size = 1 << 20;
    auto journal = Journal::Open(o);
    ASSERT_TRUE(journal.ok()) << journal.status().ToString();
    Config c = Parse(R"(
journal: { path: /j }
targets:
  - { name: crm, kind: http, url: "http://127.0.0.1:9" }
  - { name: erp, kind: postgres, dsn: "host=127.0.0.1 port=9 dbname=erp" }
)");
    ASSERT_EQ(c.targets.size(), 2u);
    auto crm = MakeTarget(c, c.targets[0], journal->get());
    ASSERT_TRUE(crm.ok()) << crm.status().ToString();
    EXPECT_EQ((*crm)->name(), "crm");
    EXPECT_EQ((*crm)->kind(), TargetKind::kHttp);
    auto erp = MakeTarget(c, c.targets[1], journal->get());
    ASSERT_TRUE(erp.ok()) << erp.status().ToString();
    EXPECT_EQ((*erp)->name(), "erp");
    EXPECT_EQ((*erp)->kind(), TargetKind::kPostgres);
  }
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace handoff
