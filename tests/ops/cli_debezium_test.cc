// The Debezium verbs of the built handoff binary: `inspect debezium FILE|-`
// over the project's sample events (tests/data/debezium) and, when present,
// the external corpus; malformed and hostile input;
// and `journal dump --format debezium` decoded back with DebeziumDecoder;
// and `status --json` of a stopped engine staying JSON whatever its names hold.
// Runs ops/handoff as a child process; needs no PostgreSQL.
#include <gtest/gtest.h>
#include <simdjson.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "handoff/capture/debezium.h"
#include "handoff/engine/journal.h"
#include "process.h"
#include "test_data.h"

namespace handoff {
namespace {

namespace fs = std::filesystem;
using testing::HandoffBinary;
using testing::RunCommand;

const fs::path kDataDir = testing::OwnDataDir("debezium");
constexpr const char* kDecimalFile = "pg_update_invoice_decimals_with_schema.json";
constexpr const char* kUpdateFile = "pg_update_account_payload_only.json";
constexpr const char* kTxnEndFile = "pg_txn_end.json";

// What one run of the binary gave.
struct CliRun {
  int rc = -1;
  std::string out, err;
};

CliRun Handoff(const std::vector<std::string>& args) {
  std::vector<std::string> argv{HandoffBinary()};
  argv.insert(argv.end(), args.begin(), args.end());
  CliRun r;
  r.rc = RunCommand(argv, &r.out, &r.err);
  return r;
}

// `handoff inspect debezium -` with `path` as standard input.
CliRun InspectStdin(const fs::path& path) {
  CliRun r;
  r.rc = RunCommand({"/bin/sh", "-c", "exec \"$0\" inspect debezium - < \"$1\"", HandoffBinary(), path.string()},
                    &r.out, &r.err);
  return r;
}

std::vector<std::string> Lines(const std::string& s) {
  std::vector<std::string> out;
  std::istringstream in(s);
  for (std::string line; std::getline(in, line);) out.push_back(line);
  return out;
}

std::string ReadFile(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

// The value of column `name` in the "after" (or "before") array of an
// inspect line; "<absent>" when there is no such column.
std::string ColumnValue(simdjson::dom::element line, const char* image, const std::string& name) {
  simdjson::dom::array cols;
  if (line[image].get_array().get(cols) != simdjson::SUCCESS) return "<absent>";
  for (simdjson::dom::element c : cols) {
    std::string_view n, v;
    if (c["name"].get_string().get(n) != simdjson::SUCCESS || n != name) continue;
    if (c["value"].get_string().get(v) != simdjson::SUCCESS) return "<null>";
    return std::string(v);
  }
  return "<absent>";
}

std::string_view Str(simdjson::dom::element e, const char* key) {
  std::string_view v;
  return e[key].get_string().get(v) == simdjson::SUCCESS ? v : std::string_view("<absent>");
}

// A temporary directory, removed with everything in it.
class TempDir {
 public:
  TempDir() {
    char tmpl[] = "/tmp/handoff-cli-XXXXXX";
    if (::mkdtemp(tmpl) != nullptr) path_ = tmpl;
  }
  ~TempDir() {
    if (!path_.empty()) fs::remove_all(path_);
  }
  const fs::path& path() const { return path_; }
  fs::path Write(const std::string& name, const std::string& content) const {
    fs::path p = path_ / name;
    std::ofstream(p, std::ios::binary) << content;
    return p;
  }

 private:
  fs::path path_;
};

// Each file inspects to JSON lines, each naming its record kind.
void ExpectEveryFileInspects(const std::vector<fs::path>& files) {
  simdjson::dom::parser parser;
  for (const auto& f : files) {
    CliRun r = Handoff({"inspect", "debezium", f.string()});
    EXPECT_EQ(r.rc, 0) << f.filename() << ": " << r.err;
    EXPECT_EQ(r.err, "") << f.filename();
    auto lines = Lines(r.out);
    EXPECT_GE(lines.size(), 1u) << f.filename();
    for (const auto& line : lines) {
      simdjson::dom::element doc;
      ASSERT_EQ(parser.parse(line).get(doc), simdjson::SUCCESS) << f.filename() << ": " << line;
      EXPECT_NE(Str(doc, "kind"), "<absent>") << line;
    }
  }
}

TEST(InspectDebeziumTest, EveryOwnFileInspectsToJsonLines) {
  auto files = testing::JsonFilesIn(kDataDir);
  ASSERT_GE(files.size(), 17u);
  ExpectEveryFileInspects(files);
}

TEST(InspectDebeziumTest, EveryCorpusFileInspectsToJsonLines) {
  HANDOFF_SKIP_WITHOUT_CORPUS("debezium");
  auto files = testing::JsonFilesIn(testing::ExternalCorpusDir("debezium"));
  ASSERT_GE(files.size(), 25u);
  ExpectEveryFileInspects(files);
}

TEST(InspectDebeziumTest, PreciseDecimalsComeOutExact) {
  CliRun r = Handoff({"inspect", "debezium", (kDataDir / kDecimalFile).string()});
  ASSERT_EQ(r.rc, 0) << r.err;
  auto lines = Lines(r.out);
  ASSERT_EQ(lines.size(), 1u);
  simdjson::dom::parser parser;
  simdjson::dom::element doc;
  ASSERT_EQ(parser.parse(lines[0]).get(doc), simdjson::SUCCESS);
  EXPECT_EQ(Str(doc, "kind"), "change");
  EXPECT_EQ(Str(doc, "op"), "update");
  EXPECT_EQ(Str(doc, "table"), "invoices");
  EXPECT_EQ(ColumnValue(doc, "after", "amount"), "987.65");        // VariableScaleDecimal {2, 98765}
  EXPECT_EQ(ColumnValue(doc, "after", "unit_price"), "12345.67");  // Decimal scale 2
  EXPECT_EQ(ColumnValue(doc, "after", "quantity"), "42");          // Decimal scale 0
  EXPECT_EQ(ColumnValue(doc, "after", "credit"), "-1250.50");
  EXPECT_EQ(ColumnValue(doc, "after", "ledger_total"), "123456789012345678901234567890123456789");
  EXPECT_EQ(ColumnValue(doc, "after", "ledger_total_6"), "100000000000000000000000000000000.000001");
  EXPECT_EQ(ColumnValue(doc, "before", "unit_price"), "<null>");
}

TEST(InspectDebeziumTest, UpdateAndTransactionEndValues) {
  simdjson::dom::parser parser;
  simdjson::dom::element doc;
  CliRun u = Handoff({"inspect", "debezium", (kDataDir / kUpdateFile).string()});
  ASSERT_EQ(u.rc, 0) << u.err;
  ASSERT_EQ(parser.parse(u.out).get(doc), simdjson::SUCCESS);
  EXPECT_EQ(Str(doc, "source"), "crm");
  EXPECT_EQ(Str(doc, "schema"), "public");
  EXPECT_EQ(Str(doc, "op"), "update");
  EXPECT_EQ(Str(doc, "position"), "0/2A3B4C5#1");
  EXPECT_EQ(ColumnValue(doc, "after", "name"), "Nordlicht Studio GmbH");
  EXPECT_EQ(ColumnValue(doc, "before", "id"), "12");
  int64_t xid = 0;
  EXPECT_EQ(doc["xid"].get_int64().get(xid), simdjson::SUCCESS);
  EXPECT_EQ(xid, 8801);

  CliRun e = Handoff({"inspect", "debezium", (kDataDir / kTxnEndFile).string()});
  ASSERT_EQ(e.rc, 0) << e.err;
  ASSERT_EQ(parser.parse(e.out).get(doc), simdjson::SUCCESS);
  EXPECT_EQ(Str(doc, "kind"), "txn_end");
  EXPECT_EQ(Str(doc, "txn_id"), "9120:80123480");
}

TEST(InspectDebeziumTest, ReadsStandardInput) {
  for (const char* name : {kDecimalFile, kUpdateFile}) {
    CliRun from_file = Handoff({"inspect", "debezium", (kDataDir / name).string()});
    CliRun from_stdin = InspectStdin(kDataDir / name);
    EXPECT_EQ(from_stdin.rc, 0) << from_stdin.err;
    EXPECT_EQ(from_stdin.out, from_file.out);
  }
}

TEST(InspectDebeziumTest, ArrayAndNdjsonGiveOneLinePerDocument) {
  TempDir dir;
  std::string a = ReadFile(kDataDir / kUpdateFile), b = ReadFile(kDataDir / kDecimalFile);
  for (const auto& input : {a + "\n" + b + "\n", "[" + a + "," + b + "]"}) {
    CliRun r = Handoff({"inspect", "debezium", dir.Write("two.json", input).string()});
    EXPECT_EQ(r.rc, 0) << r.err;
    EXPECT_EQ(Lines(r.out).size(), 2u);
  }
}

TEST(InspectDebeziumTest, TruncatedFileExitsOneNamingTheByteOffset) {
  TempDir dir;
  std::string good = ReadFile(kDataDir / kUpdateFile) + "\n";
  std::string bad = ReadFile(kDataDir / kDecimalFile);
  fs::path p = dir.Write("truncated.json", good + bad.substr(0, bad.size() / 2));
  CliRun r = Handoff({"inspect", "debezium", p.string()});
  EXPECT_EQ(r.rc, 1);
  EXPECT_EQ(Lines(r.out).size(), 1u) << "the record before the bad document is still printed";
  EXPECT_NE(r.err.find("handoff: " + p.string() + ": invalid Debezium JSON at byte "), std::string::npos) << r.err;
  size_t at = r.err.find("at byte ");
  ASSERT_NE(at, std::string::npos);
  size_t offset = std::stoul(r.err.substr(at + 8));
  EXPECT_GE(offset, good.size() - 1) << r.err;  // within the second document
  EXPECT_LE(offset, good.size() + bad.size() / 2) << r.err;
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << "one sentence: " << r.err;
}

TEST(InspectDebeziumTest, MissingFileExitsOneNamingTheFile) {
  TempDir dir;
  std::string missing = (dir.path() / "no-such-file.json").string();
  CliRun r = Handoff({"inspect", "debezium", missing});
  EXPECT_EQ(r.rc, 1);
  EXPECT_EQ(r.out, "");
  EXPECT_NE(r.err.find(missing), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("No such file or directory"), std::string::npos) << r.err;

  CliRun d = Handoff({"inspect", "debezium", dir.path().string()});  // a directory cannot be read
  EXPECT_EQ(d.rc, 1);
  EXPECT_NE(d.err.find(dir.path().string()), std::string::npos) << d.err;
}

TEST(InspectDebeziumTest, MissingFileArgumentIsAUsageError) {
  CliRun r = Handoff({"inspect", "debezium"});
  EXPECT_EQ(r.rc, 2);
}

TEST(InspectDebeziumTest, RandomGarbageExitsOneWithoutCrash) {
  TempDir dir;
  std::mt19937 rng(20240611);
  // Random bytes: never valid.
  for (int i = 0; i < 10; ++i) {
    std::string junk(1 + rng() % 4096, '\0');
    for (auto& c : junk) c = static_cast<char>(rng());
    junk[0] = '{';  // not whitespace, so the input is never empty
    CliRun r = Handoff({"inspect", "debezium", dir.Write("junk.bin", junk).string()});
    EXPECT_EQ(r.rc, 1) << "seed round " << i << ": " << r.err;
    EXPECT_NE(r.err.find("at byte "), std::string::npos) << r.err;
  }
  // Mutated sample documents: valid or not, never a signal.
  const std::string alphabet = "{}[]\":,0123456789.-+eE \\nultrfase\xff\x80";
  auto files = testing::JsonFilesIn(kDataDir);
  ASSERT_FALSE(files.empty());
  for (int i = 0; i < 40; ++i) {
    std::string doc = ReadFile(files[rng() % files.size()]);
    for (int k = 1 + rng() % 8; k > 0; --k) {
      size_t at = rng() % doc.size();
      switch (rng() % 3) {
        case 0:
          doc[at] = alphabet[rng() % alphabet.size()];
          break;
        case 1:
          doc.erase(at, 1 + rng() % 16);
          break;
        default:
          doc.insert(at, 1, alphabet[rng() % alphabet.size()]);
          break;
      }
      if (doc.empty()) doc = "{";
    }
    CliRun r = Handoff({"inspect", "debezium", dir.Write("mutated.json", doc).string()});
    EXPECT_TRUE(r.rc == 0 || r.rc == 1) << "exit " << r.rc << " on mutated input " << i;
    if (r.rc == 1) {
      EXPECT_NE(r.err.find("at byte "), std::string::npos) << r.err;
    }
  }
}

// journal dump --format debezium ------------------------------------------

Column Text(const std::string& name, uint32_t oid, const std::string& value) {
  return {name, oid, Column::Kind::kText, value};
}

ChangeEvent Invoice(Op op, uint64_t ordinal, const std::string& id, const std::string& amount) {
  ChangeEvent e;
  e.source = "psa";
  e.position = {0x16E9058, ordinal};
  e.xid = 556;
  e.commit_time_us = 1700000000123000;
  e.schema = "public";
  e.table = "invoices";
  e.op = op;
  e.key_columns = {"id"};
  std::vector<Column> image{Text("id", 20, id), Text("amount", 1700, amount), Text("note", 25, "n" + id)};
  if (op == Op::kDelete || op == Op::kUpdate) {
    e.has_before = true;
    e.before = op == Op::kDelete ? image : std::vector<Column>{Text("id", 20, id)};
  }
  if (op != Op::kDelete) e.after = image;
  return e;
}

class JournalDumpDebeziumTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_FALSE(dir_.path().empty());
    config_ = dir_.Write("handoff.yaml", "journal: { path: " + (dir_.path() / "journal").string() + " }\n");
    events_ = {Invoice(Op::kInsert, 1, "1", "123.45"), Invoice(Op::kInsert, 2, "2", "-0.001"),
               Invoice(Op::kUpdate, 3, "1", "99999999999999999999.99"), Invoice(Op::kDelete, 4, "2", "-0.001")};
    ChangeEvent commit;
    commit.source = "psa";
    commit.position = {0x16E9058, 5};
    commit.xid = 556;
    commit.commit_time_us = 1700000000123000;
    commit.op = Op::kCommit;
    events_.push_back(commit);

    JournalOptions o;
    o.path = (dir_.path() / "journal").string();
    o.map_size = 1 << 20;
    auto j = Journal::Open(o);
    ASSERT_TRUE(j.ok()) << j.status().ToString();
    std::vector<AppendBatch> batches{{"psa", events_.back().position, events_}};
    AppendResult r;
    ASSERT_TRUE((*j)->Append(batches, &r).ok());
    ASSERT_EQ(r.appended, events_.size());
  }  // the journal closes here, before the binary opens it

