// RowOp: a routed change translated into row operations on one target table,
// columns matched by name and the key taken from the target's primary key.
// The translation is pure: no I/O, no libpq.
//
//   insert, read            -> upsert of the after image
//   update, full image      -> upsert (a missing row is recreated)
//   update, unchanged TOAST -> update of the present columns only
//   update that moves the key (before image with another key):
//       full image          -> delete old key + upsert new image
//       unchanged TOAST     -> move-key update (one UPDATE ... WHERE old key)
//   delete                  -> delete by key
//   truncate                -> truncate
//
// Thread-safety: plain values and stateless functions.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "handoff/engine/change_event.h"
#include "handoff/engine/status.h"
#include "table_catalog.h"

namespace handoff::apply {

// Values of a row, one slot per TableMeta column. A column is present when the
// change carries it (a value or NULL); absent columns keep the target's value.
struct RowImage {
  std::vector<std::optional<std::string>> values;
  std::vector<bool> present;
};

struct RowOp {
  enum class Kind { kDelete, kUpsert, kUpdate, kMoveKey, kTruncate };
  Kind kind = Kind::kUpsert;
  RowImage image;                                   // new image; only key columns for kDelete
  std::vector<std::optional<std::string>> old_key;  // kMoveKey: the old primary-key values
  // Whether this op must be applied on its own (a chunk boundary), not collapsed.
  bool Direct() const { return kind == Kind::kMoveKey || kind == Kind::kTruncate; }
};

// Translates `event` (already routed to `meta`) into row ops appended to *out.
// kPermanent, naming the problem, when the change cannot be applied as is: a
// key column without value, a binary-form value.
Status BuildRowOps(const TableMeta& meta, const ChangeEvent& event, std::vector<RowOp>* out);

// Checks that every value `event` would send to `meta` can be stored there:
// no NUL byte (PostgreSQL text cannot hold one) and, when meta.utf8, valid
// UTF-8 (a UTF8 database refuses anything else with 22021). Looks at the
// after image's columns of the target and the before image's key columns.
// kPermanent naming the column, the table and the offset otherwise; the
// applier parks such a change as `invalid_bytes` before sending anything.
Status CheckStorable(const TableMeta& meta, const ChangeEvent& event);

// A byte string identifying the key of `image` (for collapsing by key).
std::string KeyOf(const TableMeta& meta, const RowImage& image);

// "(id, region)=(42, eu)" for `event`, with the target's key columns when
// `meta` is known, else the event's key columns.
std::string DescribeKey(const TableMeta* meta, const ChangeEvent& event);

// The image as a JSON object: {"col": "text" | null | {"unchanged_toast": true}}.
std::string ImageJson(const std::vector<Column>& columns);

}  // namespace handoff::apply
