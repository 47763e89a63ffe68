// Decoding Debezium events: the project's own samples (tests/data/debezium)
// with exact values, inline documents for type mappings, and, when present,
// the external corpus of captured payloads (skipped when absent).
#include <gtest/gtest.h>

#include "debezium_test_util.h"

namespace handoff {
namespace {

using testing::CorpusFile;
using testing::CorpusFiles;
using testing::DecodeOne;
using testing::Find;
using testing::OwnFile;
using testing::OwnFiles;
using Kind = DecodedRecord::Kind;

void ExpectText(const std::vector<Column>& cols, const std::string& name, const std::string& value, uint32_t oid) {
  const Column* c = Find(cols, name);
  ASSERT_NE(c, nullptr) << name;
  EXPECT_EQ(c->kind, Column::Kind::kText) << name;
  EXPECT_EQ(c->data, value) << name;
  EXPECT_EQ(c->type_oid, oid) << name;
}

void ExpectNull(const std::vector<Column>& cols, const std::string& name, uint32_t oid) {
  const Column* c = Find(cols, name);
  ASSERT_NE(c, nullptr) << name;
  EXPECT_TRUE(c->is_null()) << name;
  EXPECT_EQ(c->type_oid, oid) << name;
}

// Own samples ---------------------------------------------------------------

TEST(DebeziumOwnDataTest, EveryOwnFileDecodesToOneRecord) {
  auto files = OwnFiles();
  ASSERT_GE(files.size(), 17u);
  for (const auto& f : files) {
    DebeziumDecoder d;
    std::vector<DecodedRecord> out;
    Status st = d.DecodeAll(testing::ReadFile(f), &out);
    EXPECT_TRUE(st.ok()) << f.filename() << ": " << st.ToString();
    EXPECT_EQ(out.size(), 1u) << f.filename();
    for (const auto& r : out) EXPECT_FALSE(DecodedRecordToJson(r).empty());
  }
}

TEST(DebeziumOwnDataTest, PreciseDecimalsUseTheSchemaScale) {
  DecodedRecord r = DecodeOne(OwnFile("pg_update_invoice_decimals_with_schema.json"));
  ASSERT_EQ(r.kind, Kind::kChange);
  const auto& a = r.event.after;
  ExpectText(a, "amount", "987.65", 1700);  // VariableScaleDecimal {scale 2, 98765}
  ExpectText(a, "hours", "37", 1700);       // VariableScaleDecimal {scale 0}
  ExpectText(a, "quantity", "42", 1700);    // Decimal scale 0
  ExpectText(a, "unit_price", "12345.67", 1700);
  ExpectText(a, "tax_rate", "0.000125", 1700);  // leading zeros after the point
  ExpectText(a, "credit", "-1250.50", 1700);    // two's complement, scale kept
  ExpectText(a, "ledger_total", "123456789012345678901234567890123456789", 1700);
  ExpectText(a, "ledger_total_2", "98765432109876543210987654321098765.43", 1700);
  ExpectText(a, "ledger_total_6", "100000000000000000000000000000000.000001", 1700);
  ExpectText(a, "id", "4711", 23);
  ExpectText(a, "customer", "Fjordline Consulting", 25);
  ExpectText(a, "paid", "t", 16);
  ExpectText(a, "disputed", "f", 16);
  const auto& b = r.event.before;
  ExpectText(b, "amount", "900.00", 1700);
  ExpectText(b, "tax_rate", "0.190000", 1700);
  ExpectNull(b, "unit_price", 1700);
  ExpectNull(b, "hours", 1700);
  ExpectNull(b, "disputed", 16);
  EXPECT_EQ(r.event.op, Op::kUpdate);
  EXPECT_EQ(r.event.position.lsn, 80123456u);
  EXPECT_EQ(r.event.xid, 9120u);
  EXPECT_EQ(r.event.commit_time_us, 1718000000123000);  // source.ts_ms only
  EXPECT_EQ(r.event.schema, "public");
  EXPECT_EQ(r.event.table, "invoices");
  EXPECT_EQ(r.event.source, "erp");
}

TEST(DebeziumOwnDataTest, UnchangedToastAndMicroTimestampWithoutSchema) {
  DecodedRecord r = DecodeOne(OwnFile("pg_update_project_toast_no_schema.json"));
  ASSERT_EQ(r.kind, Kind::kChange);
  const Column* brief = Find(r.event.after, "brief");
  ASSERT_NE(brief, nullptr);
  EXPECT_EQ(brief->kind, Column::Kind::kUnchangedToast);
  EXPECT_TRUE(brief->data.empty());
  ExpectText(r.event.after, "founded_at", "-283996800000000", 20);  // schema-less: an integer
  ExpectText(r.event.after, "name", "Harbour relaunch", 25);
  EXPECT_FALSE(r.event.has_before);
  EXPECT_EQ(r.event.commit_time_us, 1718100000456789);  // source.ts_us preferred over ts_ms
  EXPECT_EQ(r.event.position.lsn, 90210000u);
  EXPECT_EQ(r.event.position.ordinal, 1u);
  EXPECT_EQ(r.event.xid, 4410u);
}

TEST(DebeziumOwnDataTest, SchemaLessNumbersKeepTheirLiteral) {
  DecodedRecord r = DecodeOne(OwnFile("pg_update_time_entry_full_before_no_schema.json"));
  ExpectText(r.event.after, "hours", "7.5", 1700);
  ExpectText(r.event.before, "hours", "1.25", 1700);
  ExpectText(r.event.after, "id", "77", 20);
  ExpectText(r.event.after, "note", "site visit", 25);
  EXPECT_TRUE(r.event.has_before);
  DecodedRecord n = DecodeOne(OwnFile("pg_update_time_entry_before_null_no_schema.json"));
  ExpectText(n.event.after, "hours", "2.0", 1700);  // not "2": the literal as sent
  EXPECT_FALSE(n.event.has_before);
}

TEST(DebeziumOwnDataTest, TemporalTypesWithSchema) {
  DecodedRecord r = DecodeOne(OwnFile("pg_create_timesheet_temporal_with_schema.json"));
  ASSERT_EQ(r.event.op, Op::kInsert);
  const auto& a = r.event.after;
  ExpectText(a, "work_date", "2024-06-10", 1082);
  ExpectText(a, "moon_date", "1969-07-20", 1082);  // negative days
  ExpectText(a, "submitted_at", "2024-06-10 17:45:30.654321", 1114);
  ExpectText(a, "locked_at", "2024-06-12 06:00:00.125", 1114);
  ExpectText(a, "approved_at", "2024-06-11 06:00:05.5+00", 1184);  // normalised to UTC
  ExpectText(a, "start_time", "09:15:00.000251", 1083);
  ExpectText(a, "break_time", "12:30:15.007", 1083);
}

TEST(DebeziumOwnDataTest, PayloadOnlyUpdate) {
  DecodedRecord r = DecodeOne(OwnFile("pg_update_account_payload_only.json"));
  EXPECT_EQ(r.event.op, Op::kUpdate);
  EXPECT_EQ(r.event.source, "crm");
  EXPECT_EQ(r.event.schema, "public");
  EXPECT_EQ(r.event.table, "accounts");
  EXPECT_EQ(r.event.xid, 8801u);
  EXPECT_EQ(r.event.position.lsn, 0x2A3B4C5u);
  EXPECT_EQ(r.event.position.ordinal, 1u);
  ExpectText(r.event.before, "id", "12", 20);
  ExpectText(r.event.after, "name", "Nordlicht Studio GmbH", 25);
  EXPECT_EQ(r.event.commit_time_us, 1718300000111222);
}

TEST(DebeziumOwnDataTest, TransactionRecords) {
  DecodedRecord b = DecodeOne(OwnFile("pg_txn_begin.json"));
  EXPECT_EQ(b.kind, Kind::kTxnBegin);
  EXPECT_EQ(b.txn_id, "9120:80123400");
  EXPECT_EQ(b.xid, 9120u);
  EXPECT_EQ(b.lsn, 80123400u);
  EXPECT_EQ(b.ts_us, 1718000000100000);
  DecodedRecord e = DecodeOne(OwnFile("pg_txn_end.json"));
  EXPECT_EQ(e.kind, Kind::kTxnEnd);
  EXPECT_EQ(e.txn_id, "9120:80123480");
  EXPECT_EQ(e.event_count, 3u);
  ASSERT_EQ(e.data_collections.size(), 2u);
  EXPECT_EQ(e.data_collections[0].first, "public.invoices");
  EXPECT_EQ(e.data_collections[0].second, 2u);
  EXPECT_EQ(e.data_collections[1].first, "public.invoice_lines");
  EXPECT_EQ(e.data_collections[1].second, 1u);
}

TEST(DebeziumOwnDataTest, MessagesTruncateDeleteSnapshot) {
  DecodedRecord m = DecodeOne(OwnFile("pg_message_transactional.json"));
  ASSERT_EQ(m.kind, Kind::kChange);
  EXPECT_EQ(m.event.op, Op::kMessage);
  EXPECT_EQ(m.event.table, "period-close");
  EXPECT_EQ(m.event.xid, 9201u);
  ASSERT_EQ(m.event.after.size(), 1u);
  EXPECT_EQ(m.event.after[0].data, "{\"period\": \"2024-05\", \"step\": \"lock\"}");
  DecodedRecord m2 = DecodeOne(OwnFile("pg_message_nontransactional.json"));
  ASSERT_EQ(m2.event.after.size(), 1u);
  EXPECT_EQ(m2.event.after[0].data, std::string("ok\xfe"));  // bytes, not text
  EXPECT_EQ(m2.event.xid, 0u);
  DecodedRecord t = DecodeOne(OwnFile("pg_truncate.json"));
  EXPECT_EQ(t.event.op, Op::kTruncate);
  EXPECT_EQ(t.event.table, "fx_rates_staging");
  EXPECT_TRUE(t.event.after.empty());
  DecodedRecord d = DecodeOne(OwnFile("pg_delete_time_entry_no_schema.json"));
  EXPECT_EQ(d.event.op, Op::kDelete);
  EXPECT_TRUE(d.event.has_before);
  EXPECT_TRUE(d.event.after.empty());
  ExpectText(d.event.before, "id", "9", 20);
  EXPECT_EQ(d.event.commit_time_us, 1718200000333444);
  EXPECT_EQ(d.event.position.ordinal, 3u);  // transaction.total_order
  DecodedRecord s = DecodeOne(OwnFile("pg_read_contact_snapshot_with_schema.json"));
  EXPECT_EQ(s.event.op, Op::kRead);  // snapshot as a string enum
  ExpectText(s.event.after, "first_name", "Ingrid", 25);
  ExpectText(s.event.after, "id", "31", 23);
  DecodedRecord my = DecodeOne(OwnFile("mysql_read_contact_no_schema.json"));
  EXPECT_EQ(my.event.op, Op::kRead);
  EXPECT_EQ(my.event.schema, "crm_legacy");  // MySQL: source.db
  EXPECT_EQ(my.event.table, "contacts");
  DecodedRecord old = DecodeOne(OwnFile("pg_create_contact_boolean_snapshot_with_schema.json"));
  EXPECT_EQ(old.event.op, Op::kInsert);  // snapshot as a boolean
  EXPECT_EQ(old.event.position.lsn, 70000512u);
  ExpectNull(old.event.after, "email", 25);
}

TEST(DebeziumOwnDataTest, KeysTombstonesHeartbeats) {
  DecodedRecord k = DecodeOne(OwnFile("pg_key_invoice_with_schema.json"));
  EXPECT_EQ(k.kind, Kind::kKey);
  ASSERT_EQ(k.key.size(), 1u);
  EXPECT_EQ(k.key[0].data, "4711");
  EXPECT_EQ(k.key[0].type_oid, 23u);
  DebeziumDecoder d;
  DecodedRecord kv;
  ASSERT_TRUE(d.DecodeKeyValue(OwnFile("pg_update_project_toast_key.json"),
                               OwnFile("pg_update_project_toast_no_schema.json"), &kv)
                  .ok());
  EXPECT_EQ(kv.kind, Kind::kChange);
  EXPECT_EQ(kv.event.key_columns, std::vector<std::string>{"id"});
  DecodedRecord tomb;
  ASSERT_TRUE(d.DecodeKeyValue(OwnFile("pg_update_project_toast_key.json"), "", &tomb).ok());
  EXPECT_EQ(tomb.kind, Kind::kTombstone);
  ASSERT_EQ(tomb.key.size(), 1u);
  EXPECT_EQ(tomb.key[0].data, "305");
  DecodedRecord hb = DecodeOne(R"({"schema":{"type":"struct","fields":[{"type":"int64","field":"ts_ms"}],
    "name":"io.debezium.connector.common.Heartbeat"},"payload":{"ts_ms":1718000000777}})");
  EXPECT_EQ(hb.kind, Kind::kHeartbeat);
  EXPECT_EQ(hb.ts_us, 1718000000777000);
}

