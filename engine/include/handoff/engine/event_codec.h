// Versioned binary encoding of ChangeEvent; the format is specified in
// engine/src/event_format.md.
//
// Thread-safety: stateless functions.
#pragma once

#include <string>
#include <string_view>

#include "handoff/engine/change_event.h"
#include "handoff/engine/status.h"

namespace handoff {

inline constexpr uint8_t kEventFormatVersion = 2;  // DecodeEvent also reads version 1
// The shortest record either version can have (version 1: 4 header bytes, 5
// varints, 6 empty strings, 3 zero counts); decoders bound peer-given counts by it.
inline constexpr size_t kMinEventRecordBytes = 18;

// Appends the encoding of `event` (journaled at `journaled_at_us`) to `*out`.
void EncodeEvent(const ChangeEvent& event, int64_t journaled_at_us, std::string* out);

// Decodes one encoded event. Fails with kCorruption on a truncated or
// malformed record and names what is wrong.
Status DecodeEvent(std::string_view in, ChangeEvent* event, int64_t* journaled_at_us);

}  // namespace handoff
