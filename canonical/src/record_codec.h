// The length-prefixed text records of the canonical store ("<len>:<bytes>",
// an absent optional "-", a present one "+<len>:<bytes>"), shared by the
// entity state and trace records. canonical_format.md describes them.
//
// Internal to canonical/.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "handoff/conflict/entity_state.h"

namespace handoff {

void PutStr(std::string* out, const std::string& s);
void PutOpt(std::string* out, const std::optional<std::string>& s);
void PutNum(std::string* out, int64_t v);
void PutProv(std::string* out, const conflict::FieldProvenance& p);

// Reads what the Put* functions wrote; `ok` turns false at the first field
// that is not there or not well formed, and stays false.
struct RecordReader {
  const std::string& d;
  size_t i = 0;
  bool ok = true;
  std::string Str();
  std::optional<std::string> Opt();
  int64_t Num();
  conflict::FieldProvenance Prov();
};

}  // namespace handoff
