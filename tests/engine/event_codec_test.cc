#include "handoff/engine/event_codec.h"

#include <gtest/gtest.h>

namespace handoff {
namespace {

ChangeEvent Sample() {
  ChangeEvent e;
  e.source = "psa";
  e.position = {0x16B374D848ull, 12};
  e.xid = 4711;
  e.commit_time_us = 1700000000123456;
  e.origin = "";
  e.schema = "public";
  e.table = "time_entries";
  e.op = Op::kUpdate;
  e.key_columns = {"id"};
  e.has_before = true;
  e.before = {{"id", 20, Column::Kind::kText, "9223372036854775807"}};
  e.after = {{"id", 20, Column::Kind::kText, "9223372036854775807"},
             {"hours", 1700, Column::Kind::kText, "12345678901234567890.123456789"},
             {"notes", 25, Column::Kind::kUnchangedToast, ""},
             {"approved_at", 1184, Column::Kind::kNull, ""},
             {"name", 25, Column::Kind::kText, "Zoë Ångström – 東京"},
             {"blob", 17, Column::Kind::kBinary, std::string("\0\x01\xff", 3)}};
  e.correlation_id = "psa:16/B374D848#12";
  return e;
}

TEST(EventCodecTest, RoundTripKeepsEveryField) {
  ChangeEvent e = Sample();
  std::string buf;
  EncodeEvent(e, 42, &buf);
  EXPECT_EQ(static_cast<uint8_t>(buf[0]), kEventFormatVersion);
  ChangeEvent d;
  int64_t at = 0;
  ASSERT_TRUE(DecodeEvent(buf, &d, &at).ok());
  EXPECT_EQ(at, 42);
  EXPECT_EQ(d, e);
}

TEST(EventCodecTest, SchemaEventRoundTripsAndAnOpPastItIsRejected) {
  ChangeEvent e = Sample();
  e.op = Op::kSchema;
  e.before = {{"id", 20, Column::Kind::kText, "bigint"}, {"hours", 1700, Column::Kind::kText, "numeric(10,2)"}};
  e.after = {{"id", 20, Column::Kind::kText, "bigint"},
             {"hours", 1700, Column::Kind::kText, "numeric(12,4)"},
             {"billable", 16, Column::Kind::kText, "boolean"}};
  std::string buf;
  EncodeEvent(e, 7, &buf);
  ChangeEvent d;
  ASSERT_TRUE(DecodeEvent(buf, &d, nullptr).ok());
  EXPECT_EQ(d, e);
  EXPECT_STREQ(OpName(d.op), "schema");
  buf[2] = 9;  // the op byte
  Status st = DecodeEvent(buf, &d, nullptr);
  EXPECT_EQ(st.code(), StatusCode::kCorruption);
  EXPECT_NE(st.message().find("bad op 9"), std::string::npos) << st.ToString();
}

TEST(EventCodecTest, NegativeCommitTimeRoundTrips) {
  ChangeEvent e = Sample();
  e.commit_time_us = -946684800000000;  // before the epoch
  std::string buf;
  EncodeEvent(e, -1, &buf);
  ChangeEvent d;
  int64_t at = 0;
  ASSERT_TRUE(DecodeEvent(buf, &d, &at).ok());
  EXPECT_EQ(d.commit_time_us, e.commit_time_us);
  EXPECT_EQ(at, -1);
}

TEST(EventCodecTest, EveryTruncationIsCorruptionNotACrash) {
  std::string buf;
  EncodeEvent(Sample(), 1, &buf);
  for (size_t n = 0; n < buf.size(); ++n) {
    ChangeEvent d;
    Status st = DecodeEvent(std::string_view(buf.data(), n), &d, nullptr);
    EXPECT_EQ(st.code(), StatusCode::kCorruption) << "prefix of " << n << " bytes";
  }
}

TEST(EventCodecTest, UnknownVersionIsNamed) {
  std::string buf;
  EncodeEvent(Sample(), 1, &buf);
  buf[0] = 9;
  ChangeEvent d;
  Status st = DecodeEvent(buf, &d, nullptr);
  EXPECT_EQ(st.code(), StatusCode::kCorruption);
  EXPECT_NE(st.message().find("version 9"), std::string::npos);
}

TEST(EventCodecTest, TrailingBytesAreRejected) {
  std::string buf;
  EncodeEvent(Sample(), 1, &buf);
  buf.push_back('x');
  ChangeEvent d;
  EXPECT_EQ(DecodeEvent(buf, &d, nullptr).code(), StatusCode::kCorruption);
}

TEST(EventCodecTest, BitFlipsNeverCrash) {
  std::string buf;
  EncodeEvent(Sample(), 1, &buf);
  int rejected = 0;
  for (size_t i = 0; i < buf.size(); ++i) {
    for (int bit = 0; bit < 8; ++bit) {
      std::string m = buf;
      m[i] = static_cast<char>(m[i] ^ (1 << bit));
      ChangeEvent d;
      if (!DecodeEvent(m, &d, nullptr).ok()) ++rejected;
    }
  }
  EXPECT_GT(rejected, 0);
}

TEST(EventCodecTest, TruncateGroupAndOptionsRoundTrip) {
  ChangeEvent e = Sample();
  e.op = Op::kTruncate;
  e.has_before = false;
  e.before.clear();
  e.after.clear();
  e.truncate_options = kTruncateCascade | kTruncateRestartIdentity;
  e.truncate_index = 1;
  e.truncate_count = 3;
  std::string buf;
  EncodeEvent(e, 7, &buf);
  ChangeEvent d;
  ASSERT_TRUE(DecodeEvent(buf, &d, nullptr).ok());
  EXPECT_EQ(d, e);
}

TEST(EventCodecTest, IndexBeyondTheGroupIsRejected) {
  ChangeEvent e = Sample();
  e.op = Op::kTruncate;
  e.truncate_index = 2;
  e.truncate_count = 2;
  std::string buf;
  EncodeEvent(e, 7, &buf);
  ChangeEvent d;
  Status st = DecodeEvent(buf, &d, nullptr);
  EXPECT_EQ(st.code(), StatusCode::kCorruption);
  EXPECT_NE(st.message().find("truncate group"), std::string::npos) << st.ToString();
}

// A version 1 record is a version 2 record without the truncate fields.
TEST(EventCodecTest, VersionOneRecordsStillDecode) {
  ChangeEvent e = Sample();
  e.op = Op::kTruncate;
  std::string buf;
  EncodeEvent(e, 9, &buf);
  std::string v1 = buf.substr(0, buf.size() - 3);  // options byte, index and count varints (small)
  v1[0] = 1;
  ChangeEvent d;
  int64_t at = 0;
  ASSERT_TRUE(DecodeEvent(v1, &d, &at).ok());
  EXPECT_EQ(at, 9);
  EXPECT_EQ(d, e);
  EXPECT_EQ(d.truncate_count, 0u);
  // A record that is version 1 in its first byte but carries more is rejected.
  buf[0] = 1;
  EXPECT_EQ(DecodeEvent(buf, &d, nullptr).code(), StatusCode::kCorruption);
}

TEST(PositionTest, OrderAndFormat) {
  EXPECT_LT((SourcePosition{1, 5}), (SourcePosition{2, 0}));
  EXPECT_LT((SourcePosition{2, 1}), (SourcePosition{2, 2}));
  EXPECT_EQ(FormatPosition({0x16B374D848ull, 3}), "16/B374D848#3");
  EXPECT_EQ(FormatPosition({0, UINT64_MAX}), "0/0#end");
}

// Version 3, the journal's compact record: the shape (source, schema, table,
// key, column names and types) is named by id, the correlation id is left
// out when it is the default one, and every field comes back.
class CompactEventTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string key;
    ASSERT_TRUE(ShapeKeyOf(Sample(), &key));
    ASSERT_TRUE(EventShape::Decode(key, &shape_));
    lookup_ = [this](uint32_t id) -> const EventShape* { return id == 7 ? &shape_ : nullptr; };
  }
  ChangeEvent RoundTrip(const ChangeEvent& e, size_t* bytes = nullptr) {
    std::string buf;
    EXPECT_TRUE(EncodeCompactEvent(e, 42, 7, &shape_, &buf));
    EXPECT_EQ(static_cast<uint8_t>(buf[0]), kCompactEventFormatVersion);
    if (bytes) *bytes = buf.size();
    ChangeEvent d;
    int64_t at = 0;
    Status st = DecodeEvent(buf, &d, &at, lookup_);
    EXPECT_TRUE(st.ok()) << st.ToString();
    EXPECT_EQ(at, 42);
    return d;
  }
  EventShape shape_;
  ShapeLookup lookup_;
};

