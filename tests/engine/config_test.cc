#include "handoff/engine/config.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>

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
  EXPECT_EQ(c->sources[0].postgres()->dsn.Get("password"), "s3cret");
  EXPECT_EQ(c->sources[0].postgres()->dsn.Redacted(), "host=db dbname=psa password=***");
  EXPECT_EQ(c->sources[0].postgres()->slot, "handoff_psa");
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
  ASSERT_NE(psa.postgres(), nullptr);
  EXPECT_EQ(psa.postgres()->partitions, "each");
  ASSERT_NE(ConfiguredKey(*psa.postgres(), "public.notes"), nullptr);
  EXPECT_EQ(*ConfiguredKey(*psa.postgres(), "public.notes"), (std::vector<std::string>{"id", "region"}));
  EXPECT_EQ(ConfiguredKey(*psa.postgres(), "public.a"), nullptr);
  EXPECT_EQ(c->sources[1].postgres()->partitions, "root");
}

TEST(ConfigTest, SnapshotRatePacesChunkedReads) {
  auto c = ParseConfig(R"(
journal: { path: /j }
sources:
  - { name: psa, kind: postgres, dsn: "x", chunk_rows: 500, snapshot_rate: 20000, tables: [public.a] }
  - { name: crm, kind: postgres, dsn: "x", snapshot_rate: 0, tables: [public.b] }
  - { name: erp, kind: postgres, dsn: "x", tables: [public.c] }
)", "h.yaml");
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->sources[0].postgres()->chunk_rows, 500u);
  EXPECT_EQ(c->sources[0].postgres()->snapshot_rate, 20000u);
  EXPECT_EQ(c->sources[1].postgres()->snapshot_rate, 0u);  // 0: unpaced, as when absent
  EXPECT_EQ(c->sources[2].postgres()->snapshot_rate, 0u);

  const std::string pg = "journal: { path: /j }\nsources:\n  - { name: p, kind: postgres, dsn: x, tables: [a.b], ";
  for (const char* bad : {"-1", "1.5", "fast", "100000001", "99999999999999999999999"}) {
    auto b = ParseConfig(pg + "snapshot_rate: " + bad + " }\n", "x.yaml");
    ASSERT_FALSE(b.ok()) << bad;
    EXPECT_NE(b.status().message().find(
                  "x.yaml:3: sources[0].snapshot_rate: must be a whole number from 0 to 100000000"),
              std::string::npos)
        << b.status().message();
  }
  auto list = ParseConfig(pg + "snapshot_rate: [1] }\n", "x.yaml");
  ASSERT_FALSE(list.ok());
  EXPECT_NE(list.status().message().find("sources[0].snapshot_rate: must be a single value"), std::string::npos)
      << list.status().message();
  auto top = ParseConfig(pg + "snapshot_rate: 100000000 }\n", "x.yaml");
  ASSERT_TRUE(top.ok()) << top.status().ToString();
  EXPECT_EQ(top->sources[0].postgres()->snapshot_rate, 100000000u);
  auto dbz = ParseConfig(
      "journal: { path: /j }\nsources:\n  - { name: d, kind: debezium, file: /x, snapshot_rate: 10 }\n", "x.yaml");
  ASSERT_FALSE(dbz.ok());
  EXPECT_NE(dbz.status().message().find("sources[0].snapshot_rate: is only for sources of kind postgres"),
            std::string::npos)
      << dbz.status().message();
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

// A required value that is present but empty (`""`, a YAML tag with no value)
// is refused, not taken as absent-but-fine.
TEST(ConfigTest, EmptyRequiredValuesAreRefused) {
  const char* bad = R"(journal: { path: "" }
sources:
  - { name: psa, kind: postgres, dsn: "host=db", tables: [public.t] }
targets:
  - { name: erp, kind: postgres, dsn: "host=db2" }
routes:
  - { from: !psa.public.t, to: erp.public.t }
)";
  auto c = ParseConfig(bad, "e.yaml");
  ASSERT_FALSE(c.ok());
  const std::string& m = c.status().message();
  EXPECT_NE(m.find("journal.path: must not be empty"), std::string::npos) << m;
  EXPECT_NE(m.find("routes[0].from: must not be empty"), std::string::npos) << m;
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
      tolerance: 5m, max_body: 2MiB, max_header_bytes: 8KiB, connection_timeout: 2m, max_connections: 50 }
