// Model accessors and Model::Validate.
#include "handoff/schemas/model.h"

#include "field_codec.h"
#include "model_loader.h"

namespace handoff::schemas {

LookupFn NoLookup() {
  return [](const std::string&, const Xref&) { return std::optional<EntityRecord>(); };
}

const EntityDef* Model::FindEntity(const std::string& name) const {
  auto it = entities_.find(name);
  return it == entities_.end() ? nullptr : &it->second;
}

const FieldDef* Model::ParentRef(const std::string& entity) const {
  const EntityDef* e = FindEntity(entity);
  const FieldDef* f = e == nullptr || e->parent.empty() ? nullptr : e->Find(e->parent);
  return f != nullptr && f->type == FieldType::kRef ? f : nullptr;
}

const SourceMapping* Model::FindSource(const std::string& system, const std::string& table) const {
  auto it = sources_.find(system + "/" + QualifyTable(table));
  return it == sources_.end() ? nullptr : &it->second;
}

const TargetMapping* Model::FindTarget(const std::string& entity, const std::string& system) const {
  auto it = targets_.find(entity + "/" + system);
  return it == targets_.end() ? nullptr : &it->second;
}

std::set<std::string> Model::Systems() const {
  std::set<std::string> out;
  for (const auto& [id, m] : sources_) out.insert(m.system);
  for (const auto& [id, m] : targets_) out.insert(m.system);
  for (const auto& [system, t] : ignored_) out.insert(system);
  return out;
}

namespace {
const std::vector<std::string> kNoNames;
}  // namespace

const std::vector<std::string>& Model::TargetSystems(const std::string& entity) const {
  auto it = target_systems_.find(entity);
  return it == target_systems_.end() ? kNoNames : it->second;
}

const std::vector<std::string>& Model::FieldsHeldBy(const std::string& entity, const std::string& system) const {
  const TargetMapping* m = FindTarget(entity, system);
  return m ? m->held_fields : kNoNames;
}

Result<std::string> Model::ToCanonical(const std::string& entity, const std::string& field, const std::string& text,
                                       uint32_t /*type_oid*/) const {
  const EntityDef* e = FindEntity(entity);
  const FieldDef* f = e ? e->Find(field) : nullptr;
  if (!f) return Status::NotFound(entity + "." + field + " is not a canonical field");
  auto c = FieldCodec::ToCanonical(*f, text);
  if (!c.ok()) return Status::InvalidArgument(HumanName(field) + " " + c.status().message());
  return c;
}

std::vector<ValidationProblem> Model::Validate(const std::string& entity, const FieldMap& fields,
                                               const LookupFn& lookup) const {
  FieldView view;
  view.find = [&](const std::string& f) -> const std::optional<std::string>* {
    auto it = fields.find(f);
    return it == fields.end() ? nullptr : &it->second;
  };
  view.each = [&](const std::function<void(const std::string&)>& f) {
    for (const auto& [name, v] : fields) f(name);
  };
  return ValidateView(entity, view, lookup);
}

std::vector<ValidationProblem> Model::ValidateView(const std::string& entity, const FieldView& fields,
                                                   const LookupFn& lookup) const {
  std::vector<ValidationProblem> out;
  const EntityDef* e = FindEntity(entity);
  if (!e) return {{"", "entity", "'" + entity + "' is not a canonical entity"}};
  fields.each([&](const std::string& name) {
    if (!e->Find(name)) out.push_back({name, "field", HumanName(name) + " is not a field of " + HumanName(entity)});
  });
  std::map<std::string, std::string> valid;  // field -> canonical value, for order rules
  const bool ordered = !e->order_rules.empty();
  for (const auto& f : e->fields) {
    const std::optional<std::string>* value = fields.find(f.name);
    if (value == nullptr || !*value) {
      if (f.required) out.push_back({f.name, "required", HumanName(f.name) + " is required"});
      continue;
    }
    const std::string& raw = **value;
    auto c = FieldCodec::ToCanonical(f, raw);
    if (!c.ok()) {
      out.push_back(
          {f.name, f.type == FieldType::kEnum ? "enum" : "type", HumanName(f.name) + " " + c.status().message()});
      continue;
    }
    const bool checked = f.min || f.max || f.max_length || f.type == FieldType::kMoney ||
                         (f.type == FieldType::kRef && f.ref_must_exist);
    if (ordered) valid[f.name] = *c;
    if (!checked) continue;
    const std::string label = HumanName(f.name);
    if (f.min && FieldCodec::Compare(f.type, *c, *f.min) < 0) {
      out.push_back({f.name, "range", label + " " + *c + " is below the minimum of " + *f.min});
    }
    if (f.max && FieldCodec::Compare(f.type, *c, *f.max) > 0) {
      out.push_back({f.name, "range", label + " " + *c + " is above the maximum of " + *f.max});
    }
    if (f.max_length && static_cast<size_t>(FieldCodec::Utf8Length(*c)) > f.max_length) {
      out.push_back({f.name, "length", label + " is longer than " + std::to_string(f.max_length) + " characters"});
    }
    if (f.type == FieldType::kMoney) {
      const std::optional<std::string>* cur = fields.find(f.currency_field);
      if (cur == nullptr || !*cur || (*cur)->empty()) {
        out.push_back({f.name, "currency", label + " " + *c + " has no currency (" + HumanName(f.currency_field) + " is empty)"});
      }
    }
    if (f.type == FieldType::kRef && f.ref_must_exist) {
      std::optional<EntityRecord> rec;
      if (lookup) rec = lookup(f.ref_entity, Xref{"", "", *c});
      if (!rec || rec->deleted) {
        out.push_back({f.name, "ref_missing", label + ": " + HumanName(f.ref_entity) + " " + *c +
                                                  (rec ? " has been deleted" : " does not exist")});
      } else if (f.ref_active_when) {
        auto a = rec->fields.find(f.ref_active_when->field);
        if (a == rec->fields.end() || !a->second || *a->second != f.ref_active_when->value) {
          const Condition& aw = *f.ref_active_when;
          const std::string want = aw.value == "true" ? HumanName(aw.field) : aw.value;
          const std::string actual = a != rec->fields.end() && a->second ? *a->second : "empty";
          out.push_back({f.name, "ref_inactive", label + ": " + HumanName(f.ref_entity) + " " + *c + " is not " + want +
                                                     " (" + HumanName(aw.field) + " is " + actual + ")"});
        }
      }
    }
  }
  for (const auto& r : e->order_rules) {
    auto a = valid.find(r.field), b = valid.find(r.not_before);
    if (a == valid.end() || b == valid.end()) continue;
    if (FieldCodec::Compare(e->Find(r.field)->type, a->second, b->second) < 0) {
      out.push_back({r.field, "order", HumanName(r.field) + " " + a->second + " is before " + HumanName(r.not_before) +
                                           " " + b->second});
    }
  }
  return out;
}

}  // namespace handoff::schemas
