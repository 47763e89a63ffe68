#include "handoff/engine/config.h"

#include <gtest/gtest.h>

#include <cstdlib>

namespace handoff {
namespace {

const char* kGood = R"(
journal: { path: ./var/journal, retention: 2d, max_map_size: 8GiB }
sources:
  - { name: psa, kind: postgres, dsn: "host=db dbname=psa password=${HANDOFF_TEST_SECRET}", tables: [public.time_entries] }
targets:
  - { name: erp, kind: postgres, dsn: "host=db dbname=erp" }
routes:
  - { from: psa.public.time_entries, to: erp.public.time_entries }
admin: { listen: "127.0.0.1:9187" }
)";

TEST(ConfigTest, ParsesTheDocumentedKeys) {
  setenv("HANDOFF_TEST_SECRET", "s3cret", 1);
  auto c = ParseConfig(kGood, "handoff.yaml");
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->journal_path, "./var/journal");
  EXPECT_EQ(c->journal_retention_us, 2ll * 86400 * 1000000);
  EXPECT_EQ(c->journal_max_map_size, 8ull << 30);
  ASSERT_EQ(c->sources.size(), 1u);
  EXPECT_EQ(c->sources[0].dsn, "host=db dbname=psa password=s3cret");
  EXPECT_EQ(c->sources[0].slot, "handoff_psa");
  ASSERT_EQ(c->routes.size(), 1u);
  EXPECT_EQ(c->routes[0].to_table, "time_entries");
  EXPECT_EQ(c->admin_listen, "127.0.0.1:9187");
}

TEST(ConfigTest, IntakeLimitsAndCurve) {
  const std::string base = "journal: { path: /j }\n";
  const std::string k1 = "rq3wB+8Lbn1JxK6rEGj]z0Vp!$7p2=lfQ0sC-sd^", k2 = "Yne@$w-vo<fVvi]a<NY6T1ed:M$fCG*[IaLV{hID";
  auto loop = ParseConfig(base + "engine: { intake: \"tcp://127.0.0.1:5550\", intake_max_message: 1MiB }\n", "h.yaml");
  ASSERT_TRUE(loop.ok()) << loop.status().ToString();
  EXPECT_EQ(loop->intake_max_message_bytes, 1u << 20);
  auto open = ParseConfig(base + "engine: { intake: \"tcp://0.0.0.0:5550\" }\n", "h.yaml");
  ASSERT_FALSE(open.ok());
  EXPECT_NE(open.status().message().find("engine.intake"), std::string::npos);
  EXPECT_NE(open.status().message().find("CURVE"), std::string::npos);
  auto curve = ParseConfig(base + "engine:\n  intake: \"tcp://10.0.0.5:5550\"\n"
                           "  intake_curve: { public_key: \"" + k1 + "\", secret_key_file: /etc/k }\n"
                           "  intake_clients: [{ public_key: \"" + k2 + "\", sources: [psa, psb] }]\n", "h.yaml");
  ASSERT_TRUE(curve.ok()) << curve.status().ToString();
  EXPECT_EQ(curve->intake_curve.public_key, k1);
  ASSERT_EQ(curve->intake_clients.size(), 1u);
  EXPECT_EQ(curve->intake_clients[0].sources, (std::vector<std::string>{"psa", "psb"}));
  auto bad = ParseConfig(base + "engine:\n  intake_max_message: 1KiB\n"
                         "  intake_clients: [{ public_key: short, sources: [] }]\n", "h.yaml");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("engine.intake_max_message"), std::string::npos);
  EXPECT_NE(bad.status().message().find("engine.intake_clients[0].public_key"), std::string::npos);
  EXPECT_NE(bad.status().message().find("engine.intake_clients[0].sources"), std::string::npos);
}