targets:
  - { name: crm, kind: http, url: "https://crm.example/api/", headers: { Authorization: "Bearer t" }, timeout: 5s,
      max_in_flight: 8 }
routes:
  - { from: toggl.public.time_entries, to: crm.time_entries }
  - { from: dbz.public.accounts, to: crm.accounts }
feed: { publish: "tcp://127.0.0.1:5560" }
)", "h.yaml");
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->sources[0].debezium()->file, "/spool/x.ndjson");
  ASSERT_NE(c->sources[1].webhook(), nullptr);
  const WebhookSourceSettings& w = *c->sources[1].webhook();
  EXPECT_EQ(w.listen, "127.0.0.1:8088");
  EXPECT_EQ(w.path, "/hooks/toggl");
  EXPECT_EQ(w.signature, "hmac-sha256");
  EXPECT_EQ(w.secrets, (std::vector<std::string>{"whsec_abc", "old"}));
  EXPECT_EQ(w.tolerance_us, 300ll * 1000000);
  EXPECT_EQ(w.max_body, 2u << 20);
  EXPECT_EQ(w.http.max_header_bytes, 8u << 10);
  EXPECT_EQ(w.http.connection_timeout_us, 120ll * 1000000);
  EXPECT_EQ(w.http.max_connections, 50u);
  EXPECT_EQ(w.http.max_headers, 100u) << "defaults";
  EXPECT_EQ(w.http.head_timeout_us, 10ll * 1000000);
  EXPECT_EQ(c->admin_http.threads, 4u);
  EXPECT_EQ(c->targets[0].http()->url, "https://crm.example/api");
  EXPECT_EQ(c->targets[0].http()->max_in_flight, 8u);
  ASSERT_EQ(c->targets[0].http()->headers.size(), 1u);
  EXPECT_EQ(c->targets[0].http()->headers[0].second, "Bearer t");
  EXPECT_EQ(c->targets[0].http()->timeout_us, 5ll * 1000000);
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

