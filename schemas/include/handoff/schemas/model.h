// Model: the canonical entities and per-system mappings of a schema pack
// (YAML, loaded once at start), and the pure functions that use them:
// source row -> EntityChange, canonical fields -> target row, validation.
//
// A platform team adds a field or a table mapping by editing the pack's YAML;
// nothing is compiled. See schemas/pack/README.md for the file format.
//
// Thread-safety: immutable after LoadModel; const methods may run concurrently
// (provided the LookupFn passed in is itself safe to call concurrently).
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "handoff/engine/change_event.h"
#include "handoff/engine/entity_change.h"
#include "handoff/engine/status.h"
#include "handoff/schemas/entity_def.h"
#include "handoff/schemas/mapping_def.h"

namespace handoff::schemas {

// A canonical entity as the caller (the engine's entity state) knows it.
struct EntityRecord {
  std::string key;           // canonical key, e.g. "consultant:psa:7"
  FieldMap fields;           // canonical fields
  std::vector<Xref> xrefs;   // its ids in the systems
  bool deleted = false;      // tombstone
};

// Finds a canonical entity of type `entity`:
//  - by xref when ref.system is non-empty ({"psa", "consultants", "7"});
//  - by canonical key when ref.system is empty (ref.id = "consultant:psa:7").
// Returns nullopt when unknown. Must not throw. Used by `lookup` / `ref`
// expressions, KeySpec::kLookup and reference validation.
using LookupFn = std::function<std::optional<EntityRecord>(const std::string& entity, const Xref& ref)>;

// A lookup that knows nothing (every lookup misses).
LookupFn NoLookup();

// One column of a target row: PostgreSQL text (NULL = nullopt) and its type.
struct TargetColumn {
  std::string name;
  std::optional<std::string> value;
  uint32_t type_oid = 0;  // pg_oid::kText, kNumeric, kDate, kTimestamptz, kBool, kInt8
  bool operator==(const TargetColumn&) const = default;
};

// What to write to one target table (or HTTP resource).
struct TargetRow {
  std::string system;
  std::string schema, table;  // database target
  std::string resource;       // HTTP target (then schema/table are empty)
  Op op = Op::kUpdate;        // from the change (MapChange); kUpdate for MapTarget (an upsert)
  std::vector<std::string> key_columns;  // always present in `columns`, never NULL
  std::vector<TargetColumn> columns;     // in mapping order; a column whose input is unknown is omitted
  const TargetColumn* Find(const std::string& name) const;
};

// Extra context for target mapping: the entity's key, its xrefs and a lookup
// for `ref` expressions. Without it, key/xref/ref columns have no value.
struct TargetContext {
  std::string key;
  std::vector<Xref> xrefs;
  LookupFn lookup;
};

// One failed validation rule, in words a finance user understands.
struct ValidationProblem {
  std::string field;   // canonical field ("" for the whole entity)
  std::string rule;    // "required", "type", "range", "enum", "currency", "length", "ref_missing", "ref_inactive", "order"
  std::string reason;  // "hours 25.00 is above the maximum 24"
  bool operator==(const ValidationProblem&) const = default;
};

// Fields as Validate reads them, without a copy into one FieldMap (an entity
// as it would be after a change: its stored fields under the change's).
struct FieldView {
  // The value of `field` (nullopt inside = NULL); nullptr when absent.
  std::function<const std::optional<std::string>*(const std::string& field)> find;
  // Calls `f` once for every field name present.
  std::function<void(const std::function<void(const std::string&)>& f)> each;
};

class Model {
 public:
  Model() = default;

  // Maps a source row change of `system` to its canonical change. nullopt when
  // the event carries no row (commit, truncate, message), the table is listed
  // under `ignore`, or the mapping's `when` rejects it. Errors: NotFound for an
  // unknown system or an unmapped table; InvalidArgument for a value the
  // mapping cannot convert or a key it cannot form; NotFound for a failed
  // lookup (a reference to something handoff does not know yet). Fields whose
  // inputs are absent or unchanged TOAST are left out of before/after.
  Result<std::optional<EntityChange>> MapSource(const ChangeEvent& ev, const std::string& system,
                                                const LookupFn& lookup) const;