TEST(ConfigTest, TableKeysAndPartitions) {
  auto c = ParseConfig(R"(
journal: { path: /j }
sources:
  - { name: psa, kind: postgres, dsn: "x", partitions: each,
      tables: [public.a, { table: public.notes, key: [id, region] }] }
  - { name: crm, kind: postgres, dsn: "x", tables: [public.b] }
)", "h.yaml");
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  const SourceConfig& psa = c->sources[0];
  EXPECT_EQ(psa.tables, (std::vector<std::string>{"public.a", "public.notes"}));
  EXPECT_EQ(psa.partitions, "each");
  ASSERT_NE(ConfiguredKey(psa, "public.notes"), nullptr);
  EXPECT_EQ(*ConfiguredKey(psa, "public.notes"), (std::vector<std::string>{"id", "region"}));
  EXPECT_EQ(ConfiguredKey(psa, "public.a"), nullptr);
  EXPECT_EQ(c->sources[1].partitions, "root");
}

TEST(ConfigTest, BadTableEntriesAndPartitionsAreNamed) {
  auto c = ParseConfig(R"(
journal: { path: /j }
sources:
  - { name: psa, kind: postgres, dsn: "x", partitions: some,
      tables: [{ table: public.n, key: [] }, { table: nodot }, { table: public.m, keys: [a] }] }
  - { name: dbz, kind: debezium, file: /x, partitions: root }
)", "h.yaml");
  ASSERT_FALSE(c.ok());
  const std::string& m = c.status().message();
  EXPECT_NE(m.find("sources[0].partitions: must be root or each, not 'some'"), std::string::npos) << m;
  EXPECT_NE(m.find("sources[0].tables[0].key: must be a non-empty list of column names"), std::string::npos) << m;
  EXPECT_NE(m.find("sources[0].tables[1]: table must be schema.table, not 'nodot'"), std::string::npos) << m;
  EXPECT_NE(m.find("sources[0].tables[2].keys: is not a known key"), std::string::npos) << m;
  EXPECT_NE(m.find("sources[1].partitions: is only for sources of kind postgres"), std::string::npos) << m;
}

TEST(ConfigTest, MissingEnvironmentVariableIsNamed) {
  unsetenv("HANDOFF_TEST_SECRET");
  auto c = ParseConfig(kGood, "handoff.yaml");
  ASSERT_FALSE(c.ok());
  EXPECT_NE(c.status().message().find("sources[0].dsn"), std::string::npos);
  EXPECT_NE(c.status().message().find("HANDOFF_TEST_SECRET"), std::string::npos);
}

TEST(ConfigTest, EveryProblemIsListedWithKeyAndLine) {
  const char* bad = R"(journal: { path: /tmp/j }
sources:
  - { name: psa, kind: mysql, dsn: "x", tables: [time_entries] }
targets:
  - { name: erp, kind: postgres }
routes:
  - { from: psa.public.nope, to: crm.public.t }
bogus: 1
)";
  auto c = ParseConfig(bad, "h.yaml");
  ASSERT_FALSE(c.ok());
  const std::string& m = c.status().message();
  EXPECT_NE(m.find("h.yaml:3: sources[0].kind: unknown source kind 'mysql'"), std::string::npos) << m;
  EXPECT_NE(m.find("sources[0].tables[0]: must be schema.table"), std::string::npos) << m;
  EXPECT_NE(m.find("targets[0].dsn: is required"), std::string::npos) << m;
  EXPECT_NE(m.find("routes[0].to: names no configured target 'crm'"), std::string::npos) << m;
  EXPECT_NE(m.find("bogus: is not a known key"), std::string::npos) << m;
}

TEST(ConfigTest, InvalidYamlNamesTheLine) {
  auto c = ParseConfig("journal: {path: [\n", "x.yaml");
  ASSERT_FALSE(c.ok());
  EXPECT_NE(c.status().message().find("x.yaml:"), std::string::npos);
  EXPECT_NE(c.status().message().find("not valid YAML"), std::string::npos);
}

TEST(ConfigTest, MissingJournalIsReported) {
  auto c = ParseConfig("sources: []\n", "x.yaml");
  ASSERT_FALSE(c.ok());
  EXPECT_NE(c.status().message().find("journal: is required"), std::string::npos);
}

}  // namespace
}  // namespace handoff