// Hostile values and keys: each is a listed problem naming its key and line,
// never an exception or an abort.
TEST(ConfigTest, HostileNumbersAndKeysAreNamedProblems) {
  struct Case {
    const char* yaml;
    const char* expect;  // key path (with the line) that the problem names
  };
  const std::string tgt = "targets:\n  - { name: t, kind: postgres, dsn: x, ";
  const std::string canon = "canonical: { schemas: p, ownership: o, ";
  const std::string hook = "sources:\n  - { name: w, kind: webhook, format: debezium, signature: stripe, secrets: [s], ";
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"journal: { path: /j, max_map_size: 99999999999999999999999 }\n", "x.yaml:1: journal.max_map_size: is too large"},
      {"journal: { path: /j, max_map_size: 20000000TiB }\n", "x.yaml:1: journal.max_map_size: is too large"},
      {"journal: { path: /j, map_size: -1 }\n", "x.yaml:1: journal.map_size: must be a size"},
      {"journal: { path: /j, map_size: lots }\n", "x.yaml:1: journal.map_size: must be a size"},
      {"journal: { path: /j, map_size: [1, 2] }\n", "x.yaml:1: journal.map_size: must be a single value"},
      {"journal: { path: /j, map_size: { a: 1 } }\n", "x.yaml:1: journal.map_size: must be a single value"},
      {"journal: { path: /j, retention: 99999999999999999999d }\n", "x.yaml:1: journal.retention: is too long"},
      {"journal: { path: /j, retention: 106751992d }\n", "x.yaml:1: journal.retention: is too long"},
      {"journal: { path: /j, retention: -5d }\n", "x.yaml:1: journal.retention: must be a duration"},
      {"journal: { path: /j, retention: [7d] }\n", "x.yaml:1: journal.retention: must be a single value"},
      {"journal: { path: /j }\n? [a, b]\n: 1\n", "x.yaml:2: (key): a key must be a plain name"},
      {"journal: { path: /j, ? { a: 1 } : 2 }\n", "x.yaml:1: journal.(key): a key must be a plain name"},
      {"journal: { path: /j }\n" + tgt + "batch_rows: -1 }\n", "x.yaml:3: targets[0].batch_rows: must be a whole number"},
      {"journal: { path: /j }\n" + tgt + "batch_rows: 0 }\n", "x.yaml:3: targets[0].batch_rows: must be a whole number"},
      {"journal: { path: /j }\n" + tgt + "batch_rows: 1.5 }\n", "x.yaml:3: targets[0].batch_rows: must be a whole number"},
      {"journal: { path: /j }\n" + tgt + "batch_rows: 99999999999999999999999 }\n",
       "x.yaml:3: targets[0].batch_rows: must be a whole number"},
      {"journal: { path: /j }\n" + tgt + "batch_rows: [1] }\n", "x.yaml:3: targets[0].batch_rows: must be a single value"},
      {"journal: { path: /j }\ntargets:\n  - { name: h, kind: http, url: http://x, timeout: 99999999999999999999s }\n", "x.yaml:3: targets[0].timeout: is too long"},
      {"journal: { path: /j }\ntargets:\n  - { name: h, kind: http, url: http://x, max_in_flight: 0 }\n",
       "x.yaml:3: targets[0].max_in_flight: must be a whole number from 1 to 256"},
      {"journal: { path: /j }\n" + tgt + "max_in_flight: 2 }\n",
       "x.yaml:3: targets[0].max_in_flight: is only for targets of kind http"},
      {"journal: { path: /j }\ntargets:\n  - { name: h, kind: http, url: http://x, headers: { ? [a] : b } }\n",
       "x.yaml:3: targets[0].headers.(key): a header name must be a plain name"},
      {"journal: { path: /j }\n" + canon + "tombstone_days: -3 }\n", "x.yaml:2: canonical.tombstone_days: must be a whole number"},
      {"journal: { path: /j }\n" + canon + "tombstone_days: 9999999999999999999999 }\n",
       "x.yaml:2: canonical.tombstone_days: must be a whole number"},
      {"journal: { path: /j }\n" + canon + "tombstone_days: { a: 1 } }\n", "x.yaml:2: canonical.tombstone_days: must be a single value"},
      {"journal: { path: /j }\nengine: { slot_check_interval: 0s }\n", "x.yaml:2: engine.slot_check_interval: must be longer than zero"},
      {"journal: { path: /j }\nengine: { slot_wal_warn: 999999999999999999999 }\n", "x.yaml:2: engine.slot_wal_warn: is too large"},
      {"journal: { path: /j }\nadmin: { listen: \"127.0.0.1:99999\" }\n", "x.yaml:2: admin.listen: port must be 0 to 65535"},
      {"journal: { path: /j }\n" + hook + "listen: \"0.0.0.0:70000\" }\n", "x.yaml:3: sources[0].listen: port must be 0 to 65535"},
      {"journal: { path: /j }\n" + hook + "listen: \"0.0.0.0:1\", max_body: 99999999999999999999999 }\n",
       "x.yaml:3: sources[0].max_body: is too large"},
      {"journal: { path: /j }\n" + hook + "listen: \"0.0.0.0:1\", tolerance: 999999999999999999h }\n",
       "x.yaml:3: sources[0].tolerance: is too long"},
      {"journal: { path: /j }\n" + hook + "listen: \"0.0.0.0:1\", max_headers: 0 }\n",
       "x.yaml:3: sources[0].max_headers: must be a whole number from 8 to 10000"},
      {"journal: { path: /j }\n" + hook + "listen: \"0.0.0.0:1\", max_header_bytes: 99999999 }\n",
       "x.yaml:3: sources[0].max_header_bytes: must be a size from 1KiB to 1MiB"},
      {"journal: { path: /j }\n" + hook + "listen: \"0.0.0.0:1\", head_timeout: 2h }\n",
       "x.yaml:3: sources[0].head_timeout: must be a duration from 100ms to 1h"},
      {"journal: { path: /j }\n" + hook + "listen: \"0.0.0.0:1\", http_threads: 0 }\n",
       "x.yaml:3: sources[0].http_threads: must be a whole number from 1 to 1024"},
      {"journal: { path: /j }\nadmin: { listen: \"127.0.0.1:1\", request_timeout: 0s }\n",
       "x.yaml:2: admin.request_timeout: must be a duration from 1s to 1h"},
      {"journal: { path: /j }\nadmin: { listen: \"127.0.0.1:1\", max_connections: 100000 }\n",
       "x.yaml:2: admin.max_connections: must be a whole number from 1 to 10000"},
      {"journal: { path: /j }\nsources:\n  - { name: p, kind: postgres, dsn: x, tables: [a.b], snapshot: maybe }\n",
       "x.yaml:3: sources[0].snapshot: must be true or false"},
      {"journal: { path: /j }\nsources:\n  - { name: p, kind: postgres, dsn: x, tables: [a.b], external: [1] }\n",
       "x.yaml:3: sources[0].external: must be a single value"},
  };
  for (const auto& [yaml, expect] : cases) {
    Result<Config> c = Status::InvalidArgument("not parsed");
    ASSERT_NO_THROW(c = ParseConfig(yaml, "x.yaml")) << yaml;
    ASSERT_FALSE(c.ok()) << yaml;
    EXPECT_NE(c.status().message().find(expect), std::string::npos)
        << "config:\n" << yaml << "message:\n" << c.status().message();
  }
}

