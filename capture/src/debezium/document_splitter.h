// Splits Debezium input into top-level JSON documents: one document, a
// document per line (NDJSON), or documents simply concatenated. Tracks only
// strings and bracket depth; the JSON parser validates each document.
//
// Thread-safety: not thread-safe; one splitter per input.
#pragma once

#include <cstddef>
#include <string_view>

#include "handoff/engine/status.h"

namespace handoff::dbz {

inline constexpr size_t kMaxJsonDepth = 1024;

class DocumentSplitter {
 public:
  explicit DocumentSplitter(std::string_view input) : in_(input) {}
  // The next document as [*start, *start + *len); *len == 0 at the end.
  // Errors: kInvalidArgument with the byte offset (truncated document,
  // nesting deeper than kMaxJsonDepth, a stray character).
  Status Next(size_t* start, size_t* len);

 private:
  std::string_view in_;
  size_t pos_ = 0;
};

}  // namespace handoff::dbz