  // Maps canonical fields of `entity` to `system`'s row (PostgreSQL text).
  // Fields absent from `fields` leave their columns out; a field present as
  // nullopt writes NULL. Ignores `when`. Errors: NotFound when `system` holds
  // no such entity; InvalidArgument when a key column has no value or a value
  // cannot be converted.
  Result<TargetRow> MapTarget(const std::string& entity, const FieldMap& fields, const std::string& system) const;
  Result<TargetRow> MapTarget(const std::string& entity, const FieldMap& fields, const std::string& system,
                              const TargetContext& context) const;

  // Maps a canonical change to `system`'s row: uses change.key, change.xrefs
  // and `lookup` as the TargetContext, evaluates the target's `when` against
  // change.before/after (nullopt when rejected), and takes a delete's values
  // from `before` (op kDelete). Errors as MapTarget.
  Result<std::optional<TargetRow>> MapChange(const EntityChange& change, const std::string& system,
                                             const LookupFn& lookup) const;

  // Checks canonical fields of `entity` against its rules: required, types,
  // ranges, enum membership, money currency, length, field order, and
  // references that must exist (and be active) via `lookup`. Empty = valid.
  // An unknown entity is one problem with rule "entity".
  std::vector<ValidationProblem> Validate(const std::string& entity, const FieldMap& fields,
                                          const LookupFn& lookup) const;
  std::vector<ValidationProblem> ValidateView(const std::string& entity, const FieldView& fields,
                                              const LookupFn& lookup) const;

  // Canonical-field conversion of a raw value (PostgreSQL text) for
  // entity.field; InvalidArgument with a readable reason when impossible.
  Result<std::string> ToCanonical(const std::string& entity, const std::string& field, const std::string& text,
                                  uint32_t type_oid = 0) const;

  const EntityDef* FindEntity(const std::string& name) const;
  // The ref field naming the entity `entity` belongs to (its `parent:`), NULL
  // for a root or an unknown entity. The loader refuses chains that loop.
  const FieldDef* ParentRef(const std::string& entity) const;
  const std::map<std::string, EntityDef>& entities() const { return entities_; }
  // Every source mapping, keyed "system/schema.table".
  const std::map<std::string, SourceMapping>& sources() const { return sources_; }
  // NULL when absent. `table` is "schema.table" or "table" (schema public).
  const SourceMapping* FindSource(const std::string& system, const std::string& table) const;
  const TargetMapping* FindTarget(const std::string& entity, const std::string& system) const;
  // Systems that have a source or target mapping.
  std::set<std::string> Systems() const;
  // The systems `entity` is written to, sorted.
  const std::vector<std::string>& TargetSystems(const std::string& entity) const;
  // Canonical fields `system` holds for `entity` (read by its target mapping or its `when`), sorted.
  const std::vector<std::string>& FieldsHeldBy(const std::string& entity, const std::string& system) const;

 private:
  friend class ModelLoader;
  std::map<std::string, EntityDef> entities_;
  std::map<std::string, SourceMapping> sources_;       // "system/schema.table"
  std::map<std::string, TargetMapping> targets_;       // "entity/system"
  std::map<std::string, std::set<std::string>> ignored_;  // system -> "schema.table"
  std::map<std::string, std::vector<std::string>> target_systems_;  // entity -> systems, sorted
};

// Loads every *.yaml under `dir` (recursively, in path order): files with a
// top-level `entity:` define one entity; files with `system:` hold that
// system's `sources:`, `targets:` and `ignore:`. Every problem is reported:
// InvalidArgument whose message has one "file:line: reason" per line (file
// relative to dir). NotFound when dir does not exist or holds no *.yaml.
Result<Model> LoadModel(const std::string& dir);

}  // namespace handoff::schemas