TEST(ConfigTest, LargestValuesThatFitAreTaken) {
  auto c = ParseConfig("journal: { path: /j, map_size: 1MiB, max_map_size: 16777215TiB, retention: 106751991d }\n"
                       "targets:\n  - { name: t, kind: postgres, dsn: x, batch_rows: 100000000 }\n", "x.yaml");
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->journal_max_map_size, 16777215ull << 40);
  EXPECT_EQ(c->journal_retention_us, 106751991ll * 86400000000ll);
  EXPECT_EQ(c->targets[0].postgres()->batch_rows, 100000000u);
}

TEST(ConfigTest, UnsignedWebhookOnlyOnLoopbackUnlessAllowed) {
  const std::string head = "journal: { path: /j }\nsources:\n  - { name: w, kind: webhook, format: debezium, signature: none, ";
  auto open = ParseConfig(head + "listen: \"0.0.0.0:8443\" }\n", "x.yaml");
  ASSERT_FALSE(open.ok());
  EXPECT_NE(open.status().message().find("x.yaml:3: sources[0].signature: none on 0.0.0.0:8443"), std::string::npos)
      << open.status().message();
  EXPECT_NE(open.status().message().find("allow_unsigned: true"), std::string::npos);
  for (const char* local : {"127.0.0.1:8443", "localhost:1", "[::1]:8443"}) {
    auto c = ParseConfig(head + "listen: \"" + local + "\" }\n", "x.yaml");
    EXPECT_TRUE(c.ok()) << local << ": " << c.status().ToString();
  }
  auto allowed = ParseConfig(head + "listen: \"0.0.0.0:8443\", allow_unsigned: true }\n", "x.yaml");
  ASSERT_TRUE(allowed.ok()) << allowed.status().ToString();
  EXPECT_TRUE(allowed->sources[0].webhook()->allow_unsigned);
  auto misplaced = ParseConfig("journal: { path: /j }\nsources:\n  - { name: w, kind: webhook, format: debezium, "
                               "signature: stripe, secrets: [s], listen: \"0.0.0.0:1\", allow_unsigned: true }\n",
                               "x.yaml");
  ASSERT_FALSE(misplaced.ok());
  EXPECT_NE(misplaced.status().message().find("sources[0].allow_unsigned: is only for signature: none"),
            std::string::npos);
}