  std::vector<DecodedRecord> DumpAndDecode(const std::vector<std::string>& extra) {
    std::vector<std::string> args{"journal", "dump", "--config", config_.string(), "--format", "debezium"};
    args.insert(args.end(), extra.begin(), extra.end());
    CliRun r = Handoff(args);
    EXPECT_EQ(r.rc, 0) << r.err;
    EXPECT_EQ(Lines(r.out).size(), events_.size()) << r.out;
    DebeziumDecoder decoder;
    std::vector<DecodedRecord> out;
    Status st = decoder.DecodeAll(r.out, &out);
    EXPECT_TRUE(st.ok()) << st.ToString() << "\n" << r.out;
    return out;
  }

  void ExpectSameRows(const std::vector<DecodedRecord>& got, bool with_types) {
    ASSERT_EQ(got.size(), events_.size());
    for (size_t i = 0; i + 1 < events_.size(); ++i) {
      const ChangeEvent& want = events_[i];
      ASSERT_EQ(got[i].kind, DecodedRecord::Kind::kChange) << i;
      const ChangeEvent& e = got[i].event;
      EXPECT_EQ(e.source, "psa") << i;
      EXPECT_EQ(e.op, want.op) << i;
      EXPECT_EQ(e.schema, "public") << i;
      EXPECT_EQ(e.table, "invoices") << i;
      EXPECT_EQ(e.position, want.position) << i;
      EXPECT_EQ(e.xid, want.xid) << i;
      EXPECT_EQ(e.has_before, want.has_before) << i;
      for (const auto* images : {&want.before, &want.after}) {
        const auto& got_image = images == &want.before ? e.before : e.after;
        ASSERT_EQ(got_image.size(), images->size()) << i;
        for (size_t c = 0; c < images->size(); ++c) {
          EXPECT_EQ(got_image[c].name, (*images)[c].name) << i;
          EXPECT_EQ(got_image[c].kind, (*images)[c].kind) << i;
          EXPECT_EQ(got_image[c].data, (*images)[c].data) << i << " " << (*images)[c].name;
          if (with_types) {
            EXPECT_EQ(got_image[c].type_oid, (*images)[c].type_oid) << i << " " << (*images)[c].name;
          }
        }
      }
    }
    const DecodedRecord& end = got.back();
    EXPECT_EQ(end.kind, DecodedRecord::Kind::kTxnEnd);
    EXPECT_EQ(end.xid, 556u);
    EXPECT_EQ(end.lsn, 0x16E9058u);
    EXPECT_EQ(end.event_count, 5u);
  }

