// A second pack with names of its own (tests/data/packs/agency: clients, deals,
// jobs, workers, timesheets, price lists in sales, studio and books) through
// CanonicalRouter without PostgreSQL: the model's parent chain files the trace,
// a won deal provisions its job, a signed-off timesheet is posted at its
// price-list rate, and waits for the price list when it comes later. And the
// engine's sources name nothing of the default pack.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <regex>
#include <set>
#include <sstream>

#include "handoff/canonical/entity_codec.h"
#include "handoff/canonical/requests.h"
#include "handoff/canonical/router.h"
#include "handoff/canonical/store_keys.h"
#include "handoff/canonical/trace.h"
#include "canonical_fixture.h"
#include "test_data.h"

namespace handoff {
namespace {

namespace fs = std::filesystem;

using testing::ReadText;
using testing::Text;

class AgencyPackTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const fs::path pack = testing::OwnDataDir("packs/agency");
    temp_ = std::make_unique<testing::TempJournal>("handoff-agency");
    journal_ = temp_->get();
    ASSERT_NE(journal_, nullptr) << temp_->status().ToString();
    auto m = schemas::LoadModel((pack / "pack").string());
    ASSERT_TRUE(m.ok()) << m.status().ToString();
    model_ = std::move(m).value();
    auto r = testing::OwnershipFor(model_, pack / "ownership.yaml");
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    rules_ = std::move(r).value();
    auto f = schemas::LoadFlows((pack / "flows.yaml").string());
    ASSERT_TRUE(f.ok()) << f.status().ToString();
    flows_ = std::move(f).value();
    Status bound = schemas::CheckFlows(flows_, model_);
    ASSERT_TRUE(bound.ok()) << bound.ToString();
    CanonicalRouterOptions ro;
    ro.journal = journal_;
    ro.model = &model_;
    ro.rules = &rules_;
    ro.systems = {"sales", "studio", "books"};
    ro.flows = &flows_;
    auto cr = CanonicalRouter::Create(std::move(ro));
    ASSERT_TRUE(cr.ok()) << cr.status().ToString();
    router_ = std::move(cr).value();
  }
  void TearDown() override {
    router_.reset();
    temp_.reset();
  }

  // Journals one inserted row of `system`.`table`; returns its seq.
  uint64_t Insert(const std::string& system, const std::string& table, std::vector<Column> after) {
    ChangeEvent ev;
    ev.source = system;
    ev.position = SourcePosition{++lsn_, 1};
    ev.commit_time_us = 1790000000000000 + 1000000 * static_cast<int64_t>(lsn_);
    ev.schema = "public";
    ev.table = table;
    ev.op = Op::kInsert;
    ev.key_columns = {"id"};
    ev.after = std::move(after);
    std::vector<AppendBatch> b{{system, ev.position, {ev}}};
    EXPECT_TRUE(journal_->Append(b, nullptr).ok());
    return journal_->LastSeq();
  }
  void Route() {
    for (int i = 0; i < 10; ++i) {  // until nothing is left (retries queue for the next run)
      size_t n = 0;
      ASSERT_TRUE(router_->RunOnce(&n).ok());
      if (n == 0) return;
    }
  }
  std::optional<conflict::EntityState> State(const std::string& key) {
    auto v = journal_->GetMeta(canonical_key::Entity(key));
    conflict::EntityState s;
    if (!v.ok() || !v->has_value() || !DecodeEntityState(**v, &s)) return std::nullopt;
    return s;
  }
  std::string Field(const std::string& key, const std::string& field) {
    auto s = State(key);
    if (!s) return "<no " + key + ">";
    auto it = s->fields.find(field);
    return it == s->fields.end() || !it->second.value ? "<unset>" : *it->second.value;
  }
  // Derived rows for `system`.`table`.
  std::vector<ChangeEvent> Derived(const std::string& system, const std::string& table) {
    std::vector<JournalEntry> all;
    EXPECT_TRUE(journal_->Read(1, 10000, &all).ok());
    std::vector<ChangeEvent> out;
    for (auto& e : all)
      if (e.event.source == kCanonicalSourcePrefix + system && e.event.table == table) out.push_back(e.event);
    return out;
  }
  static std::string Col(const ChangeEvent& ev, const std::string& name) {
    const Column* c = ev.FindAfter(name);
    return c == nullptr ? "<absent>" : c->is_null() ? "<null>" : c->data;
  }