TEST(ConfigTest, EnvironmentValuesStayInsideOneDsnValue) {
  setenv("HANDOFF_TEST_PW", "S3cr3t Leak=1 dbname=other 'q' \\x", 1);
  setenv("HANDOFF_TEST_DB", "psa host=evil", 1);
  auto c = ParseConfig("journal: { path: /j }\nsources:\n  - { name: p, kind: postgres, tables: [a.b], "
                       "dsn: \"host=db1 dbname=${HANDOFF_TEST_DB} password=${HANDOFF_TEST_PW} application_name='x y'\" }\n"
                       "targets:\n  - { name: t, kind: postgres, dsn: \"postgresql://u:${HANDOFF_TEST_PW}@db2/erp?sslmode=${HANDOFF_TEST_DB}\" }\n"
                       "  - { name: u, kind: postgres, dsn: erp }\n",
                       "x.yaml");
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  const auto& pairs = c->sources[0].postgres()->dsn.pairs;
  ASSERT_EQ(pairs.size(), 4u) << c->sources[0].postgres()->dsn.Redacted();
  EXPECT_EQ(pairs[0].key, "host");
  EXPECT_EQ(pairs[0].value, "db1");
  EXPECT_EQ(pairs[1].key, "dbname");
  EXPECT_EQ(pairs[1].value, "psa host=evil");
  EXPECT_EQ(pairs[2].key, "password");
  EXPECT_EQ(pairs[2].value, "S3cr3t Leak=1 dbname=other 'q' \\x");
  EXPECT_EQ(pairs[3].value, "x y");
  // A URI is split into pairs before substitution: no '@', '/', '?', '&' or
  // space in a value can end it.
  const auto& uri = c->targets[0].postgres()->dsn;
  ASSERT_EQ(uri.pairs.size(), 5u) << uri.Redacted();
  EXPECT_EQ(uri.Get("user"), "u");
  EXPECT_EQ(uri.Get("password"), "S3cr3t Leak=1 dbname=other 'q' \\x");
  EXPECT_EQ(uri.Get("host"), "db2");
  EXPECT_EQ(uri.Get("dbname"), "erp");
  EXPECT_EQ(uri.Get("sslmode"), "psa host=evil");
  EXPECT_EQ(c->targets[1].postgres()->dsn.Redacted(), "dbname=erp");
  // The display form never holds the password; Redact cuts it out of a message.
  EXPECT_EQ(c->sources[0].postgres()->dsn.Redacted(), "host=db1 dbname='psa host=evil' password=*** application_name='x y'");
  EXPECT_EQ(uri.Redacted(), "user=u password=*** host=db2 dbname=erp sslmode='psa host=evil'");
  EXPECT_EQ(c->sources[0].postgres()->dsn.Redact("failed for S3cr3t Leak=1 dbname=other 'q' \\x here"), "failed for *** here");
  EXPECT_EQ(uri.Redact("x S3cr3t Leak=1 dbname=other 'q' \\x"), "x ***");
  unsetenv("HANDOFF_TEST_PW");
  unsetenv("HANDOFF_TEST_DB");
}

TEST(ConfigTest, PasswordFileAndBadDsnsAreNamedWithoutTheirValues) {
  const std::string dir = ::testing::TempDir();
  const std::string pw = dir + "/handoff_pw_test";
  {
    std::ofstream f(pw);
    f << "pass word=x\nsecond line\n";
  }
  auto c = ParseConfig("journal: { path: /j }\ntargets:\n  - { name: t, kind: postgres, dsn: \"host=h password=old\", "
                       "password_file: " + pw + " }\n", "x.yaml");
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  const auto& pairs = c->targets[0].postgres()->dsn.pairs;
  ASSERT_EQ(pairs.size(), 2u);
  EXPECT_EQ(pairs[1].key, "password");
  EXPECT_EQ(pairs[1].value, "pass word=x");
  auto missing = ParseConfig("journal: { path: /j }\ntargets:\n  - { name: t, kind: postgres, dsn: \"host=h\", "
                             "password_file: /nonexistent/pw }\n", "x.yaml");
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.status().message().find("x.yaml:3: targets[0].password_file: cannot read the password file "
                                            "/nonexistent/pw"), std::string::npos) << missing.status().message();
  auto bad = ParseConfig("journal: { path: /j }\ntargets:\n  - { name: t, kind: postgres, dsn: \"host=h S3cr3t-Leak\" }\n"
                         "  - { name: u, kind: postgres, dsn: \"host=h password='S3cr3t-Leak\" }\n", "x.yaml");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("targets[0].dsn: not a connection string"), std::string::npos)
      << bad.status().message();
  EXPECT_NE(bad.status().message().find("targets[1].dsn: the quoted value of password is not closed"), std::string::npos)
      << bad.status().message();
  EXPECT_EQ(bad.status().message().find("S3cr3t"), std::string::npos) << bad.status().message();
}

TEST(ConfigTest, UrisSplitIntoPairs) {
  auto p = ConnParams::Parse("postgresql://a%40b:p%3Aw@[::1]:5433,h2/db%20x?sslmode=require&application_name=a%26b");
  ASSERT_TRUE(p.ok()) << p.status().ToString();
  EXPECT_EQ(p->Get("user"), "a@b");
  EXPECT_EQ(p->Get("password"), "p:w");
  EXPECT_EQ(p->Get("host"), "::1,h2");
  EXPECT_EQ(p->Get("port"), "5433,");
  EXPECT_EQ(p->Get("dbname"), "db x");
  EXPECT_EQ(p->Get("sslmode"), "require");
  EXPECT_EQ(p->Get("application_name"), "a&b");
  auto bare = ConnParams::Parse("postgres://");
  ASSERT_TRUE(bare.ok());
  EXPECT_TRUE(bare->empty());
  EXPECT_FALSE(ConnParams::Parse("postgresql://h/db?novalue").ok());
}

}  // namespace
}  // namespace handoff

