// JSON renderings of events and images, for `journal dump`, exception images
// and logs. Values keep their exact text form; NULL is null and an unchanged
// TOAST value is {"unchanged_toast":true}.
// Thread-safety: stateless functions.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "handoff/engine/change_event.h"
#include "handoff/engine/json_text.h"

namespace handoff {

// Offset of the first byte of s that does not start a well-formed UTF-8
// sequence (overlong forms, surrogates and code points above U+10FFFF are not
// well formed), or std::string_view::npos when s is valid UTF-8. PostgreSQL
// refuses exactly these bytes in a UTF8 database (SQLSTATE 22021).
size_t FirstInvalidUtf8(std::string_view s);
// {"col": "text", ...}
std::string ImageToJson(const std::vector<Column>& image);
// One line describing the whole journaled event.
std::string EntryToJson(const JournalEntry& entry);

}  // namespace handoff
