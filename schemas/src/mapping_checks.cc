// Checks that tie mappings to entities: fields, expressions, conditions,
// keys and duplicates. Runs after every file is parsed.
#include <algorithm>

#include "field_codec.h"
#include "model_loader.h"

namespace handoff::schemas {

void ModelLoader::CheckConditions(const std::vector<Condition>& when, const EntityDef& entity) {
  for (const auto& c : when) {
    const FieldDef* f = entity.Find(c.field);
    if (!f) {
      Problem(c.at, "when: '" + c.field + "' is not a field of " + entity.name);
    } else if (f->type == FieldType::kEnum &&
               std::find(f->enum_values.begin(), f->enum_values.end(), c.value) == f->enum_values.end()) {
      Problem(c.at, "when: '" + c.value + "' is not a value of " + entity.name + "." + c.field);
    }
  }
}

void ModelLoader::CheckExpr(const Expr& e, const EntityDef& entity, bool target, const std::string& where) {
  const auto& ents = model_.entities_;
  auto entity_field = [&](const std::string& ent, const std::string& field) {
    auto it = ents.find(ent);
    if (it == ents.end()) {
      Problem(e.at, where + ": unknown entity '" + ent + "'");
      return false;
    }
    if (!field.empty() && !it->second.Find(field)) {
      Problem(e.at, where + ": '" + field + "' is not a field of " + ent);
      return false;
    }
    return true;
  };
  switch (e.kind) {
    case Expr::Kind::kInput:
      if (target) entity_field(entity.name, e.name);
      break;
    case Expr::Kind::kLookup:
      entity_field(e.entity, e.take);
      break;
    case Expr::Kind::kKeyOf:
      if (entity_field(e.entity, "") && e.system.empty()) {
        const EntityDef& k = ents.at(e.entity);
        if (k.key_kind != EntityDef::KeyKind::kNatural || k.key_fields.size() != e.args.size()) {
          Problem(e.at, where + ": key_of " + e.entity + " natural needs " + std::to_string(k.key_fields.size()) +
                            " part(s) matching its natural key");
        }
      }
      break;
    case Expr::Kind::kRef: {
      const FieldDef* f = entity.Find(e.field);
      if (!f || f->type != FieldType::kRef) {
        Problem(e.at, where + ": '" + e.field + "' is not a ref field of " + entity.name);
      } else if (!e.take.empty()) {
        entity_field(f->ref_entity, e.take);
      }
      break;
    }
    default:
      break;
  }
  for (const auto& a : e.args) CheckExpr(a, entity, target, where);
}

namespace {
FieldType ExprType(const Expr& e, const EntityDef& entity, const std::map<std::string, EntityDef>& ents) {
  if (e.cast) return *e.cast;
  switch (e.kind) {
    case Expr::Kind::kInput:
      if (const FieldDef* f = entity.Find(e.name)) return f->type == FieldType::kMoney ? FieldType::kDecimal : f->type;
      break;
    case Expr::Kind::kMultiply:
      return FieldType::kDecimal;
    case Expr::Kind::kCoalesce:
      return e.args.empty() ? FieldType::kString : ExprType(e.args[0], entity, ents);
    case Expr::Kind::kRef:
      if (const FieldDef* f = entity.Find(e.field); f && !e.take.empty()) {
        auto it = ents.find(f->ref_entity);
        if (it != ents.end()) {
          if (const FieldDef* t = it->second.Find(e.take)) return t->type == FieldType::kMoney ? FieldType::kDecimal : t->type;
        }
      }
      break;
    default:
      break;
  }
  return FieldType::kString;
}
void CollectFields(const Expr& e, std::set<std::string>* out) {
  if (e.kind == Expr::Kind::kInput) out->insert(e.name);
  if (e.kind == Expr::Kind::kRef) out->insert(e.field);
  for (const auto& a : e.args) CollectFields(a, out);
}

// The per-column plan and the held fields of a checked target mapping.
void PlanTarget(const EntityDef& entity, TargetMapping* m) {
  m->plan.clear();
  std::set<std::string> held;
  for (const auto& [col, expr] : m->columns) {
    TargetMapping::ColumnPlan p;
    auto t = m->column_types.find(col);
    if (t != m->column_types.end()) p.type = t->second;
    p.key = std::find(m->key_columns.begin(), m->key_columns.end(), col) != m->key_columns.end();
    if (expr.kind == Expr::Kind::kInput && !expr.cast) {
      const FieldDef* f = entity.Find(expr.name);
      p.direct = f != nullptr && (f->type == p.type || (f->type == FieldType::kMoney && p.type == FieldType::kDecimal));
    }
    m->plan.push_back(p);
    CollectFields(expr, &held);
  }
  for (const auto& c : m->when) held.insert(c.field);  // a filter reads its field too
  m->held_fields.assign(held.begin(), held.end());
}

}  // namespace

void ModelLoader::CheckMappings() {
  const auto& ents = model_.entities_;
  auto check_entity = [&](const std::string& name, const std::string& system, const SourceLocation& at) -> const EntityDef* {
    auto it = ents.find(name);
    if (it == ents.end()) {
      if (!name.empty()) Problem(at, "unknown entity '" + name + "'");
      return nullptr;
    }
    const auto& xs = it->second.xref_systems;
    if (!xs.empty() && std::find(xs.begin(), xs.end(), system) == xs.end()) {
      Problem(at, "system '" + system + "' is not in the xref_systems of entity " + name);
    }
    return &it->second;
  };
  for (auto& m : sources_) {
    const std::string id = m.system + "/" + m.schema + "." + m.table;
    const std::string where = "source " + m.system + "." + m.table;
    const EntityDef* e = check_entity(m.entity, m.system, m.at);
    if (e) {
      std::set<std::string> mapped;
      for (const auto& [field, expr] : m.fields) {
        mapped.insert(field);
        const FieldDef* f = e->Find(field);
        if (!f) {
          Problem(expr.at, where + ": '" + field + "' is not a field of " + e->name);
          continue;
        }
        CheckExpr(expr, *e, false, where + " field " + field);
        if (expr.kind == Expr::Kind::kMap && f->type == FieldType::kEnum) {
          for (const auto& [from, to] : expr.values) {
            if (std::find(f->enum_values.begin(), f->enum_values.end(), to) == f->enum_values.end())
              Problem(expr.at, where + " field " + field + ": '" + to + "' is not a value of the enum");
          }
        }
      }
      if (e->key_kind == EntityDef::KeyKind::kNatural && m.key.kind == KeySpec::Kind::kDefault) {
        for (const auto& k : e->key_fields) {
          if (!mapped.count(k)) Problem(m.at, where + ": the natural key field '" + k + "' of " + e->name + " is not mapped");
        }
      }
      CheckConditions(m.when, *e);
    }
    if (model_.sources_.count(id)) {
      Problem(m.at, "table " + m.system + "." + m.schema + "." + m.table + " is mapped twice (also at " +
                        model_.sources_[id].at.ToString() + ")");
      continue;
    }
    model_.sources_[id] = std::move(m);
  }
  for (auto& m : targets_) {
    const std::string id = m.entity + "/" + m.system;
    const std::string where = "target " + m.system + "." + (m.table.empty() ? m.resource : m.table);
    const EntityDef* e = check_entity(m.entity, m.system, m.at);
    std::set<std::string> cols;
    for (const auto& [col, expr] : m.columns) {
      cols.insert(col);
      if (e) {
        CheckExpr(expr, *e, true, where + " column " + col);
        m.column_types[col] = ExprType(expr, *e, ents);
      }
    }
    for (const auto& k : m.key_columns) {
      if (!cols.count(k)) Problem(m.at, where + ": key column '" + k + "' is not among its columns");
    }
    if (e) CheckConditions(m.when, *e);
    if (e) PlanTarget(*e, &m);
    if (model_.targets_.count(id)) {
      Problem(m.at, "entity " + m.entity + " has two targets in system " + m.system + " (also at " +
                        model_.targets_[id].at.ToString() + ")");
      continue;
    }
    model_.target_systems_[m.entity].push_back(m.system);
    model_.targets_[id] = std::move(m);
  }
  for (auto& [entity, systems] : model_.target_systems_) std::sort(systems.begin(), systems.end());
  for (const auto& [id, at] : ignores_) {
    if (model_.sources_.count(id)) Problem(at, "table " + id + " is both mapped and ignored");
    std::string system = id.substr(0, id.find('/'));
    model_.ignored_[system].insert(id.substr(id.find('/') + 1));
  }
}

}  // namespace handoff::schemas
