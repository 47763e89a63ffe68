// Helpers for the Debezium codec tests: corpus access and column lookup.
#pragma once

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "handoff/capture/debezium.h"

namespace handoff::testing {

inline std::filesystem::path CorpusDir() {
  return std::filesystem::path(HANDOFF_SOURCE_DIR) / ".." / "shared" / "corpus" / "debezium";
}

inline std::string ReadFile(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

inline std::vector<std::filesystem::path> CorpusFiles() {
  std::vector<std::filesystem::path> files;
  for (const auto& e : std::filesystem::directory_iterator(CorpusDir())) {
    if (e.path().extension() == ".json") files.push_back(e.path());
  }
  std::sort(files.begin(), files.end());
  return files;
}

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