TEST(DebeziumOwnDataTest, ArraysNdjsonAndOrdinals) {
  std::string one = OwnFile("pg_update_time_entry_before_null_no_schema.json");
  std::string input = "[" + one + ",null," + one + "]\n" + one + "\n" + one;
  DebeziumDecoder d;
  std::vector<DecodedRecord> out;
  ASSERT_TRUE(d.DecodeAll(input, &out).ok());
  ASSERT_EQ(out.size(), 5u);
  EXPECT_EQ(out[1].kind, Kind::kTombstone);
  EXPECT_EQ(out[0].event.position.ordinal, 1u);
  EXPECT_EQ(out[2].event.position.ordinal, 2u);  // same lsn: the counter goes on
  EXPECT_EQ(out[4].event.position.ordinal, 4u);
  EXPECT_GT(out[3].offset, out[2].offset);
}

// Inline documents ----------------------------------------------------------

TEST(DebeziumDecoderTest, TemporalTypes) {
  std::string doc = R"({"schema":{"type":"struct","fields":[{"type":"struct","optional":true,"field":"after",
    "fields":[
     {"type":"int32","name":"io.debezium.time.Date","field":"d"},
     {"type":"int32","name":"org.apache.kafka.connect.data.Date","field":"d2"},
     {"type":"int64","name":"io.debezium.time.Timestamp","field":"ts"},
     {"type":"int64","name":"io.debezium.time.MicroTimestamp","field":"mts"},
     {"type":"int64","name":"io.debezium.time.NanoTimestamp","field":"nts"},
     {"type":"int64","name":"org.apache.kafka.connect.data.Timestamp","field":"kts"},
     {"type":"string","name":"io.debezium.time.ZonedTimestamp","field":"zts"},
     {"type":"string","name":"io.debezium.time.ZonedTimestamp","field":"zts2"},
     {"type":"int32","name":"io.debezium.time.Time","field":"t"},
     {"type":"int64","name":"io.debezium.time.MicroTime","field":"mt"},
     {"type":"int64","name":"io.debezium.time.NanoTime","field":"nt"},
     {"type":"int32","name":"org.apache.kafka.connect.data.Time","field":"kt"},
     {"type":"int32","name":"io.debezium.time.Date","field":"bc"},
     {"type":"int64","name":"io.debezium.time.MicroTimestamp","field":"neg"}]}]},
   "payload":{"op":"c","source":{"lsn":1},"after":{"d":19723,"d2":0,"ts":1700000000123,"mts":1700000000123456,
     "nts":1700000000123456789,"kts":-1,"zts":"2023-11-14T22:13:20.5Z","zts2":"2023-11-15T00:13:20+02:00",
     "t":3723004,"mt":3723000005,"nt":3723000000001,"kt":0,"bc":-719163,"neg":-1}}})";
  DecodedRecord r = DecodeOne(doc);
  const auto& a = r.event.after;
  ExpectText(a, "d", "2024-01-01", 1082);
  ExpectText(a, "d2", "1970-01-01", 1082);
  ExpectText(a, "ts", "2023-11-14 22:13:20.123", 1114);
  ExpectText(a, "mts", "2023-11-14 22:13:20.123456", 1114);
  ExpectText(a, "nts", "2023-11-14 22:13:20.123456789", 1114);
  ExpectText(a, "kts", "1969-12-31 23:59:59.999", 1114);
  ExpectText(a, "zts", "2023-11-14 22:13:20.5+00", 1184);
  ExpectText(a, "zts2", "2023-11-14 22:13:20+00", 1184);
  ExpectText(a, "t", "01:02:03.004", 1083);
  ExpectText(a, "mt", "01:02:03.000005", 1083);
  ExpectText(a, "nt", "01:02:03.000000001", 1083);
  ExpectText(a, "kt", "00:00:00", 1083);
  ExpectText(a, "bc", "0001-12-31 BC", 1082);
  ExpectText(a, "neg", "1969-12-31 23:59:59.999999", 1114);
}