  // A client known to sales and books, a price list, and the deal, won.
  void WinDeal(const std::string& price_list_skill) {
    Insert("sales", "clients", {Text("id", "5"), Text("title", "Northwind")});
    Insert("books", "clients",
           {Text("id", "50"), Text("sales_client_id", "5"), Text("title", "Northwind"),
            Text("legal_name", "Northwind Studios Ltd"), Text("vat_zone", "GB")});
    Insert("books", "price_lists",
           {Text("list", "STUDIO"), Text("skill", price_list_skill), Text("price", "120.00"), Text("cur", "eur"),
            Text("valid_from", "2026-01-01")});
    Insert("sales", "deals",
           {Text("id", "9"), Text("client_id", "5"), Text("title", "Rebrand"), Text("phase", "won"),
            Text("value", "5000.00"), Text("cur", "eur"), Text("practice", "branding"), Text("terms", "hourly"),
            Text("price_list", "STUDIO"), Text("kickoff", "2026-10-01"), Text("wrap", "2026-12-31"),
            Text("hours_cap", "100")});
    Route();
  }
  uint64_t BookTime() {
    Insert("studio", "workers",
           {Text("id", "3"), Text("mail", "Ada@Studio.example"), Text("full_name", "Ada"), Text("skill", "designer"),
            Text("cost_code", "CC-DESIGN")});
    uint64_t seq = Insert("studio", "timesheets",
                          {Text("id", "77"), Text("worker_id", "3"), Text("job_ref", "J-9"), Text("day", "2026-10-05"),
                           Text("duration", "6.50"), Text("state", "signed_off")});
    Route();
    return seq;
  }

  std::unique_ptr<testing::TempJournal> temp_;
  uint64_t lsn_ = 100;
  Journal* journal_ = nullptr;
  schemas::Model model_;
  conflict::OwnershipRules rules_;
  schemas::Flows flows_;
  std::unique_ptr<CanonicalRouter> router_;
};

TEST_F(AgencyPackTest, WonDealProvisionsItsJob) {
  WinDeal("designer");
  auto job = State("job:J-9");
  ASSERT_TRUE(job.has_value()) << "no job provisioned";
  EXPECT_EQ(Field("job:J-9", "deal"), "deal:sales:9");
  EXPECT_EQ(Field("job:J-9", "client"), "client:sales:5");
  EXPECT_EQ(Field("job:J-9", "state"), "active");
  EXPECT_EQ(Field("job:J-9", "label"), "Rebrand");
  EXPECT_EQ(Field("job:J-9", "budget"), "5000.00");
  EXPECT_EQ(Field("job:J-9", "cost_code"), "CC-BRAND");
  auto books = Derived("books", "jobs");
  ASSERT_EQ(books.size(), 1u);
  EXPECT_EQ(Col(books[0], "ref"), "J-9");
  EXPECT_EQ(Col(books[0], "client_id"), "50");  // the client's id in books
  EXPECT_EQ(Col(books[0], "cost_code"), "CC-BRAND");
  ASSERT_EQ(Derived("studio", "jobs").size(), 1u);
  auto open = journal_->Exceptions(ExceptionState::kOpen);
  ASSERT_TRUE(open.ok());
  EXPECT_TRUE(open->empty()) << open->front().reason;
  // The flow's step is filed under the deal.
  auto t = ReadTrace(journal_, model_, rules_, "sales:deals:9");
  ASSERT_TRUE(t.ok()) << t.status().ToString();
  EXPECT_EQ(t->root, "deal:sales:9");
  bool provisioned = false;
  for (const TraceLine& l : t->lines)
    provisioned |= l.step == "flow" && l.detail == "job J-9 provisioned for closed-won deal 'Rebrand'";
  EXPECT_TRUE(provisioned);
}

