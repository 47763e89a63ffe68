// Encoder output: round trip through the decoder on a broad sample (every
// mapped type, NULL, unchanged TOAST), both decimal modes, with and without
// the schema envelope.
#include <gtest/gtest.h>

#include <simdjson.h>

#include "debezium_test_util.h"

namespace handoff {
namespace {

using testing::DecodeOne;
using testing::Find;
using K = Column::Kind;

// Full validation by simdjson's DOM parser (independent of the decoder).
bool IsValidJson(const std::string& s) {
  simdjson::dom::parser p;
  simdjson::dom::element e;
  return p.parse(s).get(e) == simdjson::SUCCESS;
}

Column Text(std::string name, uint32_t oid, std::string v) { return {std::move(name), oid, K::kText, std::move(v)}; }

ChangeEvent SampleEvent() {
  ChangeEvent e;
  e.source = "crm";
  e.source_kind = SourceKind::kDebezium;
  e.position = {0x16B374D848ull, 12};
  e.xid = 4242;
  e.commit_time_us = 1700000000123456;
  e.origin = "handoff";
  e.correlation_id = "crm:16/B374D848#12";
  e.schema = "public";
  e.table = "time_entries";
  e.op = Op::kUpdate;
  e.key_columns = {"id"};
  e.after = {
      Text("id", 20, "9223372036854775807"),
      Text("small", 21, "-32768"),
      Text("i4", 23, "42"),
      Text("f4", 700, "1.5"),
      Text("f8", 701, "-2.5e-300"),
      Text("fnan", 701, "NaN"),
      Text("flag", 16, "t"),
      Text("name", 25, "Zoë \"quoted\" \\ back\nline\t\x01"),
      Text("vc", 1043, "varchar"),
      Text("bp", 1042, "ab  "),
      Text("amount", 1700, "-123456789012345678901234567890.000000001"),
      Text("amount_int", 1700, "100"),
      Text("nan_numeric", 1700, "NaN"),
      Text("price", 790, "123.45"),
      Text("day", 1082, "2024-02-29"),
      Text("old_day", 1082, "0044-03-15 BC"),
      Text("inf_day", 1082, "infinity"),
      Text("at", 1114, "2024-02-29 23:59:59.999999"),
      Text("at_ns", 1114, "2024-02-29 23:59:59.1234567"),
      Text("at_tz", 1184, "2024-02-29 23:59:59.5+00"),
      Text("at_tz_off", 1184, "2024-02-29 23:59:59+05:30"),
      Text("t", 1083, "13:14:15.000001"),
      Text("ttz", 1266, "13:14:15+02"),
      Text("iv", 1186, "1 year 2 mons 3 days 04:05:06.78"),
      Text("blob", 17, "\\x00ff10"),
      Text("doc", 3802, "{\"a\": [1, 2]}"),
      Text("doc_json", 114, "{\"b\":null}"),
      Text("u", 2950, "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11"),
      Text("x", 142, "<a>1</a>"),
      Text("ints", 1007, "{1,NULL,3}"),
      Text("texts", 1009, "{\"a b\",c}"),
      Text("unknown", 16384, "(1,2)"),
      Text("no_oid", 0, "?"),
      Column{"raw", 17, K::kBinary, std::string("\0\1\2", 3)},
      Column{"gone", 25, K::kNull, {}},
      Column{"gone_num", 1700, K::kNull, {}},
      Column{"toast_text", 25, K::kUnchangedToast, {}},
      Column{"toast_bytes", 17, K::kUnchangedToast, {}},
      Column{"toast_json", 3802, K::kUnchangedToast, {}},
      Column{"toast_arr", 1009, K::kUnchangedToast, {}},
      Column{"toast_num", 1700, K::kUnchangedToast, {}},
  };
  e.has_before = true;
  e.before = {Text("id", 20, "9223372036854775807"), Column{"name", 25, K::kNull, {}}};
  return e;
}

ChangeEvent RoundTrip(const ChangeEvent& e, const DebeziumEncodeOptions& o) {
  std::string json = EncodeDebezium(e, o);
  DecodedRecord r = DecodeOne(json);
  EXPECT_EQ(r.kind, DecodedRecord::Kind::kChange) << json;
  return r.event;
}

void ExpectSameEvent(const ChangeEvent& want, const ChangeEvent& got) {
  ASSERT_EQ(got.after.size(), want.after.size());
  for (size_t i = 0; i < want.after.size(); ++i) EXPECT_EQ(got.after[i], want.after[i]) << want.after[i].name;
  ASSERT_EQ(got.before.size(), want.before.size());
  for (size_t i = 0; i < want.before.size(); ++i) EXPECT_EQ(got.before[i], want.before[i]) << want.before[i].name;
  EXPECT_EQ(got, want);
}

TEST(DebeziumEncoderTest, RoundTripWithSchemaAndKey) {
  ChangeEvent e = SampleEvent();
  DebeziumEncodeOptions o;
  o.include_key = true;
  ExpectSameEvent(e, RoundTrip(e, o));
}

TEST(DebeziumEncoderTest, RoundTripPreciseDecimals) {
  ChangeEvent e = SampleEvent();
  DebeziumEncodeOptions o;
  o.include_key = true;
  o.decimal_mode = DebeziumDecimalMode::kPrecise;
  o.decimal_scales["amount_int"] = 2;  // "100" at scale 2 must come back as "100.00"
  std::string json = EncodeDebezium(e, o);
  EXPECT_NE(json.find("io.debezium.data.VariableScaleDecimal"), std::string::npos);
  EXPECT_NE(json.find("org.apache.kafka.connect.data.Decimal"), std::string::npos);
  ChangeEvent got = DecodeOne(json).event;
  Find(e.after, "amount_int") != nullptr ? void() : void();
  for (Column& c : e.after) {
    if (c.name == "amount_int") c.data = "100.00";
  }
  ExpectSameEvent(e, got);
}

TEST(DebeziumEncoderTest, PreciseMoneyIsScaleTwoBase64) {
  ChangeEvent e;
  e.source = "s";
  e.source_kind = SourceKind::kDebezium;
  e.position = {1, 1};
  e.schema = "public";
  e.table = "t";
  e.after = {Text("price", 790, "123.45")};
  DebeziumEncodeOptions o;
  o.decimal_mode = DebeziumDecimalMode::kPrecise;
  o.include_schema = false;
  EXPECT_NE(EncodeDebezium(e, o).find("\"price\":\"MDk=\""), std::string::npos);
}

TEST(DebeziumEncoderTest, PayloadOnlyKeepsValues) {
  ChangeEvent e = SampleEvent();
  DebeziumEncodeOptions o;
  o.include_schema = false;
  ChangeEvent got = RoundTrip(e, o);
  EXPECT_EQ(got.position, e.position);
  EXPECT_EQ(got.xid, e.xid);
  EXPECT_EQ(got.commit_time_us, e.commit_time_us);
  EXPECT_EQ(Find(got.after, "name")->data, Find(e.after, "name")->data);
  EXPECT_EQ(Find(got.after, "amount")->data, Find(e.after, "amount")->data);
  EXPECT_EQ(Find(got.after, "id")->data, "9223372036854775807");
  EXPECT_TRUE(Find(got.after, "toast_text")->is_unchanged_toast());
  EXPECT_TRUE(Find(got.after, "gone")->is_null());
  // Without a schema, temporal values travel as Debezium numbers.
  EXPECT_EQ(Find(got.after, "day")->data, "19782");
}

TEST(DebeziumEncoderTest, OtherOps) {
  DebeziumEncodeOptions o;
  o.include_key = true;
  ChangeEvent d = SampleEvent();
  d.op = Op::kDelete;
  d.after.clear();
  ExpectSameEvent(d, RoundTrip(d, o));
  ChangeEvent ins = SampleEvent();
  ins.op = Op::kInsert;
  ins.has_before = false;
  ins.before.clear();
  ExpectSameEvent(ins, RoundTrip(ins, o));
  ChangeEvent r = ins;
  r.op = Op::kRead;
  ExpectSameEvent(r, RoundTrip(r, o));
  ChangeEvent t;
  t.source = "crm";
  t.source_kind = SourceKind::kDebezium;
  t.op = Op::kTruncate;
  t.position = {99, 3};
  t.schema = "public";
  t.table = "x";
  ExpectSameEvent(t, RoundTrip(t, o));
  ChangeEvent m = t;
  m.op = Op::kMessage;
  m.table = "my-prefix";
  m.after = {Column{"my-prefix", 0, K::kText, std::string("\x00\xffpayload", 9)}};
  ExpectSameEvent(m, RoundTrip(m, o));
  ChangeEvent c = t;
  c.op = Op::kCommit;
  c.xid = 571;
  c.position = {53195832, 2};
  DecodedRecord end = DecodeOne(EncodeDebezium(c, o));
  EXPECT_EQ(end.kind, DecodedRecord::Kind::kTxnEnd);
  EXPECT_EQ(end.xid, 571u);
  EXPECT_EQ(end.event_count, 2u);
}

TEST(DebeziumEncoderTest, KeyDocumentAndTombstone) {
  ChangeEvent e = SampleEvent();
  DebeziumEncodeOptions o;
  std::string key = EncodeDebeziumKey(e, o);
  EXPECT_NE(key.find("crm.public.time_entries.Key"), std::string::npos);
  DebeziumDecoder d;
  DecodedRecord r;
  ASSERT_TRUE(d.DecodeKeyValue(key, "null", &r).ok());
  EXPECT_EQ(r.kind, DecodedRecord::Kind::kTombstone);
  ASSERT_EQ(r.key.size(), 1u);
  EXPECT_EQ(r.key[0], Text("id", 20, "9223372036854775807"));
}

TEST(DebeziumEncoderTest, InspectJsonIsOneLine) {
  DebeziumEncodeOptions o;
  DecodedRecord r = DecodeOne(EncodeDebezium(SampleEvent(), o));
  std::string line = DecodedRecordToJson(r);
  EXPECT_EQ(line.find('\n'), std::string::npos);
  EXPECT_NE(line.find("\"position\":\"16/B374D848#12\""), std::string::npos) << line;
  EXPECT_NE(line.find("\"kind\":\"unchanged_toast\""), std::string::npos);
  EXPECT_NE(line.find("\"encoding\":\"base64\""), std::string::npos);
  EXPECT_TRUE(IsValidJson(line)) << line;
}

TEST(DebeziumEncoderTest, EnvelopeOutputIsValidJson) {
  for (bool schema : {true, false}) {
    for (bool key : {true, false}) {
      DebeziumEncodeOptions o;
      o.include_schema = schema;
      o.include_key = key;
      std::string json = EncodeDebezium(SampleEvent(), o);
      EXPECT_TRUE(IsValidJson(json)) << json;
      o.decimal_mode = DebeziumDecimalMode::kPrecise;
      EXPECT_TRUE(IsValidJson(EncodeDebezium(SampleEvent(), o)));
    }
  }
}

}  // namespace
}  // namespace handoff