namespace handoff {
namespace {

TEST(ConfigTest, DebeziumWebhookHttpAndFeedKeys) {
  setenv("HANDOFF_TEST_HOOK", "whsec_abc", 1);
  auto c = ParseConfig(R"(
journal: { path: /j }
sources:
  - { name: dbz, kind: debezium, file: /spool/x.ndjson }
  - { name: toggl, kind: webhook, listen: "127.0.0.1:8088", path: /hooks/toggl, format: toggl,
      signature: hmac-sha256, signature_header: X-Webhook-Signature-256, secrets: ["${HANDOFF_TEST_HOOK}", old],
      tolerance: 5m, max_body: 2MiB }
targets:
  - { name: crm, kind: http, url: "https://crm.example/api/", headers: { Authorization: "Bearer t" }, timeout: 5s }
routes:
  - { from: toggl.public.time_entries, to: crm.time_entries }
  - { from: dbz.public.accounts, to: crm.accounts }
feed: { publish: "tcp://127.0.0.1:5560" }
)", "h.yaml");
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->sources[0].file, "/spool/x.ndjson");
  const SourceConfig& w = c->sources[1];
  EXPECT_EQ(w.listen, "127.0.0.1:8088");
  EXPECT_EQ(w.path, "/hooks/toggl");
  EXPECT_EQ(w.signature, "hmac-sha256");
  EXPECT_EQ(w.secrets, (std::vector<std::string>{"whsec_abc", "old"}));
  EXPECT_EQ(w.tolerance_us, 300ll * 1000000);
  EXPECT_EQ(w.max_body, 2u << 20);
  EXPECT_EQ(c->targets[0].url, "https://crm.example/api");
  ASSERT_EQ(c->targets[0].headers.size(), 1u);
  EXPECT_EQ(c->targets[0].headers[0].second, "Bearer t");
  EXPECT_EQ(c->targets[0].timeout_us, 5ll * 1000000);
  EXPECT_EQ(c->routes[0].to_target, "crm");
  EXPECT_EQ(c->routes[0].to_schema, "");
  EXPECT_EQ(c->routes[0].to_table, "time_entries");
  EXPECT_EQ(c->feed_publish, "tcp://127.0.0.1:5560");
}

TEST(ConfigTest, BadDebeziumAndWebhookSourcesAreNamed) {
  auto c = ParseConfig(R"(
journal: { path: /j }
sources:
  - { name: a, kind: debezium }
  - { name: b, kind: webhook, listen: nope, format: xml, signature: md5 }
  - { name: c, kind: postgres, dsn: "x", tables: [public.t], file: /x }
feed: { publish: "http://x" }
)", "h.yaml");
  ASSERT_FALSE(c.ok());
  const std::string& m = c.status().message();
  EXPECT_NE(m.find("sources[0]: a debezium source needs exactly one of 'file' or 'pull'"), std::string::npos) << m;
  EXPECT_NE(m.find("sources[1].listen: must be host:port"), std::string::npos) << m;
  EXPECT_NE(m.find("sources[1].format: unknown webhook format 'xml'"), std::string::npos) << m;
  EXPECT_NE(m.find("sources[1].signature: unknown signature scheme 'md5'"), std::string::npos) << m;
  EXPECT_NE(m.find("sources[2].file: is only for sources of kind debezium"), std::string::npos) << m;
  EXPECT_NE(m.find("feed.publish: must be a tcp:// or ipc:// endpoint"), std::string::npos) << m;
}

TEST(ConfigTest, CanonicalSectionAndSystemNamedSourcesAndTargets) {
  auto c = ParseConfig(R"(
journal: { path: /j }
canonical: { schemas: pack, ownership: /etc/handoff/ownership.yaml }
sources:
  - { name: crm, kind: postgres, dsn: "x", tables: [public.accounts] }
targets:
  - { name: crm, kind: postgres, dsn: "x" }
)", "/etc/handoff/h.yaml");
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_TRUE(c->canonical());
  EXPECT_EQ(c->canonical_schemas, "/etc/handoff/pack");
  EXPECT_EQ(c->canonical_ownership, "/etc/handoff/ownership.yaml");
  auto bad = ParseConfig("journal: { path: /j }\ncanonical: { schemas: pack, extra: 1 }\n", "h.yaml");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("canonical.extra: is not a known key"), std::string::npos)
      << bad.status().message();
  EXPECT_NE(bad.status().message().find("canonical.ownership: is required"), std::string::npos)
      << bad.status().message();
}

}  // namespace
}  // namespace handoff