TEST(DebeziumDecoderTest, MoneyAndStringDecimalsViaSourceColumnType) {
  std::string doc = R"({"schema":{"type":"struct","fields":[{"type":"struct","optional":true,"field":"after",
    "fields":[
     {"type":"bytes","name":"org.apache.kafka.connect.data.Decimal","parameters":{"scale":"2",
      "__debezium.source.column.type":"MONEY"},"field":"price"},
     {"type":"string","parameters":{"__debezium.source.column.type":"NUMERIC"},"field":"amount"},
     {"type":"bytes","name":"org.apache.kafka.connect.data.Decimal","parameters":{"scale":"2"},"field":"neg"},
     {"type":"double","name":"org.apache.kafka.connect.data.Decimal","field":"num"}]}]},
   "payload":{"op":"c","source":{},"after":{"price":"MDk=","amount":"123456789012345678901234567890.000000001",
     "neg":"/zM=","num":1234567890123456789012.5}}})";
  DecodedRecord r = DecodeOne(doc);
  ExpectText(r.event.after, "price", "123.45", 790);
  ExpectText(r.event.after, "amount", "123456789012345678901234567890.000000001", 1700);
  ExpectText(r.event.after, "neg", "-2.05", 1700);
  ExpectText(r.event.after, "num", "1234567890123456789012.5", 1700);
}

