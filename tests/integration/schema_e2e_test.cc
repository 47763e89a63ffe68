// Schema changes while running, through the real binary against a real
// PostgreSQL: columns added on both sides arrive without a restart (whichever
// side is altered first); a column added on the source only, under each
// on_new_column policy; a dropped column; a retyped column the target cannot
// hold; and the schema change in `journal dump`.
#include <fmt/format.h>
#include <signal.h>

#include <fstream>
#include <regex>
#include <sstream>

#include "admin_client.h"
#include "spine_fixture.h"

namespace handoff::testing {
namespace {

using namespace std::chrono_literals;

constexpr const char* kItems =
    "CREATE TABLE items (id int PRIMARY KEY, name text, amount numeric(10,2), code varchar(8));";

size_t Occurrences(const std::string& text, const std::string& needle) {
  size_t n = 0;
  for (size_t p = text.find(needle); p != std::string::npos; p = text.find(needle, p + 1)) ++n;
  return n;
}

class SchemaE2ETest : public SpineTest {
 protected:
  // Source tables t_<policy> (and items) routed to erp; t_park to its own
  // target `hold` so that its pause leaves erp running.
  void Start() {
    CreateDatabases(name_);
    hold_db_ = name_ + "_hold";
    ASSERT_TRUE(server_->CreateDatabase(hold_db_).ok());
    for (const char* t : {"t_add", "t_ignore", "t_park"}) {
      const std::string ddl = fmt::format("CREATE TABLE {} (id int PRIMARY KEY, name text);", t);
      ASSERT_TRUE(server_->Exec(src_db_, ddl).ok());
      ASSERT_TRUE(server_->Exec(std::string(t) == "t_park" ? hold_db_ : dst_db_, ddl).ok());
    }
    ASSERT_TRUE(server_->Exec(src_db_, kItems).ok());
    ASSERT_TRUE(server_->Exec(dst_db_, kItems).ok());
    admin_port_ = FreeTcpPort();
    std::ostringstream c;
    c << "journal: { path: " << dir_ << "/journal }\n"
      << "admin: { listen: \"127.0.0.1:" << admin_port_ << "\" }\n"
      << "sources:\n  - { name: " << name_ << ", kind: postgres, dsn: \"" << server_->Dsn(src_db_)
      << "\", tables: [public.items, public.t_add, public.t_ignore, public.t_park] }\n"
      << "targets:\n  - { name: erp, kind: postgres, dsn: \"" << server_->Dsn(dst_db_) << "\" }\n"
      << "  - { name: hold, kind: postgres, dsn: \"" << server_->Dsn(hold_db_) << "\" }\n"
      << "routes:\n"
      << "  - { from: " << name_ << ".public.items, to: erp.public.items }\n"
      << "  - { from: " << name_ << ".public.t_add, to: erp.public.t_add, on_new_column: add }\n"
      << "  - { from: " << name_ << ".public.t_ignore, to: erp.public.t_ignore, on_new_column: ignore }\n"
      << "  - { from: " << name_ << ".public.t_park, to: hold.public.t_park }\n";
    config_ = dir_ + "/handoff.yaml";
    std::ofstream(config_) << c.str();
    std::string out, err;
    ASSERT_EQ(Handoff({"config", "validate", "--config", config_}, &out, &err), 0) << out << err;
    StartEngine();
  }

  void Src(const std::string& sql) { ASSERT_TRUE(server_->Exec(src_db_, sql).ok()) << sql; }
  void Dst(const std::string& sql) { ASSERT_TRUE(server_->Exec(dst_db_, sql).ok()) << sql; }
  std::string SrcRows(const std::string& sql) { return server_->Dump(src_db_, sql); }
  std::string DstRows(const std::string& sql) { return server_->Dump(dst_db_, sql); }
  bool Same(const std::string& sql) { return SrcRows(sql) == DstRows(sql); }

  std::string Status() {
    std::string out, err;
    if (Handoff({"status", "--config", config_, "--json"}, &out, &err) != 0) return "status failed: " + err;
    return out;
  }
  std::optional<double> Metric(const std::string& series) {
    HttpReply r = HttpGet(admin_port_, "/metrics");
    return r.status == 200 ? MetricValue(r.body, series) : std::nullopt;
  }
  std::string Dump() {
    std::string out, err;
    EXPECT_EQ(Handoff({"journal", "dump", "--config", config_}, &out, &err), 0) << err;
    return out;
  }
  std::string EngineLog() { return LogTail(1 << 24); }

