// Unit tests of PgOutputDecoder on hand-built pgoutput messages (protocol 1,
// and the streamed transactions of protocol 2).
#include "pgoutput_decoder.h"

#include <gtest/gtest.h>

#include <random>
#include <string>

namespace handoff {
namespace {

// Builds one pgoutput message, big-endian like the server.
class Msg {
 public:
  explicit Msg(char type) { s_ += type; }
  Msg& U8(uint8_t v) { s_ += static_cast<char>(v); return *this; }
  Msg& U16(uint16_t v) { return Be(v, 2); }
  Msg& U32(uint32_t v) { return Be(v, 4); }
  Msg& U64(uint64_t v) { return Be(v, 8); }
  Msg& Str(const std::string& v) { s_ += v; s_ += '\0'; return *this; }
  Msg& Text(const std::string& v) { U8('t'); U32(static_cast<uint32_t>(v.size())); s_ += v; return *this; }
  Msg& Null() { return U8('n'); }
  Msg& Toast() { return U8('u'); }
  const std::string& str() const { return s_; }

 private:
  Msg& Be(uint64_t v, int n) {
    for (int i = n - 1; i >= 0; --i) s_ += static_cast<char>((v >> (8 * i)) & 0xff);
    return *this;
  }
  std::string s_;
};

// public.items(id int8 key, name text, note text)
std::string ItemsRelation(uint32_t id = 16384) {
  return Msg('R').U32(id).Str("public").Str("items").U8('d').U16(3)
      .U8(1).Str("id").U32(20).U32(0xffffffff)
      .U8(0).Str("name").U32(25).U32(0xffffffff)
      .U8(0).Str("note").U32(25).U32(0xffffffff).str();
}

std::string ItemsInsert() {
  return Msg('I').U32(16384).U8('N').U16(3).Text("42").Text("Zoë ✓").Null().str();
}

class PgOutputDecoderTest : public ::testing::Test {
 protected:
  void SetUp() override {
    PgOutputMessage m;
    ASSERT_TRUE(dec_.Decode(ItemsRelation(), &m).ok());
  }
  PgOutputDecoder dec_;
};

TEST_F(PgOutputDecoderTest, RelationIsCachedWithKeyFlags) {
  auto rel = dec_.FindRelation(16384);
  ASSERT_NE(rel, nullptr);
  EXPECT_EQ(rel->schema, "public");
  EXPECT_EQ(rel->table, "items");
  EXPECT_EQ(rel->replica_identity, 'd');
  ASSERT_EQ(rel->attributes.size(), 3u);
  EXPECT_EQ(rel->attributes[0].type_oid, 20u);
  EXPECT_EQ(rel->attributes[0].type_modifier, -1);
  EXPECT_EQ(rel->key_columns, std::vector<std::string>{"id"});
}

TEST_F(PgOutputDecoderTest, InsertTurnsTupleIntoColumns) {
  PgOutputMessage m;
  ASSERT_TRUE(dec_.Decode(ItemsInsert(), &m).ok());
  EXPECT_EQ(m.kind, PgOutputMessage::Kind::kInsert);
  ASSERT_EQ(m.new_tuple.size(), 3u);
  EXPECT_EQ(m.new_tuple[0], (Column{"id", 20, Column::Kind::kText, "42"}));
  EXPECT_EQ(m.new_tuple[1], (Column{"name", 25, Column::Kind::kText, "Zoë ✓"}));
  EXPECT_EQ(m.new_tuple[2], (Column{"note", 25, Column::Kind::kNull, ""}));
  EXPECT_EQ(m.relation->table, "items");
}

TEST_F(PgOutputDecoderTest, UpdateWithUnchangedToastAndKeyOnlyOldTuple) {
  std::string u = Msg('U').U32(16384).U8('K').U16(3).Text("41").Null().Null()
                      .U8('N').U16(3).Text("42").Text("x").Toast().str();
  PgOutputMessage m;
  ASSERT_TRUE(dec_.Decode(u, &m).ok());
  EXPECT_EQ(m.old_kind, 'K');
  ASSERT_EQ(m.old_tuple.size(), 1u);  // only the key column
  EXPECT_EQ(m.old_tuple[0], (Column{"id", 20, Column::Kind::kText, "41"}));
  ASSERT_EQ(m.new_tuple.size(), 3u);
  EXPECT_TRUE(m.new_tuple[2].is_unchanged_toast());
  EXPECT_FALSE(m.new_tuple[2].is_null());
}

TEST_F(PgOutputDecoderTest, UpdateWithFullOldRowAndWithoutOldRow) {
  PgOutputMessage m;
  std::string full = Msg('U').U32(16384).U8('O').U16(3).Text("1").Text("a").Null()
                         .U8('N').U16(3).Text("1").Text("b").Null().str();
  ASSERT_TRUE(dec_.Decode(full, &m).ok());
  EXPECT_EQ(m.old_kind, 'O');
  EXPECT_EQ(m.old_tuple.size(), 3u);
  EXPECT_EQ(m.old_tuple[1].data, "a");
  EXPECT_EQ(m.new_tuple[1].data, "b");

  std::string plain = Msg('U').U32(16384).U8('N').U16(3).Text("1").Text("c").Null().str();
  ASSERT_TRUE(dec_.Decode(plain, &m).ok());
  EXPECT_EQ(m.old_kind, 0);
  EXPECT_TRUE(m.old_tuple.empty());
  EXPECT_EQ(m.new_tuple[1].data, "c");
}

TEST_F(PgOutputDecoderTest, DeleteCarriesKey) {
  PgOutputMessage m;
  ASSERT_TRUE(dec_.Decode(Msg('D').U32(16384).U8('K').U16(3).Text("7").Null().Null().str(), &m).ok());
  EXPECT_EQ(m.kind, PgOutputMessage::Kind::kDelete);
  ASSERT_EQ(m.old_tuple.size(), 1u);
  EXPECT_EQ(m.old_tuple[0].data, "7");
  EXPECT_TRUE(m.new_tuple.empty());
}

TEST_F(PgOutputDecoderTest, BeginCommitOriginTypeMessage) {
  PgOutputMessage m;
  ASSERT_TRUE(dec_.Decode(Msg('B').U64(0x16B374D848).U64(123456789).U32(777).str(), &m).ok());
  EXPECT_EQ(m.final_lsn, 0x16B374D848u);
  EXPECT_EQ(m.commit_time_pg_us, 123456789);
  EXPECT_EQ(m.xid, 777u);

  ASSERT_TRUE(dec_.Decode(Msg('C').U8(0).U64(0x100).U64(0x180).U64(5).str(), &m).ok());
  EXPECT_EQ(m.commit_lsn, 0x100u);
  EXPECT_EQ(m.end_lsn, 0x180u);
  EXPECT_EQ(m.commit_time_pg_us, 5);

  ASSERT_TRUE(dec_.Decode(Msg('O').U64(0x55).Str("handoff").str(), &m).ok());
  EXPECT_EQ(m.origin_name, "handoff");
  EXPECT_EQ(m.origin_lsn, 0x55u);

  ASSERT_TRUE(dec_.Decode(Msg('Y').U32(90001).Str("public").Str("mood").str(), &m).ok());
  EXPECT_EQ(m.type_oid, 90001u);
  EXPECT_EQ(m.type_name, "mood");

  ASSERT_TRUE(dec_.Decode(Msg('M').U8(1).U64(0x77).Str("pfx").U32(3).U8('a').U8(0).U8('c').str(), &m).ok());
  EXPECT_EQ(m.flags, 1);
  EXPECT_EQ(m.prefix, "pfx");
  EXPECT_EQ(m.content, std::string("a\0c", 3));
}

TEST_F(PgOutputDecoderTest, TruncateListsRelations) {
  PgOutputMessage m;
  ASSERT_TRUE(dec_.Decode(ItemsRelation(16385), &m).ok());
  ASSERT_TRUE(dec_.Decode(Msg('T').U32(2).U8(1).U32(16384).U32(16385).str(), &m).ok());
  ASSERT_EQ(m.truncated.size(), 2u);
  EXPECT_EQ(m.truncated[1]->id, 16385u);
  EXPECT_EQ(m.flags, 1);
}

TEST_F(PgOutputDecoderTest, NewRelationMessageReplacesSchema) {
  PgOutputMessage m;
  std::string wider = Msg('R').U32(16384).Str("public").Str("items").U8('d').U16(4)
                          .U8(1).Str("id").U32(20).U32(0xffffffff)
                          .U8(0).Str("name").U32(25).U32(0xffffffff)
                          .U8(0).Str("note").U32(25).U32(0xffffffff)
                          .U8(0).Str("extra").U32(1700).U32(0xffffffff).str();
  ASSERT_TRUE(dec_.Decode(wider, &m).ok());
  EXPECT_EQ(dec_.relation_count(), 1u);
  ASSERT_TRUE(dec_.Decode(Msg('I').U32(16384).U8('N').U16(4).Text("1").Null().Null().Text("3.14").str(), &m).ok());
  EXPECT_EQ(m.new_tuple[3], (Column{"extra", 1700, Column::Kind::kText, "3.14"}));
  // The old shape no longer decodes.
  EXPECT_EQ(dec_.Decode(ItemsInsert(), &m).code(), StatusCode::kCorruption);
}

TEST_F(PgOutputDecoderTest, EveryTruncationOfAValidMessageIsCorruption) {
  const std::string messages[] = {
      ItemsInsert(),
      ItemsRelation(99),
      Msg('U').U32(16384).U8('K').U16(3).Text("41").Null().Null().U8('N').U16(3).Text("4").Text("x").Toast().str(),
      Msg('B').U64(1).U64(2).U32(3).str(),
      Msg('C').U8(0).U64(1).U64(2).U64(3).str(),
      Msg('O').U64(1).Str("handoff").str(),
      Msg('T').U32(1).U8(0).U32(16384).str(),
      Msg('M').U8(1).U64(1).Str("p").U32(2).U8('h').U8('i').str(),
  };
  for (const auto& full : messages) {
    for (size_t len = 1; len < full.size(); ++len) {
      PgOutputDecoder dec;
      PgOutputMessage m;
      ASSERT_TRUE(dec.Decode(ItemsRelation(), &m).ok());
      Status st = dec.Decode(std::string_view(full).substr(0, len), &m);
      ASSERT_EQ(st.code(), StatusCode::kCorruption) << "type " << full[0] << " cut at " << len;
      EXPECT_NE(st.message().find(std::string("'") + full[0] + "'"), std::string::npos) << st.message();
      EXPECT_NE(st.message().find("offset"), std::string::npos) << st.message();
      EXPECT_EQ(dec.FindRelation(99), nullptr);  // a broken Relation is not cached
    }
  }
}

TEST_F(PgOutputDecoderTest, MalformedMessagesAreCorruption) {
  PgOutputMessage m;
  auto code = [&](const std::string& s) { return dec_.Decode(s, &m).code(); };
  EXPECT_EQ(code(""), StatusCode::kCorruption);
  EXPECT_EQ(code("Z"), StatusCode::kCorruption);
  // Unknown relation id.
  Status st = dec_.Decode(Msg('I').U32(1).U8('N').U16(0).str(), &m);
  EXPECT_EQ(st.code(), StatusCode::kCorruption);
  EXPECT_NE(st.message().find("unknown relation id 1"), std::string::npos) << st.message();
  // Column count disagrees with the relation.
  EXPECT_EQ(code(Msg('I').U32(16384).U8('N').U16(2).Text("1").Text("2").str()), StatusCode::kCorruption);
  // Bad tuple column kind.
  EXPECT_EQ(code(Msg('I').U32(16384).U8('N').U16(3).U8('q').str()), StatusCode::kCorruption);
  // Wrong tag before the new tuple.
  EXPECT_EQ(code(Msg('I').U32(16384).U8('X').U16(3).Null().Null().Null().str()), StatusCode::kCorruption);
  // Delete without old tuple.
  EXPECT_EQ(code(Msg('D').U32(16384).U8('N').U16(3).Null().Null().Null().str()), StatusCode::kCorruption);
  // Text length beyond the message.
  EXPECT_EQ(code(Msg('I').U32(16384).U8('N').U16(3).U8('t').U32(0xfffffff0).str()), StatusCode::kCorruption);
  // Trailing garbage.
  EXPECT_EQ(code(ItemsInsert() + "x"), StatusCode::kCorruption);
  // Absurd truncate count.
  EXPECT_EQ(code(Msg('T').U32(0xffffffff).U8(0).str()), StatusCode::kCorruption);
  // Unterminated string.
  EXPECT_EQ(code(std::string("O") + std::string(8, '\0') + "abc"), StatusCode::kCorruption);
  // The cache survived all of that.
  ASSERT_TRUE(dec_.Decode(ItemsInsert(), &m).ok());
}

TEST_F(PgOutputDecoderTest, RandomMutationsNeverCrash) {
  std::mt19937 rng(12345);
  const std::string base = Msg('U').U32(16384).U8('O').U16(3).Text("1").Text("abc").Null()
                               .U8('N').U16(3).Text("1").Text("def").Toast().str();
  int ok = 0;
  for (int i = 0; i < 20000; ++i) {
    std::string s = base;
    int flips = 1 + static_cast<int>(rng() % 4);
    for (int f = 0; f < flips; ++f) s[rng() % s.size()] = static_cast<char>(rng());
    if (rng() % 3 == 0) s.resize(rng() % s.size());
    PgOutputMessage m;
    Status st = dec_.Decode(s, &m);
    if (st.ok()) ++ok;
    else EXPECT_EQ(st.code(), StatusCode::kCorruption);
  }
  EXPECT_LT(ok, 20000);
}

// Protocol 2: a stream block's messages begin with the (sub)transaction's
// xid; Stream Commit and Abort name the top-level transaction.
TEST_F(PgOutputDecoderTest, StreamBlockCarriesXidsAndEnds) {
  PgOutputMessage m;
  ASSERT_TRUE(dec_.Decode(Msg('S').U32(900).U8(1).str(), &m).ok());
  EXPECT_EQ(m.kind, PgOutputMessage::Kind::kStreamStart);
  EXPECT_EQ(m.xid, 900u);
  EXPECT_TRUE(m.first_segment);
  EXPECT_TRUE(dec_.in_stream());
  // A relation announced inside the block, then an insert of subtransaction 901.
  std::string rel = Msg('R').U32(900).str() + ItemsRelation(16385).substr(1);
  ASSERT_TRUE(dec_.Decode(rel, &m).ok()) << dec_.Decode(rel, &m).ToString();
  EXPECT_EQ(m.xid, 900u);
  ASSERT_NE(dec_.FindRelation(16385), nullptr);
  std::string ins = Msg('I').U32(901).U32(16385).U8('N').U16(3).Text("7").Text("a").Null().str();
  ASSERT_TRUE(dec_.Decode(ins, &m).ok());
  EXPECT_EQ(m.kind, PgOutputMessage::Kind::kInsert);
  EXPECT_TRUE(m.streamed);
  EXPECT_EQ(m.xid, 901u);
  ASSERT_EQ(m.new_tuple.size(), 3u);
  EXPECT_EQ(m.new_tuple[0].data, "7");
  ASSERT_TRUE(dec_.Decode(Msg('E').str(), &m).ok());
  EXPECT_FALSE(dec_.in_stream());
  // Outside the block the same insert has no xid: read as protocol 1.
  ASSERT_TRUE(dec_.Decode(Msg('I').U32(16385).U8('N').U16(3).Text("8").Text("b").Null().str(), &m).ok());
  EXPECT_FALSE(m.streamed);
  EXPECT_EQ(m.new_tuple[0].data, "8");

  ASSERT_TRUE(dec_.Decode(Msg('c').U32(900).U8(0).U64(0x3000).U64(0x3050).U64(777).str(), &m).ok());
  EXPECT_EQ(m.kind, PgOutputMessage::Kind::kStreamCommit);
  EXPECT_EQ(m.xid, 900u);
  EXPECT_EQ(m.commit_lsn, 0x3000u);
  EXPECT_EQ(m.end_lsn, 0x3050u);
  EXPECT_EQ(m.commit_time_pg_us, 777);
  ASSERT_TRUE(dec_.Decode(Msg('A').U32(900).U32(901).str(), &m).ok());
  EXPECT_EQ(m.kind, PgOutputMessage::Kind::kStreamAbort);
  EXPECT_EQ(m.xid, 900u);
  EXPECT_EQ(m.subxid, 901u);
}

TEST_F(PgOutputDecoderTest, StreamMessagesOutOfPlaceAreRefused) {
  PgOutputMessage m;
  EXPECT_EQ(dec_.Decode(Msg('E').str(), &m).code(), StatusCode::kCorruption);
  ASSERT_TRUE(dec_.Decode(Msg('S').U32(5).U8(0).str(), &m).ok());
  EXPECT_EQ(dec_.Decode(Msg('S').U32(6).U8(0).str(), &m).code(), StatusCode::kCorruption);
  EXPECT_EQ(dec_.Decode(Msg('c').U32(5).U8(0).U64(1).U64(2).U64(3).str(), &m).code(), StatusCode::kCorruption);
  // A truncated xid prefix inside the block names the message.
  Status st = dec_.Decode(Msg('I').U8(0).str(), &m);
  EXPECT_EQ(st.code(), StatusCode::kCorruption);
  EXPECT_NE(st.message().find("'I'"), std::string::npos) << st.ToString();
  EXPECT_TRUE(dec_.in_stream());
  ASSERT_TRUE(dec_.Decode(Msg('E').str(), &m).ok());
  EXPECT_EQ(dec_.Decode(Msg('A').U32(5).str(), &m).code(), StatusCode::kCorruption);
}

}  // namespace
}  // namespace handoff