  TempDir dir_;
  fs::path config_;
  std::vector<ChangeEvent> events_;
};

TEST_F(JournalDumpDebeziumTest, PayloadOnlyDecodesBackToTheJournaledEvents) {
  ExpectSameRows(DumpAndDecode({}), /*with_types=*/false);
}

TEST_F(JournalDumpDebeziumTest, WithSchemaKeepsTypes) {
  ExpectSameRows(DumpAndDecode({"--with-schema"}), /*with_types=*/true);
}

TEST_F(JournalDumpDebeziumTest, FromSeqAndLimitSelectEntries) {
  CliRun r = Handoff(
      {"journal", "dump", "--config", config_.string(), "--format", "debezium", "--from-seq", "2", "--limit", "2"});
  ASSERT_EQ(r.rc, 0) << r.err;
  DebeziumDecoder decoder;
  std::vector<DecodedRecord> out;
  ASSERT_TRUE(decoder.DecodeAll(r.out, &out).ok());
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(out[0].event.position, events_[1].position);
  EXPECT_EQ(out[1].event.op, Op::kUpdate);
}

TEST_F(JournalDumpDebeziumTest, WithSchemaNeedsDebeziumFormat) {
  CliRun r = Handoff({"journal", "dump", "--config", config_.string(), "--with-schema"});
  EXPECT_EQ(r.rc, 2);
  EXPECT_NE(r.err.find("--with-schema"), std::string::npos) << r.err;
}

// A stopped engine's `status --json` quotes what the configuration names: a
// journal path and a source name with a quote and a backslash stay valid JSON.
TEST(StatusJsonTest, NamesAndPathsWithQuotesAreEscaped) {
  TempDir dir;
  ASSERT_FALSE(dir.path().empty());
  const std::string journal = (dir.path() / "jour\"nal\\x").string();
  const std::string source = "crm\"\\b";
  {
    JournalOptions o;
    o.path = journal;
    o.map_size = 1 << 20;
    ASSERT_TRUE(Journal::Open(o).ok());
  }  // the journal closes before the binary opens it
  dir.Write("events.json", "");
  fs::path config = dir.Write(
      "handoff.yaml", "journal: { path: '" + journal + "' }\nsources:\n  - { name: '" + source +
                          "', kind: debezium, file: " + (dir.path() / "events.json").string() + " }\n");
  CliRun r = Handoff({"status", "--config", config.string(), "--json"});
  ASSERT_EQ(r.rc, 0) << r.err;
  simdjson::dom::parser parser;
  simdjson::dom::element doc;
  ASSERT_EQ(parser.parse(r.out).get(doc), simdjson::SUCCESS) << r.out;
  EXPECT_EQ(Str(doc["journal"], "path"), journal) << r.out;
  simdjson::dom::array sources;
  ASSERT_EQ(doc["sources"].get_array().get(sources), simdjson::SUCCESS) << r.out;
  ASSERT_EQ(sources.size(), 1u);
  EXPECT_EQ(Str(sources.at(0), "name"), source) << r.out;
}

}  // namespace
}  // namespace handoff
