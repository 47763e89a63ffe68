// Table shapes through the real binary and a real PostgreSQL 15: partitioned
// source tables (through the root, and each partition as its own table), a
// primary key with INCLUDE columns, a TRUNCATE of tables tied by a foreign key,
// REPLICA IDENTITY FULL with a configured key, and the table checks that run
// before a publication is touched.
#include <signal.h>

#include <fstream>
#include <sstream>

#include "admin_client.h"
#include "spine_fixture.h"

namespace handoff::testing {
namespace {

constexpr auto kCatchUp = std::chrono::seconds(60);

class ShapesE2ETest : public SpineTest {
 protected:
  // Databases <name>_src / <name>_dst with `src_sql` and `dst_sql`.
  void MakeDatabases(const std::string& src_sql, const std::string& dst_sql) {
    src_db_ = name_ + "_src";
    dst_db_ = name_ + "_dst";
    ASSERT_TRUE(server_->CreateDatabase(src_db_).ok());
    ASSERT_TRUE(server_->CreateDatabase(dst_db_).ok());
    Status st = server_->Exec(src_db_, src_sql);
    ASSERT_TRUE(st.ok()) << st.ToString();
    st = server_->Exec(dst_db_, dst_sql);
    ASSERT_TRUE(st.ok()) << st.ToString();
  }

  // A config with one source listing `tables` (YAML flow list items) and
  // routes "table" -> erp.public.table for each of `routed`.
  void Config(const std::string& tables, const std::vector<std::string>& routed, const std::string& source_extra = "",
              const std::string& extra = "") {
    std::ostringstream c;
    c << "journal: { path: " << dir_ << "/journal }\n"
      << "sources:\n  - { name: " << name_ << ", kind: postgres, dsn: \"" << server_->Dsn(src_db_)
      << "\", tables: [" << tables << "]" << source_extra << " }\n"
      << "targets:\n  - { name: erp, kind: postgres, dsn: \"" << server_->Dsn(dst_db_) << "\" }\n"
      << "routes:\n";
    for (const auto& t : routed) c << "  - { from: " << name_ << ".public." << t << ", to: erp.public." << t << " }\n";
    c << extra;
    config_ = dir_ + "/handoff.yaml";
    std::ofstream(config_) << c.str();
  }

  std::string Rows(const std::string& db, const std::string& table, const std::string& order) {
    return server_->Dump(db, "SELECT x::text FROM " + table + " x ORDER BY " + order);
  }

  // Waits until `table` holds the same rows in source and target.
  bool Same(const std::string& src_table, const std::string& dst_table, const std::string& order) {
    bool same = WaitUntil([&] { return Rows(src_db_, src_table, order) == Rows(dst_db_, dst_table, order); }, kCatchUp);
    if (!same)
      ADD_FAILURE() << src_table << " differs\n--- source\n" << Rows(src_db_, src_table, order).substr(0, 2000)
                    << "\n--- target\n" << Rows(dst_db_, dst_table, order).substr(0, 2000) << "\n" << LogTail();
    return same;
  }

  std::string One(const std::string& db, const std::string& sql) {
    auto rows = server_->Query(db, sql);
    if (!rows.ok() || rows->empty() || (*rows)[0].empty()) return "<" + rows.status().ToString() + ">";
    return (*rows)[0][0];
  }

  size_t Count(const std::string& haystack, const std::string& needle) {
    size_t n = 0;
    for (size_t at = haystack.find(needle); at != std::string::npos; at = haystack.find(needle, at + 1)) ++n;
    return n;
  }

