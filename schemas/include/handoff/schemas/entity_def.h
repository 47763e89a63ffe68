// EntityDef and FieldDef: a canonical entity as declared in a pack's
// entities/*.yaml (name, key, typed fields, validation rules, xref systems).
//
// Thread-safety: plain values; immutable once loaded into a Model.
#pragma once

#include <optional>
#include <string>
#include <vector>

namespace handoff::schemas {

enum class FieldType { kString, kText, kInt64, kDecimal, kMoney, kDate, kInstant, kBool, kEnum, kRef };
// "string", "decimal", ...; nullopt for an unknown name.
std::optional<FieldType> ParseFieldType(const std::string& name);
const char* FieldTypeName(FieldType type);

// Where a definition came from, for messages ("entities/customer.yaml:12").
struct SourceLocation {
  std::string file;
  int line = 0;
  std::string ToString() const { return file + ":" + std::to_string(line); }
};

// A condition on one canonical field: `equals` (the after image holds value)
// or `becomes` (the after image holds value and the before image did not).
struct Condition {
  enum class Kind { kEquals, kBecomes };
  std::string field;
  Kind kind = Kind::kEquals;
  std::string value;
  SourceLocation at;
};

struct FieldDef {
  std::string name;
  FieldType type = FieldType::kString;
  bool required = false;
  int scale = -1;                         // decimal/money: digits after the point; -1 = as given
  std::string currency_field;             // money: the sibling field holding the ISO 4217 code
  std::vector<std::string> enum_values;   // enum: the allowed values
  std::string ref_entity;                 // ref: the referenced entity
  bool ref_must_exist = true;             // ref: the referenced entity must be known (lookup)
  std::optional<Condition> ref_active_when;  // ref: a field of the referenced entity that marks it active
  std::optional<std::string> min, max;    // int64/decimal/money/date/instant: inclusive bounds (canonical text)
  size_t max_length = 0;                  // string/text: bound in characters (UTF-8); 0 = none
  std::string description;
  SourceLocation at;
};

// A rule across two fields of one entity: `field` must not be before/less than `other`.
struct OrderRule {
  std::string field;
  std::string not_before;
  SourceLocation at;
};

struct EntityDef {
  // How the canonical key is formed. kXref: "<entity>:<system>:<id>" from the
  // originating system's id (or the xref a mapping names). kNatural:
  // "<entity>:<v1>/<v2>" from key_fields; a ref field contributes the
  // referenced key without its "<entity>:" prefix ("task:PRJ-1000/T1").
  enum class KeyKind { kXref, kNatural };

  std::string name;
  std::string description;
  KeyKind key_kind = KeyKind::kXref;
  std::vector<std::string> key_fields;    // kNatural
  std::vector<FieldDef> fields;           // in declaration order
  std::vector<std::string> xref_systems;  // systems that may hold this entity
  std::vector<OrderRule> order_rules;
  // `parent: <ref field>`: the entity this one belongs to (a time entry's
  // project). Steps about an entity are filed under the root of its chain.
  std::string parent;
  SourceLocation at;

  const FieldDef* Find(const std::string& field) const {
    for (const auto& f : fields) {
      if (f.name == field) return &f;
    }
    return nullptr;
  }
};

}  // namespace handoff::schemas