TEST_F(CompactEventTest, RoundTripsWithTheShapeNamedById) {
  const ChangeEvent e = Sample();
  EXPECT_EQ(shape_.table, "time_entries");
  EXPECT_EQ(shape_.names.size(), 6u);
  size_t compact = 0;
  EXPECT_EQ(RoundTrip(e, &compact), e);
  std::string v2;
  EncodeEvent(e, 42, &v2);
  EXPECT_LT(compact + 40, v2.size()) << "names, types, table and correlation id are not repeated";
}

TEST_F(CompactEventTest, PartialImagesAndOwnCorrelationIdsRoundTrip) {
  ChangeEvent e = Sample();
  e.correlation_id = "req-81f3";  // not the default: kept
  e.after = {e.after[4], e.after[0]};  // a subset, out of order
  e.origin = "handoff_erp";
  e.delivery_id = "d-1";
  EXPECT_EQ(RoundTrip(e), e);
  e.has_before = false;
  e.before.clear();
  e.correlation_id.clear();
  EXPECT_EQ(RoundTrip(e), e);
}

TEST_F(CompactEventTest, ColumnsOutsideTheShapeAreRefusedAndAnUnknownShapeIsCorruption) {
  ChangeEvent e = Sample();
  e.after.push_back({"added_later", 23, Column::Kind::kText, "1"});
  std::string buf = "x";
  EXPECT_FALSE(EncodeCompactEvent(e, 1, 7, &shape_, &buf));
  EXPECT_EQ(buf, "x") << "nothing appended";
  e = Sample();
  e.after[1].type_oid = 23;  // same name, another type
  EXPECT_FALSE(EncodeCompactEvent(e, 1, 7, &shape_, &buf));
  // Without a shape a version 3 record carries its names itself.
  e.after.push_back({"added_later", 23, Column::Kind::kText, "1"});
  buf.clear();
  ASSERT_TRUE(EncodeCompactEvent(e, 1, 0, nullptr, &buf));
  ChangeEvent d;
  ASSERT_TRUE(DecodeEvent(buf, &d, nullptr, nullptr).ok());
  EXPECT_EQ(d, e);
  buf.clear();
  ASSERT_TRUE(EncodeCompactEvent(Sample(), 1, 9, &shape_, &buf));
  Status st = DecodeEvent(buf, &d, nullptr, lookup_);
  EXPECT_EQ(st.code(), StatusCode::kCorruption);
  EXPECT_NE(st.message().find("shape 9"), std::string::npos) << st.ToString();
  // Every prefix of a record is refused, never read past its end.
  buf.clear();
  ASSERT_TRUE(EncodeCompactEvent(Sample(), 1, 7, &shape_, &buf));
  for (size_t n = 0; n < buf.size(); ++n) EXPECT_FALSE(DecodeEvent(buf.substr(0, n), &d, nullptr, lookup_).ok()) << n;
}

TEST_F(CompactEventTest, OlderVersionsStillDecodeWithALookup) {
  std::string v2;
  EncodeEvent(Sample(), 5, &v2);
  ChangeEvent d;
  ASSERT_TRUE(DecodeEvent(v2, &d, nullptr, lookup_).ok());
  EXPECT_EQ(d, Sample());
}

}  // namespace
}  // namespace handoff
