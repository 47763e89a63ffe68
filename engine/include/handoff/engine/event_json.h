// JSON renderings of events and images, for `journal dump`, exception images
// and logs. Values keep their exact text form; NULL is null and an unchanged
// TOAST value is {"unchanged_toast":true}.
// Thread-safety: stateless functions.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "handoff/engine/change_event.h"

namespace handoff {

// Appends s as a JSON string literal (quoted, escaped; invalid UTF-8 bytes as \ufffd).
void AppendJsonString(std::string* out, std::string_view s);
// {"col": "text", ...}
std::string ImageToJson(const std::vector<Column>& image);
// One line describing the whole journaled event.
std::string EntryToJson(const JournalEntry& entry);

}  // namespace handoff