TEST(DebeziumDecoderTest, ToastPlaceholderInEveryForm) {
  std::string doc = R"({"schema":{"type":"struct","fields":[{"type":"struct","optional":true,"field":"after",
    "fields":[{"type":"string","field":"s"},{"type":"bytes","field":"b"},
     {"type":"array","items":{"type":"string"},"field":"arr"},
     {"type":"string","name":"io.debezium.data.Json","field":"j"},
     {"type":"struct","name":"io.debezium.data.VariableScaleDecimal","fields":[],"field":"v"},
     {"type":"array","items":{"type":"bytes"},"field":"barr"}]}]},
   "payload":{"op":"u","source":{},"after":{"s":"__debezium_unavailable_value",
     "b":"X19kZWJleml1bV91bmF2YWlsYWJsZV92YWx1ZQ==","arr":["__debezium_unavailable_value"],
     "j":"__debezium_unavailable_value","v":{"scale":0,"value":"X19kZWJleml1bV91bmF2YWlsYWJsZV92YWx1ZQ=="},
     "barr":["X19kZWJleml1bV91bmF2YWlsYWJsZV92YWx1ZQ=="]}}})";
  DecodedRecord r = DecodeOne(doc);
  ASSERT_EQ(r.event.after.size(), 6u);
  for (const Column& c : r.event.after) EXPECT_TRUE(c.is_unchanged_toast()) << c.name;
  EXPECT_EQ(Find(r.event.after, "b")->type_oid, 17u);
  EXPECT_EQ(Find(r.event.after, "arr")->type_oid, 1009u);
}

