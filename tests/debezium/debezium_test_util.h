// Helpers for the Debezium codec tests: the project's own sample events
// (tests/data/debezium), the optional external corpus, and column lookup.
#pragma once

#include <gtest/gtest.h>

#include <filesystem>
#include <string>
#include <vector>

#include "handoff/capture/debezium.h"
#include "test_data.h"

namespace handoff::testing {

inline std::string ReadFile(const std::filesystem::path& p) { return ReadDataFile(p); }

// The project's own sample events.
inline std::vector<std::filesystem::path> OwnFiles() { return JsonFilesIn(OwnDataDir("debezium")); }

inline std::string OwnFile(const std::string& name) {
  std::filesystem::path p = OwnDataDir("debezium") / name;
  std::string text = ReadDataFile(p);
  if (text.empty()) ADD_FAILURE() << "own test file missing or empty: " << p;
  return text;
}

// The external corpus (none when it is absent: tests using it skip first).
inline std::filesystem::path CorpusDir() { return ExternalCorpusDir("debezium"); }
inline std::vector<std::filesystem::path> CorpusFiles() { return JsonFilesIn(CorpusDir()); }

inline std::string CorpusFile(const std::string& suffix) {
  for (const auto& f : CorpusFiles()) {
    std::string name = f.filename().string();
    if (name.size() >= suffix.size() && name.compare(name.size() - suffix.size(), suffix.size(), suffix) == 0) {
      return ReadFile(f);
    }
  }
  ADD_FAILURE() << "corpus file not found: " << suffix;
  return {};
}

inline const Column* Find(const std::vector<Column>& cols, const std::string& name) {
  for (const Column& c : cols) {
    if (c.name == name) return &c;
  }
  return nullptr;
}

// Decodes `json`, which must hold exactly one record.
inline DecodedRecord DecodeOne(const std::string& json) {
  DebeziumDecoder d;
  std::vector<DecodedRecord> out;
  Status st = d.DecodeAll(json, &out);
  EXPECT_TRUE(st.ok()) << st.ToString();
  EXPECT_EQ(out.size(), 1u);
  return out.empty() ? DecodedRecord{} : out[0];
}

}  // namespace handoff::testing
