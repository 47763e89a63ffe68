// Mapping definitions: how a system's table maps onto a canonical entity
// (SourceMapping) and back (TargetMapping), with a tiny expression set (Expr).
// Declared in a pack's mappings/*.yaml; see schemas/pack/README.md.
//
// Thread-safety: plain values; immutable once loaded into a Model.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "handoff/schemas/entity_def.h"

namespace handoff::schemas {

// One value-producing expression. Not a language: no variables, no loops.
// In a source mapping `kInput` names a column of the change event; in a target
// mapping it names a canonical field.
struct Expr {
  enum class Kind {
    kInput,     // `name` (column or canonical field), optionally with `cast`
    kConst,     // `{const: X}`; `{const: null}` is NULL
    kConcat,    // `{concat: [e...]}`; NULL parts are skipped, all NULL -> NULL
    kLower,     // `{lower: e}` ASCII letters only
    kUpper,     // `{upper: e}`
    kTrim,      // `{trim: e}` ASCII spaces
    kCoalesce,  // `{coalesce: [e...]}` first non-NULL
    kMultiply,  // `{multiply: [e, e], scale: N}` exact; rounds half away from zero to N if given
    kMap,       // `{map: e, values: {from: to}, default: X}` value translation
    kLookup,    // source: `{lookup: {entity, system, object, column, take}}` via LookupFn
    kKeyOf,     // source: `{key_of: entity, xref: {system, object, column}}` or `natural: [e...]`
    kKey,       // target: `{key: true}` the canonical key
    kXref,      // target: `{xref: system}` this entity's id in that system
    kRef,       // target: `{ref: {field, take | xref}}` a field or xref of the referenced entity
  };
  Kind kind = Kind::kInput;
  std::string name;                       // kInput: column/field; kConst: value
  bool is_null = false;                   // kConst: NULL
  std::optional<FieldType> cast;          // kInput: explicit conversion
  std::vector<Expr> args;                 // operands; kKeyOf natural parts
  std::map<std::string, std::string> values;  // kMap
  std::optional<std::string> map_default;     // kMap: value for unlisted input (else an error)
  int scale = -1;                         // kMultiply
  // kLookup / kKeyOf / kXref / kRef
  std::string entity, system, object, column, take, field;
  SourceLocation at;
};

// How a source row's canonical key is derived (beyond the entity's default).
struct KeySpec {
  enum class Kind {
    kDefault,  // entity's own: kXref -> "<entity>:<system>:<id>", kNatural -> from fields
    kXref,     // "<entity>:<xref.system>:<value of column>"
    kLookup,   // key of the entity already holding xref {system, object, value of column}
    kColumn,   // the column holds the canonical key itself (a row handoff wrote)
  };
  Kind kind = Kind::kDefault;
  std::string system, object, column;
  bool fallback_own = false;  // when column is NULL / lookup finds nothing: "<entity>:<system>:<id>"
  SourceLocation at;
};

// An extra xref a source row carries ({system, object, id from column}).
struct XrefSpec {
  std::string system, object, column;
  SourceLocation at;
};

struct SourceMapping {
  std::string system, schema, table, entity;
  std::vector<std::string> id_columns;  // the row's id in this system (xref id; joined by '/')
  KeySpec key;
  std::vector<XrefSpec> xrefs;
  std::vector<std::pair<std::string, Expr>> fields;  // canonical field <- expression
  std::vector<Condition> when;                      // all must hold
  SourceLocation at;
};

struct TargetMapping {
  std::string system, entity;
  std::string schema, table;  // a database table, or
  std::string resource;       // an HTTP resource path ("/v1/customers")
  std::vector<std::string> key_columns;
  std::vector<std::pair<std::string, Expr>> columns;  // column <- expression over canonical fields
  std::map<std::string, FieldType> column_types;     // column -> type of the value written
  std::vector<Condition> when;
  SourceLocation at;
  // Set by the loader, one per entry of `columns`: how a row is built without
  // looking anything up by name.
  struct ColumnPlan {
    FieldType type = FieldType::kString;  // column_types[column]
    bool key = false;                     // among key_columns
    bool direct = false;                  // a bare field of the entity's own type: its value is canonical
  };
  std::vector<ColumnPlan> plan;
  std::vector<std::string> held_fields;  // canonical fields the columns and `when` read, sorted
};

}  // namespace handoff::schemas