TEST(DebeziumDecoderTest, ArraysBytesJsonUuid) {
  std::string doc = R"({"schema":{"type":"struct","fields":[{"type":"struct","optional":true,"field":"after",
    "fields":[{"type":"array","items":{"type":"int32"},"field":"ia"},
     {"type":"array","items":{"type":"string"},"field":"ta"},
     {"type":"bytes","field":"b"},{"type":"string","name":"io.debezium.data.Json","field":"j"},
     {"type":"string","name":"io.debezium.data.Uuid","field":"u"}]}]},
   "payload":{"op":"c","source":{},"after":{"ia":[1,null,3],"ta":["a b","NULL","x\"y",""],"b":"AQL/",
     "j":"{\"a\": 1}","u":"a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11"}}})";
  DecodedRecord r = DecodeOne(doc);
  ExpectText(r.event.after, "ia", "{1,NULL,3}", 1007);
  ExpectText(r.event.after, "ta", R"({"a b","NULL","x\"y",""})", 1009);
  ExpectText(r.event.after, "b", "\\x0102ff", 17);
  ExpectText(r.event.after, "j", "{\"a\": 1}", 3802);
  ExpectText(r.event.after, "u", "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11", 2950);
}

TEST(DebeziumDecoderTest, MembersInAnyOrder) {
  std::string doc = R"({"payload":{"after":{"n":"MDk="},"source":{"lsn":7},"op":"c"},
    "schema":{"type":"struct","fields":[{"type":"struct","field":"after","fields":[
      {"type":"bytes","name":"org.apache.kafka.connect.data.Decimal","parameters":{"scale":"2"},"field":"n"}]}]}})";
  DecodedRecord r = DecodeOne(doc);
  ExpectText(r.event.after, "n", "123.45", 1700);
}

