// A source's life beyond its first start, through the real binary: `handoff
// source drop` (slot, publication and journal position, refused while an
// engine runs the journal or the slot is active, a pre-made publication kept),
// orphan slots and forgotten sources in status and metrics, a new journal
// that refuses a slot it did not create, and a crash right after the slot
// was created.
#include <libpq-fe.h>
#include <signal.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include "admin_client.h"
#include "spine_fixture.h"

namespace handoff::testing {
namespace {

using std::chrono::seconds;
constexpr auto kCatchUp = seconds(90);

size_t Count(const std::string& text, const std::string& what) {
  size_t n = 0;
  for (size_t at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) ++n;
  return n;
}

class SourceLifecycleTest : public SpineTest {
 protected:
  void SetUp() override {
    SpineTest::SetUp();
    admin_port_ = FreeTcpPort();
  }
  std::string Admin() const {
    return "admin: { listen: \"127.0.0.1:" + std::to_string(admin_port_) + "\" }\nengine: { slot_check_interval: 1s }\n";
  }
  // The spine config with the source named `source` (its default slot and publication follow the name).
  void WriteConfigFor(const std::string& source) {
    std::string text = "journal: { path: " + dir_ + "/journal }\nsources:\n  - { name: " + source +
                       ", kind: postgres, dsn: \"" + server_->Dsn(src_db_) +
                       "\", tables: [public.time_entries, public.documents, public.consultants] }\n"
                       "targets:\n  - { name: erp, kind: postgres, dsn: \"" + server_->Dsn(dst_db_) + "\" }\nroutes:\n";
    for (const auto& [t, k] : kSpineTables)
      text += "  - { from: " + source + ".public." + t + ", to: erp.public." + t + " }\n";
    config_ = dir_ + "/handoff.yaml";
    std::ofstream(config_) << text << Admin();
  }
  void Src(const std::string& sql) { ASSERT_TRUE(server_->Exec(src_db_, sql).ok()) << sql; }
  std::string Scalar(const std::string& db, const std::string& sql) {
    std::string v = server_->Dump(db, sql);
    while (!v.empty() && v.back() == '\n') v.pop_back();
    return v;
  }
  std::string SlotCount(const std::string& slot) {
    return Scalar("postgres", "SELECT count(*) FROM pg_replication_slots WHERE slot_name = '" + slot + "'");
  }
  std::string PublicationCount(const std::string& pub) {
    return Scalar(src_db_, "SELECT count(*) FROM pg_publication WHERE pubname = '" + pub + "'");
  }
  int Drop(const std::vector<std::string>& extra, std::string* out, std::string* err) {
    std::vector<std::string> args{"source", "drop", "--config", config_};
    args.insert(args.end(), extra.begin(), extra.end());
    out->clear();
    err->clear();
    return Handoff(args, out, err);
  }
  std::string Status(bool json) {
    std::string out, err;
    std::vector<std::string> args{"status", "--config", config_};
    if (json) args.push_back("--json");
    EXPECT_EQ(Handoff(args, &out, &err), 0) << err;
    return out;
  }
  bool SlotStreaming(const std::string& slot) {
    return WaitUntil([&] {
      return Scalar("postgres", "SELECT count(*) FROM pg_replication_slots WHERE active AND slot_name = '" + slot + "'") ==
             "1";
    });
  }
  bool SlotIdle(const std::string& slot) {
    return WaitUntil([&] {
      return Scalar("postgres", "SELECT count(*) FROM pg_replication_slots WHERE active AND slot_name = '" + slot + "'") ==
             "0";
    });
  }
  double Metric(const std::string& series) {
    return MetricValue(HttpGet(admin_port_, "/metrics").body, series).value_or(-1);
  }
  void SeedAndConverge() {
    Src("INSERT INTO time_entries (id, consultant_id, hours) SELECT g, g % 7, 1.5 FROM generate_series(1, 300) g");
    Src("INSERT INTO consultants (email, name) VALUES ('a@x', 'A'), ('b@x', 'B')");
    StartEngine();
    ASSERT_TRUE(WaitForEqual(kCatchUp)) << LogTail();
    ASSERT_TRUE(SlotStreaming("handoff_" + name_)) << LogTail();
  }
  int admin_port_ = 0;
};

// Streams from `slot` over a replication connection of its own, so the slot
// is active while no engine runs.
class SlotReader {
 public:
  SlotReader(const std::string& dsn, const std::string& slot, const std::string& publication) {
    conn_ = PQconnectdb((dsn + " replication=database").c_str());
    PGresult* r = PQexec(conn_, ("START_REPLICATION SLOT " + slot +
                                 " LOGICAL 0/0 (proto_version '1', publication_names '" + publication + "')")
                                    .c_str());
    ok_ = PQresultStatus(r) == PGRES_COPY_BOTH;
    if (!ok_) error_ = PQerrorMessage(conn_);
    PQclear(r);
  }
  ~SlotReader() { PQfinish(conn_); }
  bool ok() const { return ok_; }
  const std::string& error() const { return error_; }

