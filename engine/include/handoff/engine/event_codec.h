// Versioned binary encoding of ChangeEvent; the format is specified in
// engine/src/event_format.md.
//
// Thread-safety: stateless functions.
#pragma once

#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "handoff/engine/change_event.h"
#include "handoff/engine/status.h"

namespace handoff {

inline constexpr uint8_t kEventFormatVersion = 2;  // DecodeEvent also reads version 1
// The compact record of the journal: names a shape instead of repeating it.
inline constexpr uint8_t kCompactEventFormatVersion = 3;
// The shortest record either version can have (version 1: 4 header bytes, 5
// varints, 6 empty strings, 3 zero counts); decoders bound peer-given counts by it.
inline constexpr size_t kMinEventRecordBytes = 18;

// Appends the encoding of `event` (journaled at `journaled_at_us`) to `*out`.
void EncodeEvent(const ChangeEvent& event, int64_t journaled_at_us, std::string* out);

// Decodes one encoded event. Fails with kCorruption on a truncated or
// malformed record and names what is wrong.
Status DecodeEvent(std::string_view in, ChangeEvent* event, int64_t* journaled_at_us);

// What the events of one table of one source repeat: source, schema, table,
// key columns and the columns' names and types, as the Relation message of
// pgoutput gives them once. The journal keeps each shape once (its `shapes`
// database) and its compact records (version 3) name it by id.
struct EventShape {
  std::string source, schema, table;
  std::vector<std::string> key_columns;
  std::vector<std::string> names;
  std::vector<uint32_t> oids;

  std::string Encode() const;
  static bool Decode(std::string_view in, EventShape* out);
};

// The encoded shape `event` would be written with (its after image's
// columns, or its before image's when there is no after image); false for an
// event without a table or columns, which is written without one.
bool ShapeKeyOf(const ChangeEvent& event, std::string* key);

// Appends the version 3 encoding of `event`, with `shape` (id `shape_id`)
// or without one (nullptr). Returns false, appending nothing, when a column of
// `event` is not in `shape` with the same type.
bool EncodeCompactEvent(const ChangeEvent& event, int64_t journaled_at_us, uint32_t shape_id, const EventShape* shape,
                        std::string* out);

// The shape with an id, or nullptr when there is none.
using ShapeLookup = std::function<const EventShape*(uint32_t id)>;
// Decodes versions 1 to 3; a version 3 record that names a shape needs `shapes`.
Status DecodeEvent(std::string_view in, ChangeEvent* event, int64_t* journaled_at_us, const ShapeLookup& shapes);

}  // namespace handoff