// External corpus (skipped when absent) ------------------------------------

TEST(DebeziumCorpusTest, EveryCorpusFileDecodes) {
  HANDOFF_SKIP_WITHOUT_CORPUS("debezium");
  auto files = CorpusFiles();
  ASSERT_GE(files.size(), 25u);
  for (const auto& f : files) {
    DebeziumDecoder d;
    std::vector<DecodedRecord> out;
    Status st = d.DecodeAll(testing::ReadFile(f), &out);
    EXPECT_TRUE(st.ok()) << f.filename() << ": " << st.ToString();
    EXPECT_EQ(out.size(), 1u) << f.filename();
    for (const auto& r : out) EXPECT_FALSE(DecodedRecordToJson(r).empty());
  }
}

TEST(DebeziumCorpusTest, PreciseDecimalsWithSchemaScale) {
  HANDOFF_SKIP_WITHOUT_CORPUS("debezium");
  DecodedRecord r = DecodeOne(CorpusFile("artie-labs__transfer__lib__cdc__util__decimal.json"));
  ASSERT_EQ(r.kind, Kind::kChange);
  const auto& a = r.event.after;
  ExpectText(a, "decimal_test", "123.45", 1700);  // VariableScaleDecimal {scale 2, "MDk="}
  ExpectText(a, "decimal_test_5", "123", 1700);
  ExpectText(a, "decimal_test_5_2", "123.45", 1700);
  ExpectText(a, "decimal_test_39", "58569102859845154622791691858438258688", 1700);
  ExpectText(a, "decimal_test_39_2", "585691028598451546227916918584382586.22", 1700);
  ExpectText(a, "decimal_test_39_6", "585691028598451546227916918584388.123456", 1700);
  ExpectText(a, "id", "1001", 23);
  EXPECT_TRUE(Find(r.event.before, "decimal_test_5_2")->is_null());
  EXPECT_EQ(Find(r.event.before, "decimal_test_5_2")->type_oid, 1700u);
  EXPECT_EQ(r.event.op, Op::kUpdate);
  EXPECT_EQ(r.event.position.lsn, 34049328u);
  EXPECT_EQ(r.event.xid, 763u);
  EXPECT_EQ(r.event.commit_time_us, 1686692942728000);
  EXPECT_EQ(r.event.schema, "inventory");
  EXPECT_EQ(r.event.table, "customers");
  EXPECT_EQ(r.event.source, "dbserver1");
}