 private:
  PGconn* conn_ = nullptr;
  bool ok_ = false;
  std::string error_;
};

TEST_F(SourceLifecycleTest, DropRemovesSlotPublicationAndPositionAndTheSourceSnapshotsAgain) {
  CreateDatabases(name_);
  WriteConfigFor(name_);
  SeedAndConverge();
  const std::string slot = "handoff_" + name_;
  std::string out, err;
  // Refused while an engine runs the journal: nothing changes.
  EXPECT_EQ(Drop({"--source", name_, "--yes"}, &out, &err), 1);
  EXPECT_NE(err.find("in use by another engine"), std::string::npos) << err;
  EXPECT_NE(err.find("Stop the engine"), std::string::npos) << err;
  EXPECT_EQ(SlotCount(slot), "1");
  EXPECT_EQ(StopEngine(SIGTERM), 0);
  ASSERT_TRUE(SlotIdle(slot));

  {
    // Refused while something else streams from the slot.
    SlotReader reader(server_->Dsn(src_db_), slot, slot);
    ASSERT_TRUE(reader.ok()) << reader.error();
    ASSERT_TRUE(SlotStreaming(slot));
    EXPECT_EQ(Drop({"--source", name_, "--yes"}, &out, &err), 1);
    EXPECT_NE(err.find("replication slot " + slot + " is active"), std::string::npos) << err;
    EXPECT_EQ(SlotCount(slot), "1");
  }
  ASSERT_TRUE(SlotIdle(slot));

  // Without --yes: the plan, exit 2, nothing dropped.
  EXPECT_EQ(Drop({"--source", name_}, &out, &err), 2) << err;
  EXPECT_NE(out.find("server from the configuration"), std::string::npos) << out;
  EXPECT_NE(out.find("slot " + slot + " (database " + src_db_ + "): drop"), std::string::npos) << out;
  EXPECT_NE(out.find("publication " + slot + " (database " + src_db_ + "): drop (created by handoff for this journal)"),
            std::string::npos)
      << out;
  EXPECT_NE(out.find("forget position"), std::string::npos) << out;
  EXPECT_NE(out.find("--yes"), std::string::npos) << out;
  EXPECT_EQ(SlotCount(slot), "1");
  EXPECT_EQ(PublicationCount(slot), "1");

  ASSERT_EQ(Drop({"--source", name_, "--yes"}, &out, &err), 0) << err << out;
  EXPECT_NE(out.find("dropped slot " + slot), std::string::npos) << out;
  EXPECT_NE(out.find("dropped publication " + slot), std::string::npos) << out;
  EXPECT_NE(out.find("forgot position"), std::string::npos) << out;
  EXPECT_EQ(SlotCount(slot), "0");
  EXPECT_EQ(PublicationCount(slot), "0");
  EXPECT_NE(Status(true).find("{\"name\":\"" + name_ + "\",\"durable_position\":\"0/0#0\"}"), std::string::npos);

  // Still configured: the next run snapshots it again. The target lost its
  // rows meanwhile; only a new snapshot brings back rows nobody changed.
  for (const auto& [t, k] : kSpineTables) ASSERT_TRUE(server_->Exec(dst_db_, "TRUNCATE " + t).ok());
  Src("INSERT INTO time_entries (id, consultant_id) VALUES (5000, 1)");
  const size_t snapshots_before = Count(LogTail(1 << 22), "snapshot attempt 1 of");
  StartEngine();
  ASSERT_TRUE(WaitForEqual(kCatchUp)) << LogTail();
  EXPECT_EQ(Count(LogTail(1 << 22), "snapshot attempt 1 of"), snapshots_before + 1);
  EXPECT_EQ(SlotCount(slot), "1");
  EXPECT_EQ(StopEngine(SIGTERM), 0);
}

TEST_F(SourceLifecycleTest, PreMadePublicationIsLeftAlone) {
  CreateDatabases(name_);
  const std::string pub = "handoff_" + name_;
  Src("CREATE PUBLICATION " + pub + " FOR TABLE time_entries, documents, consultants");
  WriteConfigFor(name_);
  SeedAndConverge();
  EXPECT_EQ(StopEngine(SIGTERM), 0);
  ASSERT_TRUE(SlotIdle(pub));
  std::string out, err;
  ASSERT_EQ(Drop({"--source", name_, "--yes"}, &out, &err), 0) << err << out;
  EXPECT_NE(out.find("publication " + pub + ": left alone: handoff did not create it"), std::string::npos) << out;
  EXPECT_EQ(out.find("dropped publication"), std::string::npos) << out;
  EXPECT_EQ(PublicationCount(pub), "1");
  EXPECT_EQ(SlotCount(pub), "0");
}

// The source is renamed in the configuration: its old slot keeps WAL (an
// orphan) and its old position stays in the journal; both are reported
// until they are dropped.
TEST_F(SourceLifecycleTest, OrphanSlotAndUnconfiguredSourceAreReported) {
  CreateDatabases(name_);
  WriteConfigFor(name_);
  SeedAndConverge();
  EXPECT_EQ(StopEngine(SIGTERM), 0);
  const std::string old_slot = "handoff_" + name_;
  ASSERT_TRUE(SlotIdle(old_slot));
  const std::string renamed = name_ + "n";
  WriteConfigFor(renamed);
  // WAL the old slot must keep.
  Src("INSERT INTO documents (id, title, body) SELECT g, 't' || g, repeat('b', 2000) FROM generate_series(1, 500) g");
  StartEngine();
  ASSERT_TRUE(WaitForEqual(kCatchUp)) << LogTail();
  const std::string labels = "{slot=\"" + old_slot + "\",database=\"" + src_db_ + "\"}";
  ASSERT_TRUE(WaitUntil([&] { return Metric("handoff_orphan_slot_retained_bytes" + labels) > 0; })) << LogTail();
  EXPECT_EQ(Metric("handoff_orphan_slot_present" + labels), 1);
  // The renamed source's own slot is no orphan.
  EXPECT_EQ(Metric("handoff_orphan_slot_present{slot=\"handoff_" + renamed + "\",database=\"" + src_db_ + "\"}"), -1);
  std::string text = Status(false);
  EXPECT_NE(text.find("ORPHAN slot " + old_slot + " (database " + src_db_ + ") retains"), std::string::npos) << text;
  EXPECT_NE(text.find("source " + name_ + " is in the journal but not configured"), std::string::npos) << text;
  EXPECT_NE(text.find("handoff source drop --source " + name_), std::string::npos) << text;
  std::string json = Status(true);
  // (Slots other tests on this server left behind are orphans here too.)
  const size_t orphans = json.find("\"orphan_slots\":[");
  EXPECT_NE(orphans, std::string::npos) << json;
  EXPECT_GT(json.find("{\"slot\":\"" + old_slot + "\",\"database\":\"" + src_db_ + "\",\"retained_wal_bytes\":"),
            orphans)
      << json;
  EXPECT_NE(json.find("\"unconfigured_sources\":[{\"name\":\"" + name_ + "\""), std::string::npos) << json;
  EXPECT_NE(LogTail(1 << 22).find("is named like handoff's but no configured source uses it"), std::string::npos);

  std::string out, err;
  // Not configured any more: the server must be named.
  EXPECT_EQ(Drop({"--source", name_, "--yes"}, &out, &err), 2);
  EXPECT_NE(err.find("give --dsn"), std::string::npos) << err;
  EXPECT_EQ(Drop({"--source", name_, "--dsn", server_->Dsn(src_db_), "--yes"}, &out, &err), 1);

  // Dropped behind the engine's back: its series stay, at 0, and status stops listing it.
  ASSERT_TRUE(server_->Exec("postgres", "SELECT pg_drop_replication_slot('" + old_slot + "')").ok());
  ASSERT_TRUE(WaitUntil([&] { return Metric("handoff_orphan_slot_present" + labels) == 0; })) << LogTail();
  EXPECT_EQ(Metric("handoff_orphan_slot_retained_bytes" + labels), 0);
  EXPECT_EQ(Status(false).find("ORPHAN slot " + old_slot + " "), std::string::npos);
  EXPECT_EQ(StopEngine(SIGTERM), 0);

  ASSERT_EQ(Drop({"--source", name_, "--dsn", server_->Dsn(src_db_), "--yes"}, &out, &err), 0) << err << out;
  EXPECT_NE(out.find("not in the configuration, server from --dsn"), std::string::npos) << out;
  EXPECT_NE(out.find("slot " + old_slot + ": none on the server"), std::string::npos) << out;
  EXPECT_NE(out.find("dropped publication " + old_slot), std::string::npos) << out;
  EXPECT_NE(out.find("forgot position"), std::string::npos) << out;
  EXPECT_EQ(Status(false).find("in the journal but not configured"), std::string::npos);
  EXPECT_EQ(PublicationCount("handoff_" + renamed), "1");
}

// A new journal finds the old journal's slot: it refuses (naming the slot and
// the fix) instead of dropping it; after `source drop` it starts over.
TEST_F(SourceLifecycleTest, NewJournalRefusesToTakeOverAnExistingSlot) {
  CreateDatabases(name_);
  WriteConfigFor(name_);
  SeedAndConverge();
  EXPECT_EQ(StopEngine(SIGTERM), 0);
  const std::string slot = "handoff_" + name_;
  ASSERT_TRUE(SlotIdle(slot));
  const std::string old_slot_lsn =
      Scalar("postgres", "SELECT confirmed_flush_lsn FROM pg_replication_slots WHERE slot_name = '" + slot + "'");
  std::filesystem::remove_all(dir_ + "/journal");
  StartEngine();
  std::string reason;
  ASSERT_TRUE(WaitUntil([&] {
    reason = HttpGet(admin_port_, "/readyz").body;
    return reason.find("handoff source drop") != std::string::npos;
  })) << reason << LogTail();
  EXPECT_NE(reason.find("replication slot \\\"" + slot + "\\\" exists and was not created by this journal"),
            std::string::npos)
      << reason;
  EXPECT_NE(LogTail(1 << 22).find("configure another `slot:`"), std::string::npos);
  EXPECT_EQ(SlotCount(slot), "1");
  EXPECT_EQ(Scalar("postgres", "SELECT confirmed_flush_lsn FROM pg_replication_slots WHERE slot_name = '" + slot + "'"),
            old_slot_lsn)
      << "the foreign slot was used";
  StopEngine(SIGTERM);

  std::string out, err;
  ASSERT_EQ(Drop({"--source", name_, "--yes"}, &out, &err), 0) << err << out;
  EXPECT_NE(out.find("created by handoff for journal "), std::string::npos) << out;
  EXPECT_NE(out.find("holds no position of source " + name_), std::string::npos) << out;
  EXPECT_EQ(SlotCount(slot), "0");
  Src("INSERT INTO time_entries (id, consultant_id) VALUES (6000, 2)");
  StartEngine();
  ASSERT_TRUE(WaitForEqual(kCatchUp)) << LogTail();
  EXPECT_EQ(StopEngine(SIGTERM), 0);
}

// Killed right after creating its slot, before journaling the attempt: the
// slot marker {0, 1} says the slot is this journal's, so the next run drops
// and remakes it and converges.
TEST_F(SourceLifecycleTest, CrashAfterSlotCreationRecovers) {
  CreateDatabases(name_);
  WriteConfigFor(name_);
  Src("INSERT INTO time_entries (id, consultant_id) SELECT g, 3 FROM generate_series(1, 200) g");
  StartEngine({"HANDOFF_CRASH_AT=capture.slot_created:1"});
  ASSERT_EQ(engine_.Wait(seconds(60)), 128 + SIGKILL) << LogTail();
  const std::string slot = "handoff_" + name_;
  ASSERT_TRUE(SlotIdle(slot));
  EXPECT_EQ(SlotCount(slot), "1");
  EXPECT_NE(Status(false).find("durable position 0/0#1"), std::string::npos);
  Src("DELETE FROM time_entries WHERE id % 10 = 0");
  StartEngine();
  ASSERT_TRUE(WaitForEqual(kCatchUp)) << LogTail();
  EXPECT_NE(LogTail(1 << 22).find("this journal's attempt created it"), std::string::npos);
  EXPECT_EQ(StopEngine(SIGTERM), 0);
}

}  // namespace
}  // namespace handoff::testing
