// Where tests find their input files. The project's own data lives under
// tests/data/ and is always there. An external corpus of payloads captured
// from public sources may sit beside the checkout (../shared/corpus/); tests
// that read it skip when it is absent, so a fresh clone passes on its own
// data alone. HANDOFF_CORPUS_DIR overrides where the external corpus is looked
// for (point it at a missing directory to run the way a fresh clone does).
// Thread-safety: free functions over the file system; no state.
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <system_error>
#include <vector>

namespace handoff::testing {

// tests/data/<sub> in the source tree.
inline std::filesystem::path OwnDataDir(const std::string& sub) {
  return std::filesystem::path(HANDOFF_SOURCE_DIR) / "tests" / "data" / sub;
}

// <corpus root>/<sub>, the root being $HANDOFF_CORPUS_DIR or ../shared/corpus.
inline std::filesystem::path ExternalCorpusDir(const std::string& sub) {
  const char* root = std::getenv("HANDOFF_CORPUS_DIR");
  std::filesystem::path base = root != nullptr && *root != '\0'
                                   ? std::filesystem::path(root)
                                   : std::filesystem::path(HANDOFF_SOURCE_DIR) / ".." / "shared" / "corpus";
  return base / sub;
}

inline bool ExternalCorpusPresent(const std::string& sub) {
  std::error_code ec;
  return std::filesystem::is_directory(ExternalCorpusDir(sub), ec);
}

// The whole file; empty when it cannot be read.
inline std::string ReadDataFile(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

// The *.json files of `dir`, sorted; none when `dir` is absent.
inline std::vector<std::filesystem::path> JsonFilesIn(const std::filesystem::path& dir) {
  std::vector<std::filesystem::path> files;
  std::error_code ec;
  for (std::filesystem::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    if (it->path().extension() == ".json") files.push_back(it->path());
  }
  std::sort(files.begin(), files.end());
  return files;
}

}  // namespace handoff::testing

// Skips the running test, saying why, when the external corpus `sub`
// (debezium, webhooks) is not present.
#define HANDOFF_SKIP_WITHOUT_CORPUS(sub)                                                      \
  if (::handoff::testing::ExternalCorpusPresent(sub)) {                                       \
  } else                                                                                      \
    GTEST_SKIP() << "external corpus " << ::handoff::testing::ExternalCorpusDir(sub).string() \
                 << " not present; skipping corpus cases"