TEST(DebeziumCorpusTest, NumericsBooleansFromRelationalSample) {
  HANDOFF_SKIP_WITHOUT_CORPUS("debezium");
  DecodedRecord r = DecodeOne(CorpusFile("relational_data_test__PostgresUpdate.json"));
  const auto& a = r.event.after;
  ExpectText(a, "numeric_test", "123456.789", 1700);
  ExpectText(a, "numeric_5", "1234", 1700);
  ExpectText(a, "numeric_5_2", "578.01", 1700);
  ExpectText(a, "numeric_5_6", "0.023456", 1700);
  ExpectText(a, "numeric_5_0", "5", 1700);
  ExpectText(a, "numeric_39_2", "585691859845154622791691858438258688.22", 1700);
  ExpectText(a, "numeric_39_6", "585691028591691858438258688.123456", 1700);
  ExpectText(a, "boolean_test", "t", 16);
  ExpectText(a, "bool_test", "f", 16);
}

TEST(DebeziumCorpusTest, UnchangedToastAndMicroTimestampWithoutSchema) {
  HANDOFF_SKIP_WITHOUT_CORPUS("debezium");
  DecodedRecord r = DecodeOne(CorpusFile("toast_update_value.json"));
  ASSERT_EQ(r.kind, Kind::kChange);
  const Column* bio = Find(r.event.after, "biography");
  ASSERT_NE(bio, nullptr);
  EXPECT_EQ(bio->kind, Column::Kind::kUnchangedToast);
  EXPECT_TRUE(bio->data.empty());
  ExpectText(r.event.after, "dob", "-1257206400000000", 20);  // schema-less: an integer
  EXPECT_FALSE(r.event.has_before);
  EXPECT_EQ(r.event.commit_time_us, 1746440315942179);  // ts_us preferred
  EXPECT_EQ(r.event.position.lsn, 34415840u);
  EXPECT_EQ(r.event.position.ordinal, 1u);
}

TEST(DebeziumCorpusTest, SchemaLessNumbersKeepTheirLiteral) {
  HANDOFF_SKIP_WITHOUT_CORPUS("debezium");
  DecodedRecord r = DecodeOne(CorpusFile("update_full_before.json"));
  ExpectText(r.event.after, "weight", "0.5", 1700);
  ExpectText(r.event.before, "weight", "0.2", 1700);
  ExpectText(r.event.after, "id", "110", 20);
  EXPECT_TRUE(r.event.has_before);
}

TEST(DebeziumCorpusTest, TransactionRecords) {
  HANDOFF_SKIP_WITHOUT_CORPUS("debezium");
  DecodedRecord b = DecodeOne(CorpusFile("transaction_BEGIN.json"));
  EXPECT_EQ(b.kind, Kind::kTxnBegin);
  EXPECT_EQ(b.txn_id, "571:53195829");
  EXPECT_EQ(b.xid, 571u);
  EXPECT_EQ(b.lsn, 53195829u);
  EXPECT_EQ(b.ts_us, 1486500577125000);
  DecodedRecord e = DecodeOne(CorpusFile("transaction_END.json"));
  EXPECT_EQ(e.kind, Kind::kTxnEnd);
  EXPECT_EQ(e.event_count, 2u);
  ASSERT_EQ(e.data_collections.size(), 2u);
  EXPECT_EQ(e.data_collections[1].first, "s2.a");
  EXPECT_EQ(e.data_collections[1].second, 1u);
}

