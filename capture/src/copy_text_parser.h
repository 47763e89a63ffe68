// CopyTextParser: splits one row of PostgreSQL COPY text format into fields
// and undoes its escapes (\N, \\, \t, \n, \r, \b, \f, \v, \ooo octal, \xhh hex).
//
// Thread-safety: stateless functions.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "handoff/engine/status.h"

namespace handoff {

// Parses `line` (one COPY text row, with or without its trailing newline)
// into `fields`; std::nullopt is SQL NULL. Fails with kCorruption on a
// dangling backslash.
Status ParseCopyTextRow(std::string_view line, std::vector<std::optional<std::string>>* fields);

}  // namespace handoff
