// The canonical store's record formats (canonical/canonical_format.md): entity
// states and trace records round-trip, older versions still read, and damaged
// records are refused rather than half read.
#include <gtest/gtest.h>

#include "handoff/canonical/entity_codec.h"
#include "handoff/canonical/store_keys.h"
#include "trace_record.h"

namespace handoff {
namespace {

conflict::EntityState Sample() {
  conflict::EntityState s;
  s.entity = "time_entry";
  s.key = "time_entry:psa:7";
  s.exists = true;
  s.locked = true;
  s.fields["hours"] = {std::string("8.50"), {"psa", 1700000000000000, 12}};
  s.fields["note"] = {std::nullopt, {"psa", 1700000000000000, 12}};
  s.fields["rate"] = {std::string("150.00"), {"erp", -5, 40}};
  s.fields["empty"] = {std::string(""), {"psa", 1700000000000000, 12}};
  s.xrefs.push_back({"psa", "time_entries", "7"});
  s.held_by = {"erp", "crm"};
  return s;
}

TEST(StoreFormatTest, EntityStateRoundTrips) {
  conflict::EntityState s = Sample();
  std::string rec = EncodeEntityState(s);
  EXPECT_EQ(rec.substr(0, 3), "ES2");
  conflict::EntityState back;
  ASSERT_TRUE(DecodeEntityState(rec, &back));
  EXPECT_EQ(back, s);
  EXPECT_EQ(EncodeEntityState(back), rec);

  s.deleted = true;
  s.deleted_at_us = 1700000000123456;
  s.deleted_by = {"psa", 1700000000123456, 99};
  ASSERT_TRUE(DecodeEntityState(EncodeEntityState(s), &back));
  EXPECT_EQ(back, s);
}

TEST(StoreFormatTest, SharedProvenanceIsWrittenOnce) {
  conflict::EntityState s = Sample();
  std::string one = EncodeEntityState(s);
  s.fields["extra"] = {std::string("x"), {"psa", 1700000000000000, 12}};
  std::string two = EncodeEntityState(s);
  // name (1+5) + present (1) + value (1+1) + provenance index (1): no second copy of the provenance
  EXPECT_EQ(two.size(), one.size() + 10);
}

TEST(StoreFormatTest, DamagedStatesAreRefused) {
  std::string rec = EncodeEntityState(Sample());
  conflict::EntityState back;
  for (size_t cut = 0; cut < rec.size(); ++cut) EXPECT_FALSE(DecodeEntityState(rec.substr(0, cut), &back)) << cut;
  EXPECT_FALSE(DecodeEntityState(rec + "x", &back));
  EXPECT_FALSE(DecodeEntityState("XX9", &back));
}

TEST(StoreFormatTest, VersionOneStatesStillRead) {
  // ES1: "<len>:<bytes>" fields, "-"/"+" for optional values.
  std::string v1 = "ES1;";
  auto str = [&](const std::string& x) { v1 += std::to_string(x.size()) + ":" + x; };
  str("customer");
  str("customer:crm:42");
  str("1");  // exists
  str("0");  // deleted
  str("0");  // deleted_at_us
  str("");   // deleted_by
  str("0");
  str("0");
  str("0");  // locked
  str("1");  // one field
  str("name");
  v1 += "+";
  str("Acme");
  str("crm");
  str("1700000000000000");
  str("3");
  str("1");  // one xref
  str("crm");
  str("accounts");
  str("42");
  conflict::EntityState s;
  ASSERT_TRUE(DecodeEntityState(v1, &s));
  EXPECT_EQ(s.key, "customer:crm:42");
  EXPECT_TRUE(s.exists);
  EXPECT_EQ(s.fields.at("name").value, "Acme");
  EXPECT_EQ(s.fields.at("name").provenance.seq, 3u);
  ASSERT_EQ(s.xrefs.size(), 1u);
  EXPECT_EQ(s.xrefs[0].object, "accounts");
  EXPECT_TRUE(s.held_by.empty());
}

TEST(StoreFormatTest, TraceRecordsWordTheirStepsWhenRead) {
  TraceStep decided;
  decided.step = "decided";
  decided.entity = "time_entry";
  decided.key = "time_entry:psa:7";
  decided.system = "psa";
  decided.op = Op::kInsert;
  decided.position = SourcePosition{0x16B3A28, 2};
  decided.applied = 7;
  decided.conflicts = 1;
  TraceStep derived = decided;
  derived.step = "derived";
  derived.target_system = "erp";
  derived.target_table = "public.time_entries";
  derived.target_key = "id=7";
  derived.derived_seq = 991;
  TraceStep flow;
  flow.step = "flow";
  flow.entity = "project";
  flow.key = "project:erp:PRJ-1";
  flow.system = "erp";
  flow.detail = "project PRJ-1 provisioned";
  std::string rec = EncodeTraceRecord(1700000000000000, {&decided, &derived, &flow});
  std::vector<TraceLine> lines;
  ASSERT_TRUE(DecodeTraceRecord(rec, 55, &lines).ok());
  ASSERT_EQ(lines.size(), 3u);
  EXPECT_EQ(lines[0].step, "decided");
  EXPECT_EQ(lines[0].seq, 55u);
  EXPECT_EQ(lines[0].detail,
            "insert time_entry:psa:7 at " + FormatPosition(decided.position) +
                ": 7 field(s) applied, 0 kept, 0 ignored, 0 parked, 1 conflict(s)");
  EXPECT_EQ(lines[1].key, "time_entry:psa:7");
  EXPECT_EQ(lines[1].derived_seq, 991u);
  EXPECT_EQ(lines[1].target, "erp");
  EXPECT_EQ(lines[1].row, "id=7");
  EXPECT_EQ(lines[1].detail, "write to erp public.time_entries");
  EXPECT_EQ(lines[2].key, "project:erp:PRJ-1");
  EXPECT_EQ(lines[2].detail, "project PRJ-1 provisioned");
  EXPECT_EQ(lines[2].at_us, 1700000000000000);
  for (size_t cut = 3; cut < rec.size(); ++cut) {
    std::vector<TraceLine> partial;
    EXPECT_FALSE(DecodeTraceRecord(rec.substr(0, cut), 55, &partial).ok()) << cut;
  }
}

TEST(StoreFormatTest, ImpliedKeysAndSeqs) {
  EXPECT_EQ(canonical_key::ImpliedKey("customer", Xref{"crm", "accounts", "42"}), "customer:crm:42");
  const std::string w = canonical_key::Wait("customer:crm:42", 17);
  EXPECT_EQ(canonical_key::SeqAfter(w, canonical_key::WaitsOn("customer:crm:42").size()), 17u);
  EXPECT_EQ(canonical_key::SeqAfter(canonical_key::Retry(123456), canonical_key::kRetry.size()), 123456u);
  EXPECT_EQ(canonical_key::SeqAfter("retry:canonical:12x", canonical_key::kRetry.size()), 0u);
}


TEST(StoreFormatTest, StateWithRoutineStepsIsVersionThree) {
  conflict::EntityState s = Sample();
  s.trace_tail = std::string("\x01\x05\x00", 3);
  std::string rec = EncodeEntityState(s);
  EXPECT_EQ(rec.substr(0, 3), "ES3");
  conflict::EntityState back;
  ASSERT_TRUE(DecodeEntityState(rec, &back));
  EXPECT_EQ(back, s);
  EXPECT_EQ(EncodeEntityState(back), rec);
  for (size_t cut = 0; cut < rec.size(); ++cut) EXPECT_FALSE(DecodeEntityState(rec.substr(0, cut), &back)) << cut;
}

TEST(StoreFormatTest, RoutineStepsReadBackWithTheirPassRecord) {
  TraceStep decided;
  decided.step = "decided";
  decided.root = decided.key = "time_entry:psa:7";
  decided.entity = "time_entry";
  decided.system = "psa";
  decided.op = Op::kUpdate;
  decided.position = SourcePosition{0x16B3A28, 2};
  decided.applied = 3;
  TraceStep derived = decided;
  derived.step = "derived";
  derived.system = "erp";
  derived.batch = "canonical.erp";
  derived.index = 1;
  derived.target_table = "public.time_entries";
  derived.target_key = "id=7";
  TraceStep flow = decided;
  flow.step = "flow";
  EXPECT_TRUE(Foldable("time_entry:psa:7", {&decided, &derived}));
  EXPECT_FALSE(Foldable("time_entry:psa:7", {&decided, &derived, &flow}));
  EXPECT_FALSE(Foldable("engagement:crm:1", {&decided, &derived}));

  std::string tail;
  EXPECT_EQ(AppendFolded(&tail, 120, 100, {&decided, &derived}), 1u);
  EXPECT_EQ(AppendFolded(&tail, 130, 100, {&decided, &derived}), 2u);
  EXPECT_EQ(FirstFoldedSeq(tail), 120u);
  const std::vector<uint64_t> erp = {500, 0, 502, 503};  // the second was a duplicate (skipped)
  const std::string pass = EncodeTracePass(1700000000000000, {{"canonical.erp", &erp}});
  TracePassRecord rec;
  ASSERT_TRUE(DecodeTracePass(pass, &rec).ok());
  EXPECT_EQ(rec.at_us, 1700000000000000);
  EXPECT_EQ(rec.seqs["canonical.erp"], erp);
  TracePassLookup lookup = [&](uint64_t id) -> Result<const TracePassRecord*> {
    EXPECT_EQ(id, 100u);
    return &rec;
  };
  for (const std::string& data : {tail, FoldedRecord(tail)}) {
    std::vector<TraceLine> lines;
    ASSERT_TRUE(DecodeFolded(data, "time_entry", "time_entry:psa:7", lookup, &lines).ok());
    ASSERT_EQ(lines.size(), 4u);
    EXPECT_EQ(lines[0].seq, 120u);
    EXPECT_EQ(lines[0].step, "decided");
    EXPECT_EQ(lines[0].detail, "update time_entry:psa:7 at " + FormatPosition(decided.position) +
                                   ": 3 field(s) applied, 0 kept, 0 ignored, 0 parked");
    EXPECT_EQ(lines[1].step, "derived");
    EXPECT_EQ(lines[1].derived_seq, 0u) << "index 1 of the pass's erp changes was skipped";
    EXPECT_EQ(lines[1].target, "erp");
    EXPECT_EQ(lines[1].row, "id=7");
    EXPECT_EQ(lines[1].at_us, 1700000000000000);
    EXPECT_EQ(lines[3].seq, 130u);
  }
  for (size_t cut = 1; cut < tail.size(); ++cut) {
    std::vector<TraceLine> partial;
    EXPECT_FALSE(DecodeFolded(tail.substr(0, cut), "time_entry", "k", lookup, &partial).ok()) << cut;
  }
  for (size_t cut = 0; cut < pass.size(); ++cut) {
    TracePassRecord r;
    EXPECT_FALSE(DecodeTracePass(pass.substr(0, cut), &r).ok()) << cut;
  }
}

}  // namespace
}  // namespace handoff