TEST(DebeziumCorpusTest, MessagesTruncateDeleteSnapshot) {
  HANDOFF_SKIP_WITHOUT_CORPUS("debezium");
  DecodedRecord m = DecodeOne(CorpusFile("message_event_value.json"));
  ASSERT_EQ(m.kind, Kind::kChange);
  EXPECT_EQ(m.event.op, Op::kMessage);
  EXPECT_EQ(m.event.table, "test-prefix");
  ASSERT_EQ(m.event.after.size(), 1u);
  EXPECT_EQ(m.event.after[0].data.substr(0, 9), "{\"id\": 1,");
  DecodedRecord m2 = DecodeOne(CorpusFile("message_event_nontransactional_payload.json"));
  EXPECT_EQ(m2.event.after[0].data, std::string("bg\xf2"));
  EXPECT_EQ(m2.event.xid, 0u);
  DecodedRecord t = DecodeOne(CorpusFile("truncate_event_payload.json"));
  EXPECT_EQ(t.event.op, Op::kTruncate);
  EXPECT_TRUE(t.event.after.empty());
  DecodedRecord d = DecodeOne(CorpusFile("delete_event_payload.json"));
  EXPECT_EQ(d.event.op, Op::kDelete);
  EXPECT_TRUE(d.event.has_before);
  EXPECT_EQ(d.event.commit_time_us, 1559033904863852);
  DecodedRecord s = DecodeOne(CorpusFile("customers__elem3.json"));
  EXPECT_EQ(s.event.op, Op::kRead);
  ExpectText(s.event.after, "first_name", "Anne", 25);
  DecodedRecord my = DecodeOne(CorpusFile("mysql_r.json"));
  EXPECT_EQ(my.event.schema, "inventory");  // MySQL: source.db
  EXPECT_EQ(my.event.table, "customers");
  DecodedRecord old = DecodeOne(CorpusFile("create_event_schema_payload.json"));
  EXPECT_EQ(old.event.op, Op::kInsert);  // snapshot as a boolean
  EXPECT_EQ(old.event.position.lsn, 24023128u);
}

TEST(DebeziumCorpusTest, KeysTombstonesHeartbeats) {
  HANDOFF_SKIP_WITHOUT_CORPUS("debezium");
  DecodedRecord k = DecodeOne(CorpusFile("serde-unnested-delete-key-withschema.json"));
  EXPECT_EQ(k.kind, Kind::kKey);
  ASSERT_EQ(k.key.size(), 1u);
  EXPECT_EQ(k.key[0].data, "1004");
  EXPECT_EQ(k.key[0].type_oid, 23u);
  DebeziumDecoder d;
  DecodedRecord kv;
  ASSERT_TRUE(d.DecodeKeyValue(CorpusFile("toast_update_key.json"), CorpusFile("toast_update_value.json"), &kv).ok());
  EXPECT_EQ(kv.event.key_columns, std::vector<std::string>{"id"});
  DecodedRecord tomb;
  ASSERT_TRUE(d.DecodeKeyValue(CorpusFile("toast_update_key.json"), "", &tomb).ok());
  EXPECT_EQ(tomb.kind, Kind::kTombstone);
  EXPECT_EQ(tomb.key.size(), 1u);
  DecodedRecord hb = DecodeOne(R"({"schema":{"type":"struct","fields":[{"type":"int64","field":"ts_ms"}],
    "name":"io.debezium.connector.common.Heartbeat"},"payload":{"ts_ms":1588252618953}})");
  EXPECT_EQ(hb.kind, Kind::kHeartbeat);
  EXPECT_EQ(hb.ts_us, 1588252618953000);
}

TEST(DebeziumCorpusTest, ArraysNdjsonAndOrdinals) {
  HANDOFF_SKIP_WITHOUT_CORPUS("debezium");
  std::string one = CorpusFile("update_before_null.json");
  std::string input = "[" + one + ",null," + one + "]\n" + one + "\n" + one;
  DebeziumDecoder d;
  std::vector<DecodedRecord> out;
  ASSERT_TRUE(d.DecodeAll(input, &out).ok());
  ASSERT_EQ(out.size(), 5u);
  EXPECT_EQ(out[1].kind, Kind::kTombstone);
  EXPECT_EQ(out[0].event.position.ordinal, 1u);
  EXPECT_EQ(out[2].event.position.ordinal, 2u);  // same lsn: the counter goes on
  EXPECT_EQ(out[4].event.position.ordinal, 4u);
  EXPECT_GT(out[3].offset, out[2].offset);
}

}  // namespace
}  // namespace handoff