namespace handoff {
namespace {

TEST(ConfigTest, OnNewColumnPerRoute) {
  auto c = ParseConfig(R"(
journal: { path: /j }
sources:
  - { name: psa, kind: postgres, dsn: "host=x", tables: [public.a, public.b, public.c] }
targets:
  - { name: erp, kind: postgres, dsn: "host=y" }
routes:
  - { from: psa.public.a, to: erp.public.a }
  - { from: psa.public.b, to: erp.public.b, on_new_column: add }
  - { from: psa.public.c, to: erp.public.c, on_new_column: ignore }
)", "h.yaml");
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->routes[0].on_new_column, NewColumnPolicy::kPark) << "the default";
  EXPECT_EQ(c->routes[1].on_new_column, NewColumnPolicy::kAdd);
  EXPECT_EQ(c->routes[2].on_new_column, NewColumnPolicy::kIgnore);

  auto bad = ParseConfig(R"(
journal: { path: /j }
sources:
  - { name: psa, kind: postgres, dsn: "host=x", tables: [public.a] }
  - { name: dbz, kind: debezium, file: /x }
targets:
  - { name: erp, kind: postgres, dsn: "host=y" }
  - { name: crm, kind: http, url: "https://crm.example/" }
routes:
  - { from: psa.public.a, to: erp.public.a, on_new_column: drop }
  - { from: dbz.public.a, to: crm.accounts, on_new_column: add }
)", "h.yaml");
  ASSERT_FALSE(bad.ok());
  const std::string& m = bad.status().message();
  EXPECT_NE(m.find("h.yaml:10: routes[0].on_new_column: must be add, ignore or park, not 'drop'"), std::string::npos)
      << m;
  EXPECT_NE(m.find("routes[1].on_new_column: applies to PostgreSQL targets"), std::string::npos) << m;
}

TEST(ConfigKindsTest, EachKindHasItsOwnSettingsAndDefaults) {
  auto c = ParseConfig(R"(
journal: { path: /j }
sources:
  - { name: psa, kind: postgres, dsn: "dbname=psa", tables: [public.a] }
  - { name: dbz, kind: debezium, pull: "tcp://127.0.0.1:5570" }
  - { name: hooks, kind: webhook, listen: "127.0.0.1:0", format: debezium, signature: none }
targets:
  - { name: erp, kind: postgres, dsn: "dbname=erp" }
  - { name: crm, kind: http, url: "https://crm.example" }
)", "k.yaml");
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  const PostgresSourceSettings* pg = c->sources[0].postgres();
  ASSERT_NE(pg, nullptr);
  EXPECT_EQ(c->sources[0].source_kind(), SourceKind::kPostgres);
  EXPECT_EQ(c->sources[0].debezium(), nullptr);
  EXPECT_EQ(c->sources[0].webhook(), nullptr);
  EXPECT_EQ(pg->slot, "handoff_psa");
  EXPECT_EQ(pg->publication, "handoff_psa");
  EXPECT_TRUE(pg->snapshot);
  EXPECT_EQ(pg->partitions, "root");
  EXPECT_EQ(pg->chunk_rows, 1024u);
  EXPECT_EQ(pg->snapshot_rate, 0u);
  EXPECT_EQ(pg->skip_origins, (std::vector<std::string>{"handoff"}));
  EXPECT_TRUE(pg->table_keys.empty());

  const DebeziumSourceSettings* dbz = c->sources[1].debezium();
  ASSERT_NE(dbz, nullptr);
  EXPECT_EQ(c->sources[1].source_kind(), SourceKind::kDebezium);
  EXPECT_EQ(dbz->pull, "tcp://127.0.0.1:5570");
  EXPECT_EQ(dbz->file, "");
  EXPECT_TRUE(c->sources[1].tables.empty()) << "every table the feed carries";

  const WebhookSourceSettings* hook = c->sources[2].webhook();
  ASSERT_NE(hook, nullptr);
  EXPECT_EQ(c->sources[2].source_kind(), SourceKind::kWebhook);
  EXPECT_EQ(hook->path, "/");
  EXPECT_EQ(hook->tolerance_us, 300ll * 1000000);
  EXPECT_EQ(hook->max_body, 1u << 20);
  EXPECT_FALSE(hook->allow_unsigned);
  EXPECT_EQ(hook->http.threads, 16u);
  EXPECT_EQ(hook->http.max_connections, 256u);

  const PostgresTargetSettings* erp = c->targets[0].postgres();
  ASSERT_NE(erp, nullptr);
  EXPECT_EQ(c->targets[0].target_kind(), TargetKind::kPostgres);
  EXPECT_EQ(erp->batch_rows, 20000u);
  EXPECT_EQ(erp->dsn.Get("dbname"), "erp");
  const HttpTargetSettings* crm = c->targets[1].http();
  ASSERT_NE(crm, nullptr);
  EXPECT_EQ(c->targets[1].target_kind(), TargetKind::kHttp);
  EXPECT_EQ(crm->timeout_us, 10ll * 1000000);
  EXPECT_TRUE(crm->headers.empty());

  // An agent's view: the common fields with its kind's settings.
  const PostgresSourceConfig view(c->sources[0]);
  EXPECT_EQ(view.name, "psa");
  EXPECT_EQ(view.kind, "postgres");
  EXPECT_EQ(view.tables, (std::vector<std::string>{"public.a"}));
  EXPECT_EQ(view.slot, "handoff_psa");
  const HttpTargetConfig http_view(c->targets[1]);
  EXPECT_EQ(http_view.url, "https://crm.example");
}

TEST(ConfigKindsTest, AKeyOfAnotherKindNamesTheKindItBelongsTo) {
  auto c = ParseConfig(R"(
journal: { path: /j }
sources:
  - { name: psa, kind: postgres, dsn: "dbname=psa", tables: [public.a], listen: "127.0.0.1:0" }
  - { name: hooks, kind: webhook, listen: "127.0.0.1:0", format: debezium, signature: none, slot: s1 }
  - { name: dbz, kind: debezium, file: /x.ndjson, max_body: 1MiB, dsn: "dbname=x" }
  - { name: other, kind: postgres, dsn: "dbname=o", tables: [public.a], colour: blue }
targets:
  - { name: crm, kind: http, url: "https://crm.example", batch_rows: 10 }
  - { name: erp, kind: postgres, dsn: "dbname=erp", timeout: 5s }
)", "x.yaml");
  ASSERT_FALSE(c.ok());
  const std::string m = c.status().message();
  EXPECT_NE(m.find("x.yaml:4: sources[0].listen: is only for sources of kind webhook (source 'psa' is of kind "
                   "postgres)"),
            std::string::npos)
      << m;
  EXPECT_NE(m.find("sources[1].slot: is only for sources of kind postgres (source 'hooks' is of kind webhook)"),
            std::string::npos)
      << m;
  EXPECT_NE(m.find("sources[2].max_body: is only for sources of kind webhook (source 'dbz' is of kind debezium)"),
            std::string::npos)
      << m;
  EXPECT_NE(m.find("sources[2].dsn: is only for sources of kind postgres (source 'dbz' is of kind debezium)"),
            std::string::npos)
      << m;
  EXPECT_NE(m.find("sources[3].colour: is not a known key"), std::string::npos) << "unknown keys as before: " << m;
  EXPECT_NE(m.find("targets[0].batch_rows: is only for targets of kind postgres (target 'crm' is of kind http)"),
            std::string::npos)
      << m;
  EXPECT_NE(m.find("targets[1].timeout: is only for targets of kind http (target 'erp' is of kind postgres)"),
            std::string::npos)
      << m;
}

TEST(ConfigKindsTest, AnUnknownKindListsTheKnownOnes) {
  auto c = ParseConfig(R"(
journal: { path: /j }
sources:
  - { name: m, kind: mysql, dsn: "dbname=m", tables: [public.a] }
targets:
  - { name: f, kind: ftp, url: "ftp://x" }
)", "u.yaml");
  ASSERT_FALSE(c.ok());
  const std::string m = c.status().message();
  EXPECT_NE(m.find("sources[0].kind: unknown source kind 'mysql' (known: postgres, debezium, webhook)"),
            std::string::npos)
      << m;
  EXPECT_NE(m.find("targets[0].kind: unknown target kind 'ftp' (known: postgres, http)"), std::string::npos) << m;
}

}  // namespace
}  // namespace handoff