TEST_F(AgencyPackTest, DealWithoutLegalClientIsParkedInItsOwnWords) {
  Insert("sales", "clients", {Text("id", "5"), Text("title", "Northwind")});
  Insert("books", "clients", {Text("id", "50"), Text("sales_client_id", "5"), Text("title", "Northwind")});
  uint64_t deal = Insert(
      "sales", "deals",
      {Text("id", "9"), Text("client_id", "5"), Text("title", "Rebrand"), Text("phase", "won"), Text("value", "10.00"),
       Text("cur", "EUR"), Text("practice", "pottery"), Text("terms", "hourly"), Text("price_list", "NONE")});
  Route();
  auto x = journal_->GetException("canonical", deal);
  ASSERT_TRUE(x.ok() && x->has_value());
  const std::string& why = (*x)->reason;
  EXPECT_NE(why.find("deal 'Rebrand' (deal:sales:9) is closed won but no job was created"), std::string::npos) << why;
  EXPECT_NE(why.find("client Northwind has no legal name in BOOKS"), std::string::npos) << why;
  EXPECT_NE(why.find("practice 'pottery' is not known"), std::string::npos) << why;
  EXPECT_NE(why.find("price list 'NONE' does not exist in BOOKS"), std::string::npos) << why;
  EXPECT_FALSE(State("job:J-9").has_value());
}

TEST_F(AgencyPackTest, SignedOffTimesheetIsPostedAtItsPriceListRate) {
  WinDeal("designer");
  uint64_t seq = BookTime();
  EXPECT_FALSE(journal_->GetException("canonical", seq)->has_value());
  EXPECT_EQ(Field("timesheet:studio:77", "price"), "120.00");
  EXPECT_EQ(Field("timesheet:studio:77", "cur"), "EUR");
  EXPECT_EQ(Field("timesheet:studio:77", "cost_code"), "CC-DESIGN");
  EXPECT_NE(Field("timesheet:studio:77", "booked_at"), "<unset>");
  auto ledger = Derived("books", "ledger");
  ASSERT_EQ(ledger.size(), 1u);
  EXPECT_EQ(Col(ledger[0], "sheet"), "timesheet:studio:77");
  EXPECT_EQ(Col(ledger[0], "job_ref"), "J-9");
  EXPECT_EQ(Col(ledger[0], "worker_mail"), "ada@studio.example");
  EXPECT_EQ(Col(ledger[0], "price"), "120.00");
  EXPECT_EQ(Col(ledger[0], "amount"), "780.00");
  // The model's parent chain: timesheet -> job -> deal.
  auto t = ReadTrace(journal_, model_, rules_, "studio:timesheets:77");
  ASSERT_TRUE(t.ok()) << t.status().ToString();
  EXPECT_EQ(t->key, "timesheet:studio:77");
  EXPECT_EQ(t->root, "deal:sales:9");
  bool posted = false, derived = false;
  for (const TraceLine& l : t->lines) {
    posted |= l.step == "flow" && l.key == "timesheet:studio:77" &&
              l.detail.find("posted 6.50 h of ada@studio.example on 2026-10-05 at 120.00 EUR (price list STUDIO") == 0;
    derived |= l.step == "derived" && l.key == "timesheet:studio:77" && l.table == "public.ledger";
  }
  EXPECT_TRUE(posted);
  EXPECT_TRUE(derived);
}

