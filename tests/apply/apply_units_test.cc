// Unit tests of the applier's pure helpers: SQLSTATE classes and row ops.
#include <gtest/gtest.h>

#include "apply_fixture.h"
#include "handoff/engine/event_json.h"
#include "row_op.h"
#include "sqlstate.h"
#include "type_fit.h"

namespace handoff::apply {
namespace {

using testing::Change;
using testing::N;
using testing::T;
using testing::U;

TEST(SqlStateTest, ClassifiesTransientAndPermanentErrors) {
  for (const char* s : {"08006", "08001", "57P01", "57P03", "40001", "40P01", "53300", "53200", "55006"})
    EXPECT_EQ(ClassifySqlState(s, true), ErrorKind::kTransient) << s;
  for (const char* s : {"22001", "22P02", "23505", "23502", "23514", "P0001", "0A000", "42804"})
    EXPECT_EQ(ClassifySqlState(s, true), ErrorKind::kPermanent) << s;
  for (const char* s : {"42P01", "3F000", "42501", "42703", "42883", "42704"})
    EXPECT_EQ(ClassifySqlState(s, true), ErrorKind::kTarget) << s;
  EXPECT_EQ(ClassifySqlState("", true), ErrorKind::kTransient);
  EXPECT_EQ(ClassifySqlState("23505", false), ErrorKind::kTransient);  // connection gone: retry
}

TEST(TypeFitTest, TargetHoldsWhatCannotLoseAValue) {
  struct Case {
    const char* target;
    const char* source;
    bool holds;
  };
  const Case cases[] = {
      {"numeric(10,2)", "numeric(10,2)", true},     {"numeric(12,4)", "numeric(10,2)", true},
      {"numeric(10,2)", "numeric(12,4)", false},    {"numeric(10,4)", "numeric(10,2)", false},
      {"numeric(10,2)", "numeric(9,1)", true},      {"numeric", "numeric(40,10)", true},
      {"numeric(10,2)", "numeric", false},          {"numeric(12,2)", "integer", true},
      {"numeric(11,2)", "integer", false},          {"numeric", "bigint", true},
      {"bigint", "integer", true},                  {"integer", "bigint", false},
      {"integer", "numeric(5,0)", false},           {"text", "numeric(12,4)", true},
      {"character varying", "uuid", true},          {"character varying(10)", "character varying(8)", true},
      {"character varying(8)", "character varying(10)", false}, {"character varying(8)", "text", false},
      {"double precision", "integer", true},        {"double precision", "bigint", false},
      {"real", "double precision", false},          {"integer[]", "smallint[]", true},
      {"integer[]", "integer", false},              {"text", "integer[]", false},
      {"timestamp(6) with time zone", "timestamp(3) with time zone", true},
      {"timestamp with time zone", "timestamp(3) with time zone", true},
      {"timestamp(3) with time zone", "timestamp with time zone", false},
      {"timestamp with time zone", "timestamp without time zone", false},
      {"date", "timestamp with time zone", false},  {"boolean", "integer", false},
      {"public.mood", "public.mood", true},         {"public.mood", "text", false},
      {"jsonb", "json", false},
  };
  for (const Case& c : cases) EXPECT_EQ(TypeCanHold(c.target, c.source), c.holds) << c.target << " <- " << c.source;
}

TEST(TypeFitTest, OnlyPlainTypeNamesGoIntoDdl) {
  for (const char* t : {"integer", "numeric(12,2)", "character varying(40)", "timestamp(3) with time zone",
                        "double precision", "text[]", "public.mood", "\"My Schema\".\"odd; type\"", "bit varying(5)",
                        "interval day to second(3)", "numeric[][]"})
    EXPECT_TRUE(PlainTypeName(t)) << t;
  for (const char* t : {"", "integer DEFAULT 1", "integer default 1", "integer not null", "integer references t",
                        "integer generated always as (1) stored", "int; drop table x", "numeric(1,2,3)",
                        "numeric(a)", "text -- x", "\"unterminated", "integer collate c", "x.y.z"})
    EXPECT_FALSE(PlainTypeName(t)) << t;
}

TableMeta Meta() {
  TableMeta m;
  m.schema = "public";
  m.table = "t";
  m.quoted = "\"public\".\"t\"";
  m.columns = {"id", "a", "b"};
  m.pk = {0};
  m.index = {{"id", 0}, {"a", 1}, {"b", 2}};
  return m;
}

TEST(RowOpTest, TranslatesChangesByTheTargetKey) {
  const TableMeta m = Meta();
  std::vector<RowOp> ops;
  ASSERT_TRUE(BuildRowOps(m, Change(Op::kUpdate, "t", {T("id", "1"), U("a"), N("b")}), &ops).ok());
  ASSERT_EQ(ops.size(), 1u);
  EXPECT_EQ(ops[0].kind, RowOp::Kind::kUpdate);
  EXPECT_EQ(ops[0].image.present, (std::vector<bool>{true, false, true}));

  ops.clear();
  ASSERT_TRUE(BuildRowOps(m, Change(Op::kUpdate, "t", {T("id", "2"), T("a", "x")}, {T("id", "1")}), &ops).ok());
  ASSERT_EQ(ops.size(), 2u);
  EXPECT_EQ(ops[0].kind, RowOp::Kind::kDelete);
  EXPECT_EQ(*ops[0].image.values[0], "1");
  EXPECT_EQ(ops[1].kind, RowOp::Kind::kUpsert);

  ops.clear();
  ASSERT_TRUE(BuildRowOps(m, Change(Op::kUpdate, "t", {T("id", "2"), U("a")}, {T("id", "1")}), &ops).ok());
  ASSERT_EQ(ops.size(), 1u);
  EXPECT_EQ(ops[0].kind, RowOp::Kind::kMoveKey);
  EXPECT_TRUE(ops[0].Direct());

  ops.clear();
  Status st = BuildRowOps(m, Change(Op::kInsert, "t", {N("id"), T("a", "x")}), &ops);
  EXPECT_EQ(st.code(), StatusCode::kPermanent);
  EXPECT_NE(st.message().find("key column id"), std::string::npos) << st.message();
}

TEST(RowOpTest, DescribesKeysAndImages) {
  const TableMeta m = Meta();
  auto ev = Change(Op::kDelete, "t", {}, {T("id", "42")});
  EXPECT_EQ(DescribeKey(&m, ev), "(id)=(42)");
  EXPECT_EQ(ImageJson({T("a", "q\"\n"), N("b"), U("c")}), R"({"a":"q\"\n","b":null,"c":{"unchanged_toast":true}})");
}

TEST(RowOpTest, BytesTheTargetCannotHoldAreRefusedNamingTheColumn) {
  using namespace std::string_literals;
  TableMeta m = Meta();
  Status st = CheckStorable(m, Change(Op::kInsert, "t", {T("id", "1"), T("a", "ab\0cd"s)}));
  EXPECT_EQ(st.code(), StatusCode::kPermanent);
  EXPECT_EQ(st.message(), "column a of public.t holds a NUL byte (offset 2), which PostgreSQL text cannot store");
  st = CheckStorable(m, Change(Op::kDelete, "t", {}, {T("id", "victim\0evil"s)}));
  EXPECT_NE(st.message().find("key column id of public.t holds a NUL byte (offset 6)"), std::string::npos)
      << st.message();
  EXPECT_EQ(DescribeKey(&m, Change(Op::kDelete, "t", {}, {T("id", "victim\0evil\xff"s)})),
            "(id)=(victim\\x00evil\\xff)");
  st = CheckStorable(m, Change(Op::kUpdate, "t", {T("id", "1"), T("b", "ok \xc3\x28")}));
  EXPECT_NE(st.message().find("column b of public.t holds bytes that are not valid UTF-8 (offset 3)"),
            std::string::npos)
      << st.message();
  // A non-UTF8 target connection takes any byte but NUL.
  m.utf8 = false;
  EXPECT_TRUE(CheckStorable(m, Change(Op::kUpdate, "t", {T("id", "1"), T("b", "ok \xc3\x28")})).ok());
  m.utf8 = true;
  // Columns the target has not, and non-key columns of a before image, are not sent: not checked.
  EXPECT_TRUE(CheckStorable(m, Change(Op::kInsert, "t", {T("id", "1"), T("zz", "a\0"s)})).ok());
  EXPECT_TRUE(CheckStorable(m, Change(Op::kUpdate, "t", {T("id", "1")}, {T("id", "1"), T("a", "a\0"s)})).ok());
  EXPECT_TRUE(CheckStorable(m, Change(Op::kInsert, "t", {T("id", "1"), T("a", "Zoë 日本 🎉 \\ '\"\n"), N("b")})).ok());
}

TEST(Utf8Test, FindsTheFirstByteThatIsNotWellFormed) {
  EXPECT_EQ(FirstInvalidUtf8("plain Zoë 日本 🎉"), std::string_view::npos);
  EXPECT_EQ(FirstInvalidUtf8("ab\xff"), 2u);
  EXPECT_EQ(FirstInvalidUtf8("\xc0\xaf"), 0u);          // overlong '/'
  EXPECT_EQ(FirstInvalidUtf8("x\xed\xa0\x80"), 1u);     // a surrogate
  EXPECT_EQ(FirstInvalidUtf8("\xf4\x90\x80\x80"), 0u); // above U+10FFFF
  EXPECT_EQ(FirstInvalidUtf8("\xe6\x97"), 0u);          // cut short
}

}  // namespace
}  // namespace handoff::apply
