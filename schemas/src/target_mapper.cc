// Model::MapTarget and Model::MapChange: canonical fields -> a target row.
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
  const std::string where = m->table.empty() ? m->resource : m->schema + "." + m->table;
  const std::string subject = HumanName(entity) + (context.key.empty() ? "" : " " + context.key) + " -> " +
                              system + "." + (m->table.empty() ? m->resource : m->table);

  // Canonical inputs: normalized to their field's canonical form first, so a
  // "1.5" for a scale-2 field writes "1.50" and garbage fails here.
  std::map<std::string, Value> inputs;
  for (const auto& [name, value] : fields) {
    const FieldDef* f = def.Find(name);
    if (!f) continue;  // not a field of the entity: ignored
    if (!value) {
      inputs[name] = Value::Null();
      continue;
    }
    auto c = FieldCodec::ToCanonical(*f, *value);
    if (!c.ok()) return Status::InvalidArgument(subject + ": " + HumanName(name) + " " + c.status().message());
    inputs[name] = Value::Of(*c);
  }
  ExprEvaluator eval(
      [&](const std::string& n) {
        auto it = inputs.find(n);
        return it == inputs.end() ? Value::Unknown() : it->second;
      },
      entities_, def, nullptr, &context);

  TargetRow row;
  row.system = system;
  row.schema = m->schema;
  row.table = m->table;
  row.resource = m->resource;
  row.key_columns = m->key_columns;
  for (const auto& [col, expr] : m->columns) {
    auto v = eval.Eval(expr);
    if (!v.ok()) return Status(v.status().code(), subject + ": column " + col + ": " + v.status().message());
    bool is_key = std::find(m->key_columns.begin(), m->key_columns.end(), col) != m->key_columns.end();
    if (is_key && (!v->known || !v->text)) {
      return Status::InvalidArgument(subject + ": key column " + col + " of " + where +
                                     " has no value (the " + HumanName(entity) + " is not yet known there)");
    }
    if (!v->known) continue;
    FieldType type = m->column_types.count(col) ? m->column_types.at(col) : FieldType::kString;
    TargetColumn tc{col, std::nullopt, FieldCodec::PgOid(type)};
    if (v->text) {
      auto pg = FieldCodec::ToPg(type, *v->text);
      if (!pg.ok()) return Status::InvalidArgument(subject + ": column " + col + ": " + pg.status().message());
      tc.value = *pg;
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
