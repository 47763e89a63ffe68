// ExprEvaluator: evaluates a mapping Expr over one input (a source row image
// or canonical fields). Values are text; NULL and "unknown" (column absent or
// unchanged TOAST: the field is left out) are distinct.
//
// Thread-safety: not shared; one evaluator per mapping call.
#pragma once

#include <functional>
#include <optional>
#include <string>

#include "handoff/schemas/entity_def.h"
#include "handoff/schemas/mapping_def.h"
#include "handoff/schemas/model.h"

namespace handoff::schemas {

struct Value {
  bool known = true;
  std::optional<std::string> text;  // nullopt = NULL
  uint32_t oid = 0;                 // PostgreSQL type of a source column, when known
  static Value Unknown() { return Value{false, std::nullopt, 0}; }
  static Value Null() { return Value{}; }
  static Value Of(std::string s, uint32_t oid = 0) { return Value{true, std::move(s), oid}; }
};

class ExprEvaluator {
 public:
  using InputFn = std::function<Value(const std::string& name)>;

  // `entity` is the mapping's entity; `lookup` may be empty (lookups miss);
  // `context` is for target expressions (key, xref, ref) and may be null.
  ExprEvaluator(InputFn input, const std::map<std::string, EntityDef>& entities, const EntityDef& entity,
                const LookupFn* lookup, const TargetContext* context)
      : input_(std::move(input)), entities_(entities), entity_(entity), lookup_(lookup), context_(context) {}

  // InvalidArgument for a value that cannot be converted; NotFound for a failed lookup.
  Result<Value> Eval(const Expr& e) const;

 private:
  std::optional<EntityRecord> Lookup(const std::string& entity, const Xref& ref) const;

  InputFn input_;
  const std::map<std::string, EntityDef>& entities_;
  const EntityDef& entity_;
  const LookupFn* lookup_;
  const TargetContext* context_;
};

}  // namespace handoff::schemas
