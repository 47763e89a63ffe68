// Model::MapTarget and Model::MapChange: canonical fields -> a target row.
#include <algorithm>

#include "expr_evaluator.h"
#include "field_codec.h"
#include "handoff/schemas/model.h"
#include "model_loader.h"

namespace handoff::schemas {

const TargetColumn* TargetRow::Find(const std::string& name) const {
  for (const auto& c : columns) {
    if (c.name == name) return &c;
  }
  return nullptr;
}

Result<TargetRow> Model::MapTarget(const std::string& entity, const FieldMap& fields, const std::string& system) const {
  return MapTarget(entity, fields, system, TargetContext{});
}

Result<TargetRow> Model::MapTarget(const std::string& entity, const FieldMap& fields, const std::string& system,
                                   const TargetContext& context) const {
  const TargetMapping* m = FindTarget(entity, system);
  if (!m) return Status::NotFound("system '" + system + "' has no target mapping for " + HumanName(entity));
  const EntityDef& def = entities_.at(entity);
  // Only an error names the row.
  auto subject = [&] {
    return HumanName(entity) + (context.key.empty() ? "" : " " + context.key) + " -> " + system + "." +
           (m->table.empty() ? m->resource : m->table);
  };

  // Canonical inputs: normalized to their field's canonical form first, so a
  // "1.5" for a scale-2 field writes "1.50" and garbage fails here. In the
  // key order of `fields`, looked up by binary search.
  std::vector<std::pair<const std::string*, Value>> inputs;
  inputs.reserve(fields.size());
  for (const auto& [name, value] : fields) {
    const FieldDef* f = def.Find(name);
    if (!f) continue;  // not a field of the entity: ignored
    if (!value) {
      inputs.emplace_back(&name, Value::Null());
      continue;
    }
    auto c = FieldCodec::ToCanonical(*f, *value);
    if (!c.ok()) return Status::InvalidArgument(subject() + ": " + HumanName(name) + " " + c.status().message());
    inputs.emplace_back(&name, Value::Of(std::move(*c)));
  }
  auto find_input = [&](const std::string& n) -> const Value* {
    auto it = std::lower_bound(inputs.begin(), inputs.end(), n,
                               [](const auto& in, const std::string& k) { return *in.first < k; });
    return it == inputs.end() || *it->first != n ? nullptr : &it->second;
  };
  ExprEvaluator eval(
      [&](const std::string& n) {
        const Value* v = find_input(n);
        return v ? *v : Value::Unknown();
      },
      entities_, def, nullptr, &context);

  TargetRow row;
  row.system = system;
  row.schema = m->schema;
  row.table = m->table;
  row.resource = m->resource;
  row.key_columns = m->key_columns;
  row.columns.reserve(m->columns.size());
  for (size_t i = 0; i < m->columns.size(); ++i) {
    const auto& [col, expr] = m->columns[i];
    const TargetMapping::ColumnPlan p = i < m->plan.size() ? m->plan[i] : TargetMapping::ColumnPlan{};
    if (p.direct) {
      // A bare field: its normalized input as it is, converted to PostgreSQL text.
      const Value* v = find_input(expr.name);
      if (p.key && (v == nullptr || !v->text)) {
        return Status::InvalidArgument(subject() + ": key column " + col + " of " +
                                       (m->table.empty() ? m->resource : m->schema + "." + m->table) +
                                       " has no value (the " + HumanName(entity) + " is not yet known there)");
      }
      if (v == nullptr) continue;
      TargetColumn tc{col, std::nullopt, FieldCodec::PgOid(p.type)};
      if (v->text) tc.value = FieldCodec::CanonicalToPg(p.type, *v->text);
      row.columns.push_back(std::move(tc));
      continue;
    }
    auto v = eval.Eval(expr);
    if (!v.ok()) return Status(v.status().code(), subject() + ": column " + col + ": " + v.status().message());
    if (p.key && (!v->known || !v->text)) {
      return Status::InvalidArgument(subject() + ": key column " + col + " of " +
                                     (m->table.empty() ? m->resource : m->schema + "." + m->table) +
                                     " has no value (the " + HumanName(entity) + " is not yet known there)");
    }
    if (!v->known) continue;
    TargetColumn tc{col, std::nullopt, FieldCodec::PgOid(p.type)};
    if (v->text) {
      auto pg = FieldCodec::ToPg(p.type, *v->text);
      if (!pg.ok()) return Status::InvalidArgument(subject() + ": column " + col + ": " + pg.status().message());
      tc.value = std::move(*pg);
    }
    row.columns.push_back(std::move(tc));
  }
  return row;
}

Result<std::optional<TargetRow>> Model::MapChange(const EntityChange& change, const std::string& system,
                                                  const LookupFn& lookup) const {
  const TargetMapping* m = FindTarget(change.entity, system);
  if (!m) return Status::NotFound("system '" + system + "' has no target mapping for " + HumanName(change.entity));
  const bool is_delete = change.op == Op::kDelete;
  const FieldMap& now = is_delete ? change.before : change.after;
  for (const auto& c : m->when) {
    auto it = now.find(c.field);
    if (it == now.end() || !it->second || *it->second != c.value) return std::optional<TargetRow>();
    if (c.kind == Condition::Kind::kBecomes) {
      auto b = change.before.find(c.field);
      if (is_delete || (change.has_before && b != change.before.end() && b->second && *b->second == c.value)) {
        return std::optional<TargetRow>();
      }
    }
  }
  auto row = MapTarget(change.entity, now, system, TargetContext{change.key, change.xrefs, lookup});
  if (!row.ok()) return row.status();
  row->op = change.op;
  return std::optional<TargetRow>(std::move(*row));
}

}  // namespace handoff::schemas
