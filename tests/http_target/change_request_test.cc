// Pure units of the HTTP target: request building and status classification.
#include "change_request.h"

#include <gtest/gtest.h>

#include "http_status.h"

namespace handoff::apply {
namespace {

Column Text(const std::string& name, const std::string& value) { return {name, 25, Column::Kind::kText, value}; }

ChangeEvent Event(Op op) {
  ChangeEvent e;
  e.source = "psa";
  e.position = {0x16B3F28, 3};
  e.schema = "public";
  e.table = "time_entries";
  e.op = op;
  e.key_columns = {"id"};
  return e;
}

TEST(ChangeRequestTest, BodyCarriesNulExactlyAndRefusesInvalidUtf8) {
  using namespace std::string_literals;
  ChangeEvent e = Event(Op::kInsert);
  e.after = {Text("id", "victim\0evil"s), Text("notes", "ab\0cd\x01 \"q\" \\ \n"s)};
  ASSERT_TRUE(CheckJsonText(e).ok());
  ChangeRequest cr;
  ASSERT_TRUE(BuildChangeRequest(e, "entries", &cr).ok());
  EXPECT_NE(cr.body.find(R"("key":{"id":"victim\u0000evil"})"), std::string::npos) << cr.body;
  EXPECT_NE(cr.body.find(R"("notes":"ab\u0000cd\u0001 \"q\" \\ \n")"), std::string::npos) << cr.body;
  e.after[1].data = "ok \xc3\x28";
  Status st = CheckJsonText(e);
  EXPECT_EQ(st.code(), StatusCode::kPermanent);
  EXPECT_EQ(st.message(),
            "column notes of public.time_entries holds bytes that are not valid UTF-8 (offset 3), which a JSON body "
            "cannot carry");
}

TEST(ChangeRequestTest, IdempotencyKeyIsTheSha256OfTheChangeId) {
  ChangeEvent e = Event(Op::kInsert);
  e.position = {0x10, 1};
  EXPECT_EQ(ChangeId(e), "psa:0/10#1:public.time_entries:insert");
  EXPECT_EQ(IdempotencyKey(e), "94aa1dfaf725f0db8e19105d282e20193dd9a4c06ddfc827421af2e9b313147e");
  ChangeEvent d = e;
  d.op = Op::kDelete;
  EXPECT_NE(IdempotencyKey(d), IdempotencyKey(e));
  d = e;
  d.position.ordinal = 2;
  EXPECT_NE(IdempotencyKey(d), IdempotencyKey(e));
}

TEST(ChangeRequestTest, SameChangeGivesTheSameBytes) {
  ChangeEvent e = Event(Op::kUpdate);
  e.after = {Text("id", "42"), Text("hours", "12345678901234567890.000001")};
  ChangeRequest a, b;
  ASSERT_TRUE(BuildChangeRequest(e, "time_entries", &a).ok());
  ASSERT_TRUE(BuildChangeRequest(e, "time_entries", &b).ok());
  EXPECT_EQ(a.body, b.body);
  EXPECT_EQ(a.idempotency_key, b.idempotency_key);
  EXPECT_EQ(a.method, "PUT");
  EXPECT_NE(a.body.find("\"hours\":\"12345678901234567890.000001\""), std::string::npos);  // exact text
}

TEST(ChangeRequestTest, UpdateThatMovesTheKeyCarriesOldKey) {
  ChangeEvent e = Event(Op::kUpdate);
  e.has_before = true;
  e.before = {Text("id", "41")};
  e.after = {Text("id", "42"), {"memo", 25, Column::Kind::kUnchangedToast, ""}};
  ChangeRequest r;
  ASSERT_TRUE(BuildChangeRequest(e, "time_entries", &r).ok());
  EXPECT_NE(r.body.find("\"key\":{\"id\":\"42\"},\"old_key\":{\"id\":\"41\"}"), std::string::npos) << r.body;
  EXPECT_NE(r.body.find("\"memo\":{\"unchanged_toast\":true}"), std::string::npos) << r.body;
}

TEST(ChangeRequestTest, DeleteWithoutKeyIsPermanent) {
  ChangeEvent e = Event(Op::kDelete);
  ChangeRequest r;
  EXPECT_EQ(BuildChangeRequest(e, "time_entries", &r).code(), StatusCode::kPermanent);
  e.has_before = true;
  e.before = {Text("other", "1")};
  EXPECT_EQ(BuildChangeRequest(e, "time_entries", &r).code(), StatusCode::kPermanent);
  e.before = {Text("id", "7")};
  ASSERT_TRUE(BuildChangeRequest(e, "time_entries", &r).ok());
  EXPECT_EQ(r.method, "DELETE");
  EXPECT_EQ(r.body.find("\"after\""), std::string::npos);
}

TEST(ChangeRequestTest, TruncateIsNotARequest) {
  ChangeRequest r;
  EXPECT_FALSE(BuildChangeRequest(Event(Op::kTruncate), "time_entries", &r).ok());
}

TEST(HttpStatusTest, Classification) {
  for (long s : {200L, 201L, 202L, 204L}) EXPECT_EQ(ClassifyHttpStatus(s), HttpOutcome::kDone) << s;
  for (long s : {429L, 500L, 502L, 503L, 504L, 408L, 401L})
    EXPECT_EQ(ClassifyHttpStatus(s), HttpOutcome::kTransient) << s;
  for (long s : {400L, 403L, 404L, 409L, 410L, 422L, 301L, 0L})
    EXPECT_EQ(ClassifyHttpStatus(s), HttpOutcome::kPermanent) << s;
}

}  // namespace
}  // namespace handoff::apply