  std::string hold_db_;
  int admin_port_ = 0;
};

TEST_F(SchemaE2ETest, ColumnsAddedOnBothSidesArriveWithoutRestart) {
  Start();
  Src("INSERT INTO items VALUES (1, 'one', 1.50, 'a')");
  const char* kAll = "SELECT * FROM items ORDER BY id";
  ASSERT_TRUE(WaitUntil([&] { return Same(kAll); }, 60s)) << LogTail();

  // Target first, then the source: the next rows carry the value.
  Dst("ALTER TABLE items ADD COLUMN billable boolean");
  Src("ALTER TABLE items ADD COLUMN billable boolean");
  Src("INSERT INTO items VALUES (2, 'two', 2.00, 'b', true); UPDATE items SET billable = false WHERE id = 1");
  ASSERT_TRUE(WaitUntil([&] { return Same(kAll); }, 60s))
      << SrcRows(kAll) << "--\n" << DstRows(kAll) << LogTail();

  // Source first: the route (on_new_column park, the default) holds, with one
  // record, while the target's other routes go on; once the column exists
  // there too, resuming the route takes the held rows.
  Src("ALTER TABLE items ADD COLUMN region text");
  Src("INSERT INTO items VALUES (3, 'three', 3.00, 'c', true, 'emea')");
  const std::string held = "handoff_target_paused{target=\"erp\",route=\"" + name_ + ".public.items\",by=\"operator\"}";
  ASSERT_TRUE(WaitUntil([&] { return Metric(held) == 1.0; }, 60s)) << Status() << LogTail();
  std::string out, err;
  ASSERT_EQ(Handoff({"exceptions", "list", "--config", config_, "--json"}, &out, &err), 0) << err;
  EXPECT_EQ(Occurrences(out, "\"code\":\"new_column\""), 1u) << out;
  Src("INSERT INTO t_add VALUES (9, 'other route')");
  ASSERT_TRUE(WaitUntil([&] { return DstRows("SELECT name FROM t_add WHERE id = 9") == "other route\n"; }, 60s))
      << "the target's other routes go on" << LogTail();
  EXPECT_EQ(DstRows("SELECT id FROM items WHERE id = 3"), "") << "held, not applied without its column";
  // Still held after a crash, and the rows written meanwhile wait with it.
  StopEngine(SIGKILL);
  StartEngine();
  Src("INSERT INTO items VALUES (4, 'four', 4.00, 'd', false, 'amer'); INSERT INTO t_add VALUES (10, 'after')");
  ASSERT_TRUE(WaitUntil([&] { return DstRows("SELECT name FROM t_add WHERE id = 10") == "after\n"; }, 60s))
      << LogTail();
  EXPECT_EQ(Metric(held), 1.0);
  EXPECT_EQ(DstRows("SELECT count(*) FROM items WHERE id >= 3"), "0\n");
  Dst("ALTER TABLE items ADD COLUMN region text");
  ASSERT_EQ(Handoff({"resume", "--config", config_, "--target", "erp", "--route", name_ + ".public.items"}, &out,
                    &err), 0) << out << err;
  ASSERT_TRUE(WaitUntil([&] { return Same(kAll); }, 90s)) << SrcRows(kAll) << "--\n" << DstRows(kAll) << LogTail();
  Src("UPDATE items SET region = 'apac' WHERE id = 1");
  ASSERT_TRUE(WaitUntil([&] { return Same(kAll); }, 60s)) << LogTail();
  EXPECT_EQ(Metric(held).value_or(0), 0.0);
  ASSERT_EQ(Handoff({"exceptions", "list", "--config", config_}, &out, &err), 0) << err;
  EXPECT_NE(out.find("0 open exception(s)"), std::string::npos) << "the record closed by itself: " << out;

  // Both changes are in the journal, as schema events before their rows.
  const std::string dump = Dump();
  EXPECT_EQ(Occurrences(dump, "\"op\":\"schema\""), 2u) << dump;
  std::regex added("\"op\":\"schema\"[^\\n]*\"after\":\\{[^}]*\"billable\":\"boolean\"");
  EXPECT_TRUE(std::regex_search(dump, added)) << dump;
  EXPECT_EQ(StopEngine(SIGTERM), 0);
}

TEST_F(SchemaE2ETest, NewSourceColumnUnderEachPolicy) {
  Start();
  // Row 3 is never changed again: the DEFAULT of the added column fills it
  // at the source without a change in the log.
  for (const char* t : {"t_add", "t_ignore", "t_park"})
    Src(fmt::format("INSERT INTO {} VALUES (1, 'one'), (3, 'three')", t));
  ASSERT_TRUE(WaitUntil([&] { return DstRows("SELECT count(*) FROM t_add") == "2\n" &&
                                     DstRows("SELECT count(*) FROM t_ignore") == "2\n" &&
                                     server_->Dump(hold_db_, "SELECT count(*) FROM t_park") == "2\n"; }, 60s))
      << LogTail();
  for (const char* t : {"t_add", "t_ignore", "t_park"}) {
    Src(fmt::format("ALTER TABLE {} ADD COLUMN hours numeric(6,2) NOT NULL DEFAULT 0", t));
    Src(fmt::format("INSERT INTO {} VALUES (2, 'two', 7.25); UPDATE {} SET hours = 1.50 WHERE id = 1", t, t));
  }
  // add: the column appears on the target with the source's type, with values.
  const char* kAdd = "SELECT * FROM t_add ORDER BY id";
  ASSERT_TRUE(WaitUntil([&] { return Same(kAdd); }, 60s)) << SrcRows(kAdd) << "--\n" << DstRows(kAdd) << LogTail();
  EXPECT_EQ(DstRows("SELECT format_type(atttypid, atttypmod) FROM pg_attribute WHERE attrelid = 't_add'::regclass "
                    "AND attname = 'hours'"),
            "numeric(6,2)\n");
  // ignore: the rows arrive without the column's values, counted, logged once.
  ASSERT_TRUE(WaitUntil([&] { return DstRows("SELECT * FROM t_ignore ORDER BY id") == "1|one\n2|two\n3|three\n"; },
                        60s))
      << DstRows("SELECT * FROM t_ignore ORDER BY id") << LogTail();
  EXPECT_GE(Metric("handoff_schema_columns_total{target=\"erp\",action=\"ignored\"}").value_or(0), 1.0);
  EXPECT_GE(Metric("handoff_schema_columns_total{target=\"erp\",action=\"added\"}").value_or(0), 1.0);
  EXPECT_EQ(Occurrences(EngineLog(), "on_new_column is ignore"), 1u);
  // park: the route to `hold` holds at the schema change with one record.
  const std::string held =
      "handoff_target_paused{target=\"hold\",route=\"" + name_ + ".public.t_park\",by=\"operator\"}";
  ASSERT_TRUE(WaitUntil([&] { return Metric(held) == 1.0; }, 60s)) << Status() << LogTail();
  EXPECT_EQ(server_->Dump(hold_db_, "SELECT * FROM t_park ORDER BY id"), "1|one\n3|three\n")
      << "nothing past the change";
  std::string out, err;
  ASSERT_EQ(Handoff({"exceptions", "list", "--config", config_, "--target", "hold"}, &out, &err), 0) << err;
  EXPECT_NE(out.find("1 open exception(s)"), std::string::npos) << out;
  EXPECT_NE(out.find("new_column"), std::string::npos) << out;
  ASSERT_EQ(Handoff({"exceptions", "list", "--config", config_, "--target", "hold", "--json"}, &out, &err), 0);
  EXPECT_NE(out.find("on_new_column is park"), std::string::npos) << out;
  EXPECT_NE(Status().find("new column at the source"), std::string::npos) << Status();
  // Resumed before the target has the column: held again at the same change.
  ASSERT_EQ(Handoff({"resume", "--config", config_, "--target", "hold", "--route", name_ + ".public.t_park"}, &out,
                    &err), 0) << out << err;
  ASSERT_TRUE(WaitUntil([&] { return EngineLog().find("held again at seq") != std::string::npos; }, 60s))
      << LogTail();
  EXPECT_EQ(Metric(held), 1.0);
  // The operator adds the column; resuming takes everything held, once.
  ASSERT_TRUE(server_->Exec(hold_db_, "ALTER TABLE t_park ADD COLUMN hours numeric(6,2)").ok());
  ASSERT_EQ(Handoff({"resume", "--config", config_, "--target", "hold", "--route", name_ + ".public.t_park"}, &out,
                    &err), 0) << out << err;
  ASSERT_TRUE(WaitUntil([&] {
    return server_->Dump(hold_db_, "SELECT * FROM t_park ORDER BY id") == SrcRows("SELECT * FROM t_park ORDER BY id");
  }, 90s)) << server_->Dump(hold_db_, "SELECT * FROM t_park ORDER BY id") << LogTail();
  ASSERT_TRUE(WaitUntil([&] { return Metric(held).value_or(0) == 0.0; }, 30s));
  EXPECT_EQ(Occurrences(Dump(), "\"op\":\"schema\""), 3u);
  EXPECT_EQ(StopEngine(SIGTERM), 0);
}

TEST_F(SchemaE2ETest, DroppedAndRetypedColumns) {
  Start();
  Src("INSERT INTO items VALUES (1, 'one', 1.50, 'a'), (2, 'two', 2.50, 'b')");
  const char* kAll = "SELECT * FROM items ORDER BY id";
  ASSERT_TRUE(WaitUntil([&] { return Same(kAll); }, 60s)) << LogTail();

  // A dropped source column stops its values; the target keeps the column
  // and the values it had.
  Src("ALTER TABLE items DROP COLUMN code");
  Src("UPDATE items SET name = 'uno' WHERE id = 1; INSERT INTO items VALUES (3, 'three', 3.50)");
  ASSERT_TRUE(WaitUntil([&] { return DstRows("SELECT id, name, amount FROM items ORDER BY id") ==
                                     SrcRows("SELECT id, name, amount FROM items ORDER BY id"); }, 60s))
      << DstRows(kAll) << LogTail();
  EXPECT_EQ(DstRows("SELECT id, code FROM items ORDER BY id"), "1|a\n2|b\n3|\\N\n");

  // Widened at the source beyond what the target column holds: each change
  // with a value there is parked with its reason; the others flow.
  Src("ALTER TABLE items ALTER COLUMN amount TYPE numeric(12,4)");
  Src("INSERT INTO items VALUES (4, 'four', 4.1234)");
  Src("INSERT INTO items VALUES (5, 'five', NULL)");
  ASSERT_TRUE(WaitUntil([&] { return DstRows("SELECT id FROM items WHERE id = 5") == "5\n"; }, 60s)) << LogTail();
  EXPECT_EQ(DstRows("SELECT id FROM items WHERE id = 4"), "") << "not written with a rounded amount";
  std::string out, err;
  ASSERT_EQ(Handoff({"exceptions", "list", "--config", config_, "--json"}, &out, &err), 0) << err;
  EXPECT_NE(out.find("\"code\":\"type_changed\""), std::string::npos) << out;
  EXPECT_NE(out.find("numeric(12,4)"), std::string::npos) << out;
  std::smatch m;
  ASSERT_TRUE(std::regex_search(out, m, std::regex("\"seq\":([0-9]+)[^}]*\"code\":\"type_changed\""))) << out;
  const std::string seq = m[1];
  // A restart still knows the source type of the column.
  StopEngine(SIGKILL);
  StartEngine();
  Src("INSERT INTO items VALUES (7, 'seven', 7.0001)");
  Src("INSERT INTO items VALUES (8, 'eight', NULL)");
  ASSERT_TRUE(WaitUntil([&] { return DstRows("SELECT id FROM items WHERE id = 8") == "8\n"; }, 60s)) << LogTail();
  EXPECT_EQ(DstRows("SELECT id FROM items WHERE id = 7"), "");
  // Still refused while the target column is too narrow; taken once widened.
  EXPECT_NE(Handoff({"exceptions", "retry", "--config", config_, "--target", "erp", "--seq", seq}, &out, &err), 0);
  Dst("ALTER TABLE items ALTER COLUMN amount TYPE numeric(12,4)");
  ASSERT_EQ(Handoff({"exceptions", "retry", "--config", config_, "--target", "erp", "--seq", seq}, &out, &err), 0)
      << out << err;
  EXPECT_EQ(DstRows("SELECT amount FROM items WHERE id = 4"), "4.1234\n");
  Src("INSERT INTO items VALUES (6, 'six', 6.5432)");
  ASSERT_TRUE(WaitUntil([&] { return DstRows("SELECT amount FROM items WHERE id = 6") == "6.5432\n"; }, 60s))
      << LogTail();

  const std::string dump = Dump();
  EXPECT_EQ(Occurrences(dump, "\"op\":\"schema\""), 2u) << dump;
  EXPECT_NE(dump.find("\"amount\":\"numeric(12,4)\""), std::string::npos) << dump;
  EXPECT_EQ(StopEngine(SIGTERM), 0);
}

}  // namespace
}  // namespace handoff::testing
