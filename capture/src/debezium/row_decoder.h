// Reads the columns of a Debezium row image (a "before"/"after"/key object)
// into Columns in PostgreSQL text form, directed by the row's Connect schema
// when there is one and by the JSON type when there is not.
//
// Thread-safety: not thread-safe (reuses scratch buffers); one per decoder.
#pragma once

#include <simdjson.h>

#include <string>
#include <vector>

#include "debezium/connect_schema.h"
#include "handoff/engine/change_event.h"
#include "handoff/engine/status.h"

namespace handoff::dbz {

class RowDecoder {
 public:
  // Appends one Column per member of `row`. `schema` is the row's struct
  // schema or nullptr (schema-less: string->text, integer->int8,
  // other number->numeric with the literal text, bool, object/array->jsonb).
  // Errors: kInvalidArgument naming the column.
  Status DecodeRow(simdjson::ondemand::object row, const FieldSchema* schema, std::vector<Column>* out);
  // One value into *col (name already set).
  Status DecodeValue(simdjson::ondemand::value v, const FieldSchema* schema, int depth, Column* col);

 private:
  Status DecodeTyped(simdjson::ondemand::value v, simdjson::ondemand::json_type jt, const FieldSchema& s,
                     int depth, Column* col);
  Status DecodeInferred(simdjson::ondemand::value v, simdjson::ondemand::json_type jt, Column* col);
  Status DecodeArray(simdjson::ondemand::value v, const FieldSchema& s, int depth, Column* col);
  Status DecodeVariableScale(simdjson::ondemand::value v, Column* col);

  std::string scratch_;
};

}  // namespace handoff::dbz