  std::string Log() { return LogTail(1 << 20); }
  // The log without the retry summaries ("still failing after N tries ..."),
  // which repeat the last error at growing intervals.
  std::string LogWithoutSummaries() {
    std::istringstream in(Log());
    std::string line, out;
    while (std::getline(in, line))
      if (line.find("still failing after") == std::string::npos) out += line + "\n";
    return out;
  }
  // How often the source failed in its current state "failed" (0 otherwise),
  // from the engine's /status.
  long FailedTries(int admin_port) {
    const std::string body = HttpGet(admin_port, "/status").body;
    const size_t at = body.find("\"state\":\"failed\"");
    if (at == std::string::npos) return 0;
    const size_t f = body.find("\"failures\":", at);
    return f == std::string::npos ? 0 : std::atol(body.c_str() + f + 11);
  }
};

constexpr const char* kOrders = R"sql(
CREATE TABLE orders (id int, region text, amount numeric(12,2), note text, PRIMARY KEY (id, region))
  PARTITION BY LIST (region);
CREATE TABLE orders_eu PARTITION OF orders FOR VALUES IN ('eu');
CREATE TABLE orders_us PARTITION OF orders FOR VALUES IN ('us');
)sql";

TEST_F(ShapesE2ETest, PartitionedTableThroughItsRoot) {
  MakeDatabases(std::string(kOrders) +
                    "INSERT INTO orders SELECT g, CASE WHEN g % 2 = 0 THEN 'eu' ELSE 'us' END, g * 1.5, 'n' || g"
                    " FROM generate_series(1, 40) g;",
                "CREATE TABLE orders (id int, region text, amount numeric(12,2), note text, PRIMARY KEY (id, region));");
  Config("public.orders", {"orders"});
  StartEngine();
  ASSERT_TRUE(Same("orders", "orders", "id, region"));  // the snapshot of the partitioned parent

  ASSERT_TRUE(server_->Exec(src_db_, R"sql(
    INSERT INTO orders SELECT g, CASE WHEN g % 2 = 0 THEN 'eu' ELSE 'us' END, g, 'new' FROM generate_series(41, 60) g;
    UPDATE orders SET amount = amount + 100, note = 'updated' WHERE id % 5 = 0;
    UPDATE orders SET region = 'eu', note = 'moved to eu' WHERE id IN (1, 3, 45);
    UPDATE orders SET region = 'us', note = 'moved to us' WHERE id IN (2, 50);
    DELETE FROM orders WHERE id IN (7, 8, 52);
  )sql").ok());
  ASSERT_TRUE(Same("orders", "orders", "id, region"));
  EXPECT_EQ(One(dst_db_, "SELECT region || ' ' || note FROM orders WHERE id = 3"), "eu moved to eu");
  EXPECT_EQ(One(src_db_, "SELECT pubviaroot::text FROM pg_publication WHERE pubname = 'handoff_" + name_ + "'"),
            "true");
  EXPECT_EQ(Log().find("not a configured table"), std::string::npos) << Log();
  EXPECT_EQ(StopEngine(SIGTERM), 0);

  // An existing publication without the option gets it on a resumed start.
  ASSERT_TRUE(server_->Exec(src_db_, "ALTER PUBLICATION handoff_" + name_ + " SET (publish_via_partition_root = false)").ok());
  StartEngine();
  ASSERT_TRUE(server_->Exec(src_db_, "UPDATE orders SET region = 'us', note = 'back' WHERE id = 1;"
                                     "INSERT INTO orders VALUES (61, 'eu', 1, 'after restart');").ok());
  ASSERT_TRUE(Same("orders", "orders", "id, region"));
  EXPECT_EQ(One(src_db_, "SELECT pubviaroot::text FROM pg_publication WHERE pubname = 'handoff_" + name_ + "'"),
            "true");
  EXPECT_EQ(StopEngine(SIGTERM), 0);
}

TEST_F(ShapesE2ETest, EachPartitionAsItsOwnTable) {
  const std::string part = "(id int, region text, amount numeric(12,2), note text, PRIMARY KEY (id, region))";
  MakeDatabases(std::string(kOrders) +
                    "INSERT INTO orders SELECT g, CASE WHEN g % 2 = 0 THEN 'eu' ELSE 'us' END, g, 'n' FROM "
                    "generate_series(1, 20) g;",
                "CREATE TABLE orders_eu " + part + "; CREATE TABLE orders_us " + part +
                    "; CREATE TABLE orders_apac " + part + ";");
  Config("public.orders", {"orders_eu", "orders_us", "orders_apac"}, ", partitions: each");
  StartEngine();
  ASSERT_TRUE(Same("orders_eu", "orders_eu", "id"));
  ASSERT_TRUE(Same("orders_us", "orders_us", "id"));

  ASSERT_TRUE(server_->Exec(src_db_, R"sql(
    INSERT INTO orders VALUES (21, 'us', 1, 'new'), (22, 'eu', 2, 'new');
    UPDATE orders SET note = 'updated' WHERE id IN (4, 5);
    UPDATE orders SET region = 'eu' WHERE id = 9;
    DELETE FROM orders WHERE id = 10;
  )sql").ok());
  ASSERT_TRUE(Same("orders_eu", "orders_eu", "id"));
  ASSERT_TRUE(Same("orders_us", "orders_us", "id"));
  // A partition created while streaming is routed as soon as it carries changes.
  ASSERT_TRUE(server_->Exec(src_db_, "CREATE TABLE orders_apac PARTITION OF orders FOR VALUES IN ('apac');"
                                     "INSERT INTO orders VALUES (30, 'apac', 3, 'apac'), (31, 'apac', 4, 'apac');"
                                     "UPDATE orders SET region = 'apac' WHERE id = 11;").ok());
  ASSERT_TRUE(Same("orders_apac", "orders_apac", "id"));
  ASSERT_TRUE(Same("orders_us", "orders_us", "id"));
  EXPECT_EQ(One(src_db_, "SELECT pubviaroot::text FROM pg_publication WHERE pubname = 'handoff_" + name_ + "'"),
            "false");
  EXPECT_EQ(Log().find("not a configured table"), std::string::npos) << Log();
  EXPECT_EQ(StopEngine(SIGTERM), 0);
}

TEST_F(ShapesE2ETest, PrimaryKeyWithIncludeColumns) {
  const std::string ddl = "CREATE TABLE inc (a int, b text, c int, PRIMARY KEY (a) INCLUDE (b));";
  MakeDatabases(ddl + "INSERT INTO inc SELECT g, CASE WHEN g % 3 = 0 THEN NULL ELSE 'b' || g END, g"
                      " FROM generate_series(1, 30) g;",
                ddl);
  Config("public.inc", {"inc"});
  StartEngine();
  ASSERT_TRUE(Same("inc", "inc", "a"));
  ASSERT_TRUE(server_->Exec(src_db_, "INSERT INTO inc VALUES (31, NULL, 1), (32, 'x', 2);"
                                     "UPDATE inc SET b = NULL, c = -1 WHERE a IN (1, 2);"
                                     "UPDATE inc SET b = 'set' WHERE a = 3;"
                                     "DELETE FROM inc WHERE a IN (4, 6);").ok());
  ASSERT_TRUE(Same("inc", "inc", "a"));
  std::string out, err;
  ASSERT_EQ(Handoff({"exceptions", "list", "--config", config_}, &out, &err), 0) << err;
  EXPECT_EQ(out.find("key column b"), std::string::npos) << out;
  EXPECT_EQ(StopEngine(SIGTERM), 0);
  // Snapshot rows and streamed changes name the key's key columns only.
  ASSERT_EQ(Handoff({"journal", "dump", "--config", config_}, &out, &err), 0) << err;
  EXPECT_NE(out.find("\"op\":\"read\""), std::string::npos);
  EXPECT_EQ(out.find("\"key\":[\"a\",\"b\"]"), std::string::npos) << out.substr(0, 2000);
  EXPECT_EQ(Count(out, "\"key\":[\"a\"]"), 30u + 2u + 3u + 2u) << out.substr(0, 2000);
}

constexpr const char* kParentChild = R"sql(
CREATE TABLE parent (id serial PRIMARY KEY, name text);
CREATE TABLE child (id serial PRIMARY KEY, parent_id int NOT NULL REFERENCES parent(id), v text);
)sql";

TEST_F(ShapesE2ETest, TruncateOfTablesTiedByAForeignKey) {
  MakeDatabases(kParentChild, kParentChild);
  Config("public.parent, public.child", {"parent", "child"});
  const std::string fill =
      "INSERT INTO parent (name) SELECT 'p' || g FROM generate_series(1, 5) g;"
      "INSERT INTO child (parent_id, v) SELECT (SELECT min(id) FROM parent) + g % 5, 'c' || g"
      " FROM generate_series(1, 10) g;";
  ASSERT_TRUE(server_->Exec(src_db_, fill).ok());
  StartEngine();
  ASSERT_TRUE(Same("parent", "parent", "id"));
  ASSERT_TRUE(Same("child", "child", "id"));
  auto one_transaction = [&] {
    return One(dst_db_, "SELECT count(DISTINCT xmin::text) FROM pg_class WHERE oid IN ('parent'::regclass, 'child'::regclass)");
  };

  // TRUNCATE a, b: one statement on the target, in one transaction.
  ASSERT_TRUE(server_->Exec(src_db_, "TRUNCATE parent, child").ok());
  ASSERT_TRUE(WaitUntil([&] { return One(dst_db_, "SELECT count(*) FROM parent") == "0"; }, kCatchUp)) << LogTail();
  ASSERT_TRUE(Same("child", "child", "id"));
  EXPECT_EQ(one_transaction(), "1");

  // RESTART IDENTITY reaches the target's sequences.
  ASSERT_TRUE(server_->Exec(src_db_, fill).ok());
  ASSERT_TRUE(Same("child", "child", "id"));
  ASSERT_TRUE(server_->Exec(dst_db_, "SELECT nextval('parent_id_seq'), nextval('parent_id_seq')").ok());
  ASSERT_TRUE(server_->Exec(src_db_, "TRUNCATE child, parent RESTART IDENTITY").ok());
  ASSERT_TRUE(WaitUntil([&] { return One(dst_db_, "SELECT count(*) FROM parent") == "0"; }, kCatchUp)) << LogTail();
  ASSERT_TRUE(Same("child", "child", "id"));
  EXPECT_EQ(one_transaction(), "1");
  EXPECT_EQ(One(dst_db_, "SELECT is_called::text FROM parent_id_seq"), "false");

  // CASCADE: the source names only the referenced table.
  ASSERT_TRUE(server_->Exec(src_db_, fill).ok());
  ASSERT_TRUE(Same("parent", "parent", "id"));
  ASSERT_TRUE(Same("child", "child", "id"));
  ASSERT_TRUE(server_->Exec(src_db_, "TRUNCATE parent CASCADE").ok());
  ASSERT_TRUE(WaitUntil([&] { return One(dst_db_, "SELECT count(*) FROM parent") == "0"; }, kCatchUp)) << LogTail();
  ASSERT_TRUE(Same("child", "child", "id"));
  EXPECT_EQ(one_transaction(), "1");

  // Rows written after the truncates still arrive, and nothing was parked.
  ASSERT_TRUE(server_->Exec(src_db_, fill).ok());
  ASSERT_TRUE(Same("parent", "parent", "id"));
  ASSERT_TRUE(Same("child", "child", "id"));
  std::string out, err;
  ASSERT_EQ(Handoff({"exceptions", "list", "--config", config_}, &out, &err), 0) << err;
  EXPECT_EQ(out.find("truncate"), std::string::npos) << out;
  EXPECT_EQ(StopEngine(SIGTERM), 0);
  ASSERT_EQ(Handoff({"journal", "dump", "--config", config_}, &out, &err), 0) << err;
  EXPECT_NE(out.find("\"truncate\":{\"cascade\":false,\"restart_identity\":true,\"index\":1,\"count\":2}"),
            std::string::npos)
      << out.substr(0, 3000);
  EXPECT_NE(out.find("\"truncate\":{\"cascade\":true,\"restart_identity\":false,\"index\":0,\"count\":2}"),
            std::string::npos);
}

constexpr const char* kNotes = R"sql(
CREATE TABLE ok (id int PRIMARY KEY, v text);
CREATE TABLE notes (id int, body text);
INSERT INTO notes VALUES (1, 'a');
)sql";

TEST_F(ShapesE2ETest, KeylessTableIsRefusedBeforeThePublicationChanges) {
  MakeDatabases(kNotes, kNotes);
  const std::string pub = "handoff_" + name_;
  ASSERT_TRUE(server_->Exec(src_db_, "CREATE PUBLICATION " + pub + " FOR TABLE ok").ok());
  const int admin_port = FreeTcpPort();
  Config("public.ok, public.notes", {"ok", "notes"}, "",
         "admin: { listen: \"127.0.0.1:" + std::to_string(admin_port) + "\" }\n");

  std::string out, err;
  EXPECT_EQ(Handoff({"config", "validate", "--config", config_}, &out, &err), 2) << out;
  EXPECT_NE(err.find("source " + name_ + ": table public.notes has no primary key or replica identity index; add a "
                     "primary key, or ALTER TABLE public.notes REPLICA IDENTITY USING INDEX"),
            std::string::npos)
      << err;
  EXPECT_EQ(err.find("public.ok"), std::string::npos) << err;

  StartEngine();
  // The source is failed (and retried, so a fix needs no restart); the
  // engine reports it and logs it once, not once per retry.
  ASSERT_TRUE(WaitUntil([&] { return FailedTries(admin_port) >= 3; }, kCatchUp)) << LogTail();
  const HttpReply ready = HttpGet(admin_port, "/readyz");
  EXPECT_EQ(ready.status, 503);
  EXPECT_NE(ready.body.find("public.notes has no primary key"), std::string::npos) << ready.body;
  const std::string log = LogWithoutSummaries();
  EXPECT_EQ(Count(log, "public.notes has no primary key"), 1u) << log;
  EXPECT_LE(Count(Log(), "still failing after"), 6u) << Log();
  EXPECT_EQ(server_->Dump(src_db_, "SELECT tablename FROM pg_publication_tables WHERE pubname = '" + pub + "'"),
            "ok\n");
  EXPECT_EQ(One(src_db_, "SELECT count(*) FROM pg_replication_slots WHERE slot_name = '" + pub + "'"), "0");
  // The application's UPDATE still works: the table never joined the publication.
  EXPECT_TRUE(server_->Exec(src_db_, "UPDATE notes SET body = 'b' WHERE id = 1").ok());
}

TEST_F(ShapesE2ETest, MissingTableIsNamed) {
  MakeDatabases(kNotes, kNotes);
  const int admin_port = FreeTcpPort();
  Config("public.ok, public.nope", {"ok"}, "", "admin: { listen: \"127.0.0.1:" + std::to_string(admin_port) + "\" }\n");
  std::string out, err;
  EXPECT_EQ(Handoff({"config", "validate", "--config", config_}, &out, &err), 2) << out;
  EXPECT_NE(err.find("table public.nope does not exist"), std::string::npos) << err;
  StartEngine();
  ASSERT_TRUE(WaitUntil([&] { return FailedTries(admin_port) >= 1; }, kCatchUp)) << LogTail();
  EXPECT_NE(HttpGet(admin_port, "/readyz").body.find("table public.nope does not exist"), std::string::npos);
  EXPECT_NE(Log().find("table public.nope does not exist"), std::string::npos) << Log();
  EXPECT_EQ(One(src_db_, "SELECT count(*) FROM pg_publication"), "0");
}

TEST_F(ShapesE2ETest, UnreachableSourceDoesNotFailTheOfflineChecks) {
  MakeDatabases(kNotes, kNotes);
  Config("public.ok", {"ok"});
  std::string text;
  {
    std::ifstream in(config_);
    std::stringstream ss;
    ss << in.rdbuf();
    text = ss.str();
  }
  const std::string dsn = server_->Dsn(src_db_);
  text.replace(text.find(dsn), dsn.size(), "host=127.0.0.1 port=" + std::to_string(FreeTcpPort()) + " dbname=x");
  std::ofstream(config_) << text;
  std::string out, err;
  EXPECT_EQ(Handoff({"config", "validate", "--config", config_}, &out, &err), 0) << err;
  EXPECT_NE(err.find("source " + name_ + ": tables not checked"), std::string::npos) << err;
  EXPECT_NE(out.find("tables checked on 0 of 1 PostgreSQL sources"), std::string::npos) << out;
}

TEST_F(ShapesE2ETest, ReplicaIdentityFullWithAConfiguredKey) {
  const std::string ddl = "CREATE TABLE full_t (a int NOT NULL, b text);";
  MakeDatabases(ddl + "ALTER TABLE full_t REPLICA IDENTITY FULL; INSERT INTO full_t VALUES (1, 'x'), (2, 'y');",
                "CREATE TABLE full_t (a int PRIMARY KEY, b text);");
  Config("public.full_t", {"full_t"});
  std::string out, err;
  EXPECT_EQ(Handoff({"config", "validate", "--config", config_}, &out, &err), 2) << out;
  EXPECT_NE(err.find("table public.full_t has REPLICA IDENTITY FULL and no primary key"), std::string::npos) << err;

  Config("{ table: public.full_t, key: [a] }", {"full_t"});
  EXPECT_EQ(Handoff({"config", "validate", "--config", config_}, &out, &err), 0) << err;
  StartEngine();
  ASSERT_TRUE(Same("full_t", "full_t", "a"));
  ASSERT_TRUE(server_->Exec(src_db_, "UPDATE full_t SET b = 'z' WHERE a = 1; DELETE FROM full_t WHERE a = 2;"
                                     "INSERT INTO full_t VALUES (3, NULL);").ok());
  ASSERT_TRUE(Same("full_t", "full_t", "a"));
  EXPECT_EQ(StopEngine(SIGTERM), 0);
  ASSERT_EQ(Handoff({"journal", "dump", "--config", config_}, &out, &err), 0) << err;
  EXPECT_EQ(out.find("\"key\":[\"a\",\"b\"]"), std::string::npos) << out.substr(0, 2000);
  EXPECT_EQ(Count(out, "\"key\":[\"a\"]"), 5u) << out.substr(0, 2000);
}

TEST_F(ShapesE2ETest, ChangesOfAnUnconfiguredTableAreCountedNotSilent) {
  MakeDatabases(kNotes + std::string("CREATE TABLE extra (id int PRIMARY KEY);"), kNotes);
  const int admin_port = FreeTcpPort();
  Config("public.ok", {"ok"}, "", "admin: { listen: \"127.0.0.1:" + std::to_string(admin_port) + "\" }\n");
  StartEngine();
  ASSERT_TRUE(server_->Exec(src_db_, "INSERT INTO ok VALUES (1, 'one')").ok());
  ASSERT_TRUE(Same("ok", "ok", "id"));
  // Someone adds a table to handoff's publication by hand.
  ASSERT_TRUE(server_->Exec(src_db_, "ALTER PUBLICATION handoff_" + name_ + " ADD TABLE extra;"
                                     "INSERT INTO extra VALUES (1), (2); INSERT INTO ok VALUES (2, 'two');").ok());
  ASSERT_TRUE(Same("ok", "ok", "id"));
  ASSERT_TRUE(WaitUntil([&] { return Count(Log(), "public.extra, which is not a configured table") == 1; }, kCatchUp))
      << Log();
  const std::string series = "handoff_capture_unrouted_total{source=\"" + name_ + "\",table=\"public.extra\"}";
  std::string metrics;
  ASSERT_TRUE(WaitUntil([&] {
    metrics = HttpGet(admin_port, "/metrics").body;
    return MetricValue(metrics, series) == 2.0;
  }, kCatchUp)) << metrics;
  EXPECT_EQ(Count(Log(), "public.extra, which is not a configured table"), 1u);
  EXPECT_EQ(StopEngine(SIGTERM), 0);
}

}  // namespace
}  // namespace handoff::testing