TEST_F(AgencyPackTest, TimesheetWaitsForItsPriceListAndIsPostedWhenItArrives) {
  WinDeal("strategist");  // the list exists, but has no price for a designer yet
  ASSERT_TRUE(State("job:J-9").has_value());
  uint64_t seq = BookTime();
  auto x = journal_->GetException("canonical", seq);
  ASSERT_TRUE(x.ok() && x->has_value());
  EXPECT_EQ((*x)->state, ExceptionState::kOpen);
  EXPECT_NE((*x)->reason.find("signed off timesheet timesheet:studio:77"), std::string::npos) << (*x)->reason;
  EXPECT_NE((*x)->reason.find("price list 'STUDIO' has no rate for skill 'designer' on 2026-10-05"), std::string::npos)
      << (*x)->reason;
  EXPECT_TRUE(Derived("books", "ledger").empty());
  EXPECT_EQ(Field("timesheet:studio:77", "price"), "<unset>");
  // The designer's price arrives: the parked timesheet retries by itself.
  Insert("books", "price_lists",
         {Text("list", "STUDIO"), Text("skill", "designer"), Text("price", "95.00"), Text("cur", "EUR"),
          Text("valid_from", "2026-01-01")});
  Route();
  x = journal_->GetException("canonical", seq);
  ASSERT_TRUE(x.ok() && x->has_value());
  EXPECT_EQ((*x)->state, ExceptionState::kRetried) << (*x)->reason;
  EXPECT_EQ(Field("timesheet:studio:77", "price"), "95.00");
  auto ledger = Derived("books", "ledger");
  ASSERT_EQ(ledger.size(), 1u);
  EXPECT_EQ(Col(ledger[0], "price"), "95.00");
  EXPECT_EQ(Col(ledger[0], "amount"), "617.50");
}

// Every string literal in canonical/src, with where it is.
struct Literal {
  std::string file;
  int line;
  std::string text;
};
std::vector<Literal> Literals(const fs::path& root) {
  std::vector<Literal> out;
  for (const auto& entry : fs::recursive_directory_iterator(root)) {
    const std::string ext = entry.path().extension().string();
    if (ext != ".cc" && ext != ".h") continue;
    const std::string src = ReadText(entry.path());
    const std::string rel = fs::relative(entry.path(), root).string();
    int line = 1;
    for (size_t i = 0; i < src.size(); ++i) {
      char c = src[i];
      if (c == '\n') {
        ++line;
      } else if (c == '/' && i + 1 < src.size() && src[i + 1] == '/') {  // comment to the end of the line
        while (i < src.size() && src[i] != '\n') ++i;
        --i;
      } else if (c == '/' && i + 1 < src.size() && src[i + 1] == '*') {
        for (i += 2; i + 1 < src.size() && !(src[i] == '*' && src[i + 1] == '/'); ++i)
          if (src[i] == '\n') ++line;
        ++i;
      } else if (c == '#' && src.compare(i, 8, "#include") == 0) {
        while (i < src.size() && src[i] != '\n') ++i;
        --i;
      } else if (c == '\'') {  // a character literal
        for (++i; i < src.size() && src[i] != '\''; ++i)
          if (src[i] == '\\') ++i;
      } else if (c == '"') {
        std::string text;
        for (++i; i < src.size() && src[i] != '"'; ++i) {
          if (src[i] == '\\') ++i;
          text += src[i];
        }
        out.push_back({rel, line, text});
      }
    }
  }
  return out;
}

TEST(CanonicalSources, NameNoEntityOrSystemOfTheDefaultPack) {
  auto m = schemas::LoadModel(std::string(HANDOFF_SOURCE_DIR) + "/schemas/pack");
  ASSERT_TRUE(m.ok()) << m.status().ToString();
  std::set<std::string> names;
  for (const auto& [name, def] : m->entities()) names.insert(name);
  for (const std::string& s : m->Systems()) names.insert(s);
  ASSERT_TRUE(names.count("time_entry") && names.count("erp"));
  const auto literals = Literals(fs::path(HANDOFF_SOURCE_DIR) / "canonical" / "src");
  ASSERT_GT(literals.size(), 50u);  // the scan reads the sources
  std::string found;
  const std::regex word("[A-Za-z0-9_]+");
  for (const Literal& l : literals) {
    for (std::sregex_iterator it(l.text.begin(), l.text.end(), word), end; it != end; ++it) {
      std::string w = it->str();
      for (char& c : w) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      if (names.count(w)) found += l.file + ":" + std::to_string(l.line) + ": \"" + l.text + "\"\n";
    }
  }
  EXPECT_TRUE(found.empty()) << "default-pack names in canonical/src (bind them in flows.yaml or the model):\n"
                             << found;
}

}  // namespace
}  // namespace handoff
