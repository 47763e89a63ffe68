// Replays the fuzz entries of fuzz_entries.h in the normal build: the seeds
// in tests/fuzz/corpus/, the inputs that once broke a decoder (regressions/,
// one file each, named after the fix), the project's own sample files, and
// deterministic mutations of all of them. A broken invariant aborts the test
// binary with the entry's message.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <random>
#include <string>
#include <vector>

#include "fuzz_entries.h"
#include "handoff/engine/config.h"
#include "payload_decoder.h"
#include "test_data.h"

namespace handoff::fuzz {
namespace {

using Entry = int (*)(const uint8_t*, size_t);

std::filesystem::path FuzzDir() { return std::filesystem::path(HANDOFF_SOURCE_DIR) / "tests" / "fuzz"; }

std::string Read(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

// Every regular file of `dir`, sorted; none when it is absent.
std::vector<std::string> Files(const std::filesystem::path& dir) {
  std::vector<std::filesystem::path> paths;
  std::error_code ec;
  for (const auto& e : std::filesystem::directory_iterator(dir, ec))
    if (e.is_regular_file()) paths.push_back(e.path());
  std::sort(paths.begin(), paths.end());
  std::vector<std::string> out;
  for (const auto& p : paths) out.push_back(Read(p));
  return out;
}

void RunEntry(Entry entry, const std::string& s) { entry(reinterpret_cast<const uint8_t*>(s.data()), s.size()); }

// Byte-level edits like a fuzzer's: flips, cuts, inserted tokens, copies
// within the input, splices of two seeds.
void Mutate(Entry entry, const std::vector<std::string>& seeds, const std::vector<std::string>& tokens, int count,
            uint64_t seed) {
  std::mt19937_64 rng(seed);
  for (int i = 0; i < count; ++i) {
    std::string s = seeds[rng() % seeds.size()];
    int edits = 1 + static_cast<int>(rng() % 4);
    for (int e = 0; e < edits && !s.empty(); ++e) {
      size_t at = rng() % s.size();
      switch (rng() % 6) {
        case 0: s[at] = static_cast<char>(rng()); break;
        case 1: s.erase(at, 1 + rng() % 8); break;
        case 2: s.insert(at, tokens[rng() % tokens.size()]); break;
        case 3: s.resize(at); break;
        case 4: s += seeds[rng() % seeds.size()].substr(0, rng() % 64); break;
        default: s.insert(at, s.substr(rng() % s.size(), rng() % 32)); break;
      }
    }
    RunEntry(entry, s);
  }
}

struct Target {
  const char* name;
  Entry entry;
  std::vector<std::string> tokens;
};

std::vector<std::string> Seeds(const char* name) {
  std::vector<std::string> seeds = Files(FuzzDir() / "corpus" / name);
  for (std::string& r : Files(FuzzDir() / "regressions" / name)) seeds.push_back(std::move(r));
  return seeds;
}

void ReplayAndMutate(const Target& t, std::vector<std::string> extra = {}) {
  std::vector<std::string> seeds = Seeds(t.name);
  ASSERT_FALSE(seeds.empty()) << "no seeds in tests/fuzz/corpus/" << t.name;
  for (std::string& e : extra) seeds.push_back(std::move(e));
  for (const std::string& s : seeds) RunEntry(t.entry, s);
  RunEntry(t.entry, "");
  Mutate(t.entry, seeds, t.tokens, 20000, 20240611);
}

TEST(FuzzReplayTest, PgOutput) {
  ReplayAndMutate({"pgoutput", PgOutputFuzzOne,
                   {kPgOutputSeparator, std::string("\0", 1), "\xff\xff\xff\xff", "R", "I", "U", "D", "T", "K", "O", "N",
                    "t", "n", "u", "b", std::string("\0\0\0\x01", 4), std::string("\0\x01", 2)}});
}

TEST(FuzzReplayTest, IntakeWire) {
  ReplayAndMutate({"intake_wire", IntakeWireFuzzOne,
                   {"\x01\x02", "\x01\x01", "\x80", "\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01", std::string("\0", 1),
                    "\x02", "\x07", "\x03psa"}});
}

TEST(FuzzReplayTest, Webhook) {
  // The sample deliveries of tests/data/webhooks in every mode, headers none.
  std::vector<std::string> extra;
  for (const std::string& body : Files(testing::OwnDataDir("webhooks")))
    for (char mode = 0; mode < 8; ++mode) extra.push_back(std::string(1, mode) + "\n\n" + body);
  for (const std::string& body : Files(testing::OwnDataDir("debezium"))) extra.push_back(std::string(1, 0) + "\n\n" + body);
  ReplayAndMutate({"webhook", WebhookFuzzOne,
                   {"{", "}", "[", "]", "\"", ",", ":", "null", "1e999", "-9223372036854775809", "9223372036854775807",
                    "\\u0000", "\n\n", "\n", "v1,", "t=", "sha256=", "=", "\"commitTimestamp\":", "\"created_at\":",
                    "\"2024-13-45T99:99:99.9999999-99:99\"", "\"payload\":", "\"ChangeEventHeader\":"}},
                  std::move(extra));
}

TEST(FuzzReplayTest, Config) {
  ReplayAndMutate({"config", ConfigFuzzOne,
                   {"\n", ": ", "- ", "{", "}", "[", "]", "&a ", "*a", "!!binary ", "${HOME}", "${X", "'", "\"", "\\",
                    "password=", " dbname=", "postgresql://", "99999999999999999999", "GiB", "d", "tcp://", "?", "|\n"}});
}

// Regressions: what the fixed decoders now do with the inputs that broke them
// (each input is also a file in regressions/, replayed above).

webhook::DecodedDelivery DecodeRegression(webhook::PayloadFormat format, const char* file, Status* st) {
  std::string in = Read(FuzzDir() / "regressions" / "webhook" / file);
  size_t body = in.find("\n\n");
  webhook::PayloadDecoder decoder(format, "hook");
  webhook::DecodedDelivery d;
  *st = decoder.Decode(std::string_view(in).substr(body + 2), false, &d);
  return d;
}

// A commitTimestamp near INT64_MAX ms overflowed the µs conversion (UBSan:
// signed overflow); it is refused now.
TEST(FuzzReplayTest, SalesforceCommitTimestampOutOfRangeIsRefused) {
  Status st;
  DecodeRegression(webhook::PayloadFormat::kSalesforce, "salesforce-commit-timestamp-overflow", &st);
  EXPECT_EQ(st.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(st.message().find("commitTimestamp"), std::string::npos) << st.message();
}

// created_at "9999-99-99T99:99:99Z" (or a field with a sign) overflowed the
// µs count; an out-of-range field makes the time unparsable (0), as any other
// unparsable created_at.
TEST(FuzzReplayTest, TogglCreatedAtOutOfRangeIsNoTime) {
  for (const char* file : {"toggl-created-at-month-99", "toggl-created-at-negative-month"}) {
    Status st;
    webhook::DecodedDelivery d = DecodeRegression(webhook::PayloadFormat::kToggl, file, &st);
    ASSERT_TRUE(st.ok()) << file << ": " << st.ToString();
    ASSERT_EQ(d.events.size(), 1u) << file;
    EXPECT_EQ(d.events[0].commit_time_us, 0) << file;
  }
}

// Values of 200,000 bytes overflowed the stack inside std::regex (a SIGSEGV
// out of ParseConfig); they are a listed problem now. Built here rather than
// kept as files, which would set the fuzzer's input length to their size.
TEST(FuzzReplayTest, ConfigValuesTooLongForTheRegexesAreAProblem) {
  const std::string big(200000, 'a');
  const std::string digits(200000, '1');
  const std::string configs[] = {
      "journal: {path: /j}\nsources:\n  - {name: w, kind: webhook, listen: \"" + big +
          ":80\", format: toggl, signature: none}\n",
      "journal: {path: \"${" + big + "}\"}\n",
      "journal: {path: /j, map_size: \"" + digits + "\"}\n",
      "journal: {path: /j}\nsources:\n  - {name: p, kind: postgres, tables: [a.b], dsn: \"postgresql://h/${" + big +
          "}\"}\n",
  };
  for (const std::string& text : configs) {
    RunEntry(ConfigFuzzOne, text);
    Result<Config> c = ParseConfig(text, "big.yaml");
    ASSERT_FALSE(c.ok());
    EXPECT_NE(c.status().message().find("is longer than 8192 bytes"), std::string::npos) << c.status().message();
  }
  // At the limit a value is still read.
  Result<Config> c = ParseConfig("journal: {path: \"/" + std::string(8191, 'j') + "\"}\n", "limit.yaml");
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->journal_path.size(), 8192u);
}

}  // namespace
}  // namespace handoff::fuzz
