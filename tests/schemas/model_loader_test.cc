// LoadModel: every problem of a broken pack with file:line, and adding a field
// by editing YAML alone.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "handoff/schemas/model.h"
#include "handoff/schemas/pg_text.h"

namespace handoff::schemas {
namespace {
namespace fs = std::filesystem;

const char* kPack = HANDOFF_SOURCE_DIR "/schemas/pack";

class TempDir {
 public:
  TempDir() {
    path_ = fs::temp_directory_path() / ("handoff_schemas_" + std::to_string(::getpid()) + "_" + std::to_string(n_++));
    fs::remove_all(path_);
    fs::create_directories(path_);
  }
  ~TempDir() { fs::remove_all(path_); }
  void Write(const std::string& rel, const std::string& text) const {
    fs::create_directories((path_ / rel).parent_path());
    std::ofstream(path_ / rel) << text;
  }
  std::string path() const { return path_.string(); }

 private:
  static inline int n_ = 0;
  fs::path path_;
};

std::string ReadFile(const std::string& p) {
  std::ifstream in(p);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::vector<std::string> Lines(const std::string& s) {
  std::vector<std::string> out;
  std::stringstream ss(s);
  for (std::string line; std::getline(ss, line);) out.push_back(line);
  return out;
}

TEST(ModelLoaderTest, BrokenPackReportsEveryProblemWithFileAndLine) {
  TempDir dir;
  dir.Write("entities/thing.yaml",
            "entity: thing\n"                                        // 1
            "key: xref\n"                                            // 2
            "fields:\n"                                              // 3
            "  name: { type: strin, required: true }\n"              // 4 unknown type
            "  price: { type: money, scale: 2, currency: cur }\n"    // 5 unknown currency field
            "  owner: { type: ref, entity: person }\n"               // 6 unknown entity
            "  kind: { type: enum, values: [a, b], requird: true }\n"  // 7 unknown key
            "  name: string\n");                                     // 8 duplicate field
  dir.Write("entities/thing_again.yaml",
            "entity: thing\n"  // 1 duplicate entity
            "key: xref\n"
            "fields: { name: string }\n");
  dir.Write("entities/syntax.yaml",
            "entity: broken\n"
            "fields: [unclosed\n");  // YAML syntax error
  dir.Write("mappings/shop.yaml",
            "system: shop\n"                                   // 1
            "sources:\n"                                       // 2
            "  - table: items\n"                               // 3
            "    entity: thing\n"                              // 4
            "    fields:\n"                                    // 5
            "      name: title\n"                              // 6
            "      colour: colour\n"                           // 7 unknown field
            "      kind: { shout: kind }\n"                    // 8 bad expression
            "    when: { field: kind, becomes: c }\n"          // 9 not an enum value
            "  - table: orders\n"                              // 10
            "    entity: order\n"                              // 11 unknown entity
            "    fields: { id: id }\n"                         // 12
            "targets:\n"                                       // 13
            "  - entity: thing\n"                              // 14
            "    table: items\n"                               // 15
            "    key: id\n"                                    // 16 key column not mapped
            "    columns:\n"                                   // 17
            "      title: nam\n");                             // 18 unknown field
  auto m = LoadModel(dir.path());
  ASSERT_FALSE(m.ok());
  EXPECT_EQ(m.status().code(), StatusCode::kInvalidArgument);
  const std::vector<std::string> lines = Lines(m.status().message());
  auto has = [&](const std::string& prefix, const std::string& part) {
    for (const auto& l : lines) {
      if (l.rfind(prefix, 0) == 0 && l.find(part) != std::string::npos) return true;
    }
    return false;
  };
  EXPECT_TRUE(has("entities/syntax.yaml:", "YAML syntax error"));
  EXPECT_TRUE(has("entities/thing.yaml:4: ", "unknown type 'strin' for field thing.name"));
  EXPECT_TRUE(has("entities/thing.yaml:5: ", "currency field 'cur' is not a field of thing"));
  EXPECT_TRUE(has("entities/thing.yaml:6: ", "refers to unknown entity 'person'"));
  EXPECT_TRUE(has("entities/thing.yaml:7: ", "unknown key 'requird'"));
  EXPECT_TRUE(has("entities/thing.yaml:8: ", "duplicate field 'name'"));
  EXPECT_TRUE(has("entities/thing_again.yaml:1: ", "duplicate entity 'thing' (also defined at entities/thing.yaml:1)"));
  EXPECT_TRUE(has("mappings/shop.yaml:7: ", "'colour' is not a field of thing"));
  EXPECT_TRUE(has("mappings/shop.yaml:8: ", "unknown expression 'shout'"));
  EXPECT_TRUE(has("mappings/shop.yaml:9: ", "when: 'c' is not a value of thing.kind"));
  EXPECT_TRUE(has("mappings/shop.yaml:10: ", "unknown entity 'order'"));
  EXPECT_TRUE(has("mappings/shop.yaml:14: ", "key column 'id' is not among its columns"));
  EXPECT_TRUE(has("mappings/shop.yaml:18: ", "'nam' is not a field of thing"));
  EXPECT_GE(lines.size(), 13u) << m.status().message();
  for (const auto& l : lines) {
    EXPECT_TRUE(l.find(".yaml:") != std::string::npos) << "no file:line in: " << l;
  }
}

// `parent:` names the ref field of the entity a trace step is filed under.
TEST(ModelLoaderTest, ParentChainIsDeclaredAndChecked) {
  auto pack = LoadModel(kPack);
  ASSERT_TRUE(pack.ok()) << pack.status().ToString();
  ASSERT_NE(pack->ParentRef("invoice_line"), nullptr);
  EXPECT_EQ(pack->ParentRef("invoice_line")->ref_entity, "invoice");
  EXPECT_EQ(pack->ParentRef("time_entry")->ref_entity, "project");
  EXPECT_EQ(pack->ParentRef("project")->ref_entity, "engagement");
  EXPECT_EQ(pack->ParentRef("engagement"), nullptr);  // a root
  EXPECT_EQ(pack->ParentRef("nothing"), nullptr);

  TempDir dir;
  dir.Write("entities/a.yaml",
            "entity: a\n"
            "key: xref\n"
            "parent: up\n"
            "fields: { up: { type: ref, entity: b } }\n");
  dir.Write("entities/b.yaml",
            "entity: b\n"
            "key: xref\n"
            "parent: back\n"
            "fields: { back: { type: ref, entity: a } }\n");
  dir.Write("entities/c.yaml",
            "entity: c\n"
            "key: xref\n"
            "parent: name\n"
            "fields: { name: string }\n");
  dir.Write("entities/d.yaml",
            "entity: d\n"
            "key: xref\n"
            "parent: owner\n"
            "fields: { name: string }\n");
  auto m = LoadModel(dir.path());
  ASSERT_FALSE(m.ok());
  const std::string msg = m.status().message();
  EXPECT_NE(msg.find("entities/a.yaml:1: entity a: parent chain loops (a -> b -> a)"), std::string::npos) << msg;
  EXPECT_NE(msg.find("entities/b.yaml:1: entity b: parent chain loops (b -> a -> b)"), std::string::npos) << msg;
  EXPECT_NE(msg.find("entity c: parent 'name' must be a ref field"), std::string::npos) << msg;
  EXPECT_NE(msg.find("entities/d.yaml:1: entity d: parent 'owner' is not a field of d"), std::string::npos) << msg;
}

TEST(ModelLoaderTest, MissingOrEmptyDirectory) {
  EXPECT_EQ(LoadModel("/nonexistent/handoff/pack").status().code(), StatusCode::kNotFound);
  TempDir dir;
  EXPECT_EQ(LoadModel(dir.path()).status().code(), StatusCode::kNotFound);
  dir.Write("x.yaml", "just a string\n");
  auto m = LoadModel(dir.path());
  ASSERT_FALSE(m.ok());
  EXPECT_EQ(m.status().message().rfind("x.yaml:1: ", 0), 0u) << m.status().message();
}

// A platform team adds a canonical field and its column by editing YAML only.
TEST(ModelLoaderTest, AddingAFieldByEditingYamlAlone) {
  TempDir dir;
  for (const auto& e : fs::recursive_directory_iterator(kPack)) {
    if (e.path().extension() != ".yaml") continue;
    dir.Write(fs::relative(e.path(), kPack).string(), ReadFile(e.path().string()));
  }
  std::string customer = ReadFile(dir.path() + "/entities/customer.yaml");
  customer += "  vat_id: { type: string, max_length: 20 }\n  onboarded_at: instant\n";
  dir.Write("entities/customer.yaml", customer);
  std::string crm = ReadFile(dir.path() + "/mappings/crm.yaml");
  const std::string anchor = "      billing_status: billing_status\n";
  size_t at = crm.find(anchor);  // first occurrence: the accounts source
  ASSERT_NE(at, std::string::npos);
  crm.insert(at + anchor.size(), "      vat_id: { upper: vat_id }\n      onboarded_at: created_at\n");
  dir.Write("mappings/crm.yaml", crm);

  auto m = LoadModel(dir.path());
  ASSERT_TRUE(m.ok()) << m.status().message();
  ChangeEvent ev;
  ev.schema = "public";
  ev.table = "accounts";
  ev.op = Op::kInsert;
  ev.after = {{"id", pg_oid::kInt8, Column::Kind::kText, "7"},
              {"name", pg_oid::kText, Column::Kind::kText, "Acme"},
              {"vat_id", pg_oid::kText, Column::Kind::kText, "de123456789"},
              {"created_at", pg_oid::kTimestamptz, Column::Kind::kText, "2026-03-29 01:30:00+01"}};
  auto ch = m->MapSource(ev, "crm", NoLookup());
  ASSERT_TRUE(ch.ok()) << ch.status().message();
  EXPECT_EQ((*ch)->after.at("vat_id"), "DE123456789");
  EXPECT_EQ((*ch)->after.at("onboarded_at"), "2026-03-29T00:30:00Z");
}

// A source-side filter: only rows whose status becomes approved are mapped.
TEST(ModelLoaderTest, SourceFilterBecomesAndEquals) {
  TempDir dir;
  dir.Write("e.yaml",
            "entity: entry\nkey: xref\nfields:\n"
            "  status: { type: enum, values: [draft, approved] }\n  kind: string\n");
  dir.Write("m.yaml",
            "system: psa\nsources:\n  - table: entries\n    entity: entry\n"
            "    fields: { status: status, kind: kind }\n"
            "    when:\n      - { field: status, becomes: approved }\n      - { field: kind, equals: billable }\n");
  auto m = LoadModel(dir.path());
  ASSERT_TRUE(m.ok()) << m.status().message();
  auto event = [](const char* before, const char* after, const char* kind) {
    ChangeEvent ev;
    ev.schema = "public";
    ev.table = "entries";
    ev.op = Op::kUpdate;
    ev.after = {{"id", 20, Column::Kind::kText, "1"}, {"status", 25, Column::Kind::kText, after},
                {"kind", 25, Column::Kind::kText, kind}};
    if (before) {
      ev.has_before = true;
      ev.before = {{"id", 20, Column::Kind::kText, "1"}, {"status", 25, Column::Kind::kText, before}};
    }
    return ev;
  };
  auto passes = [&](const ChangeEvent& ev) {
    auto r = m->MapSource(ev, "psa", NoLookup());
    EXPECT_TRUE(r.ok()) << r.status().message();
    return r.ok() && r->has_value();
  };
  EXPECT_TRUE(passes(event("draft", "approved", "billable")));
  EXPECT_FALSE(passes(event("approved", "approved", "billable")));
  EXPECT_FALSE(passes(event("draft", "draft", "billable")));
  EXPECT_FALSE(passes(event("draft", "approved", "internal")));
}

}  // namespace
}  // namespace handoff::schemas
