// Unit tests of the applier's pure helpers: SQLSTATE classes and row ops.
#include <gtest/gtest.h>

#include "apply_fixture.h"
#include "row_op.h"
#include "sqlstate.h"

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

}  // namespace
}  // namespace handoff::apply
