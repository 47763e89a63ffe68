// Loading a schema pack: files, entity definitions and the checks that tie
// entities together. Mapping parsing lives in mapping_parser.cc.
#include "model_loader.h"

#include <algorithm>
#include <filesystem>
#include <regex>

#include "field_codec.h"

namespace handoff::schemas {
namespace fs = std::filesystem;

std::string HumanName(const std::string& name) {
  std::string out = name;
  std::replace(out.begin(), out.end(), '_', ' ');
  return out;
}

std::string QualifyTable(const std::string& table) {
  return table.find('.') == std::string::npos ? "public." + table : table;
}

namespace {
bool IsIdentifier(const std::string& s) {
  static const std::regex re("[a-z_][a-z0-9_]*");
  return std::regex_match(s, re);
}
}  // namespace

SourceLocation ModelLoader::At(const YAML::Node& node) const {
  SourceLocation at{file_, 0};
  if (node.IsDefined() && node.Mark().line >= 0) at.line = node.Mark().line + 1;
  return at;
}

void ModelLoader::Problem(const YAML::Node& at, const std::string& why) { Problem(At(at), why); }
void ModelLoader::Problem(const SourceLocation& at, const std::string& why) { problems_.emplace_back(at, why); }

bool ModelLoader::Scalar(const YAML::Node& node, const std::string& what, std::string* out) {
  if (!node.IsDefined() || node.IsNull()) return false;
  if (!node.IsScalar()) {
    Problem(node, what + " must be a single value");
    return false;
  }
  *out = node.Scalar();
  return true;
}

bool ModelLoader::Bool(const YAML::Node& node, const std::string& what, bool* out) {
  std::string s;
  if (!Scalar(node, what, &s)) return false;
  if (s == "true" || s == "yes") *out = true;
  else if (s == "false" || s == "no") *out = false;
  else {
    Problem(node, what + " must be true or false, not \"" + s + "\"");
    return false;
  }
  return true;
}

bool ModelLoader::Int(const YAML::Node& node, const std::string& what, int* out) {
  std::string s;
  if (!Scalar(node, what, &s)) return false;
  static const std::regex re("[0-9]{1,7}");
  if (!std::regex_match(s, re)) {
    Problem(node, what + " must be a whole number, not \"" + s + "\"");
    return false;
  }
  *out = std::stoi(s);
  return true;
}

bool ModelLoader::StringList(const YAML::Node& node, const std::string& what, std::vector<std::string>* out) {
  if (!node.IsDefined() || node.IsNull()) return false;
  if (node.IsScalar()) {
    out->push_back(node.Scalar());
    return true;
  }
  if (!node.IsSequence()) {
    Problem(node, what + " must be a list");
    return false;
  }
  bool ok = true;
  for (const auto& item : node) {
    std::string s;
    if (Scalar(item, what + " item", &s)) out->push_back(s);
    else ok = false;
  }
  return ok;
}

void ModelLoader::OnlyKeys(const YAML::Node& node, const std::string& what, const std::set<std::string>& allowed) {
  if (!node.IsMap()) return;
  std::set<std::string> seen;
  for (const auto& kv : node) {
    std::string k = kv.first.IsScalar() ? kv.first.Scalar() : "?";
    if (!seen.insert(k).second) Problem(kv.first, "duplicate key '" + k + "' in " + what);
    if (!allowed.count(k)) {
      std::string list;
      for (const auto& a : allowed) list += (list.empty() ? "" : ", ") + a;
      Problem(kv.first, "unknown key '" + k + "' in " + what + " (expected one of: " + list + ")");
    }
  }
}

Result<Model> ModelLoader::Load() {
  std::error_code ec;
  if (!fs::is_directory(dir_, ec)) return Status::NotFound("schema pack " + dir_ + " is not a directory");
  std::vector<fs::path> files;
  for (fs::recursive_directory_iterator it(dir_, ec), end; !ec && it != end; it.increment(ec)) {
    if (it->is_regular_file(ec) && it->path().extension() == ".yaml") files.push_back(it->path());
  }
  if (ec) return Status::InvalidArgument("cannot list schema pack " + dir_ + ": " + ec.message());
  if (files.empty()) return Status::NotFound("schema pack " + dir_ + " holds no *.yaml files");
  std::sort(files.begin(), files.end());
  for (const auto& p : files) LoadFile(p.string(), fs::relative(p, dir_, ec).generic_string());
  CheckEntities();
  CheckMappings();
  if (!problems_.empty()) {
    std::stable_sort(problems_.begin(), problems_.end(), [](const auto& a, const auto& b) {
      return a.first.file != b.first.file ? a.first.file < b.first.file : a.first.line < b.first.line;
    });
    std::string msg;
    for (const auto& [at, why] : problems_) msg += (msg.empty() ? "" : "\n") + at.ToString() + ": " + why;
    return Status::InvalidArgument(msg);
  }
  return std::move(model_);
}

void ModelLoader::LoadFile(const std::string& path, const std::string& rel) {
  file_ = rel;
  YAML::Node root;
  try {
    root.reset(YAML::LoadFile(path));
  } catch (const YAML::ParserException& e) {
    Problem(SourceLocation{rel, e.mark.line + 1}, "YAML syntax error: " + e.msg);
    return;
  } catch (const std::exception& e) {
    Problem(SourceLocation{rel, 1}, std::string("cannot read: ") + e.what());
    return;
  }
  try {
    if (!root.IsMap()) {
      Problem(SourceLocation{rel, 1}, "expected a mapping with a top-level 'entity:' or 'system:' key");
    } else if (root["entity"]) {
      ParseEntity(root);
    } else if (root["system"]) {
      ParseSystem(root);
    } else {
      Problem(root, "expected a top-level 'entity:' or 'system:' key");
    }
  } catch (const std::exception& e) {  // yaml-cpp conversions; should not happen, but never escape
    Problem(SourceLocation{rel, 1}, std::string("cannot interpret: ") + e.what());
  }
}

void ModelLoader::ParseEntity(const YAML::Node& root) {
  OnlyKeys(root, "entity", {"entity", "description", "key", "xref_systems", "fields", "rules", "parent"});
  EntityDef e;
  e.at = At(root["entity"]);
  if (!Scalar(root["entity"], "entity", &e.name)) return;
  if (!IsIdentifier(e.name)) {
    Problem(root["entity"], "entity name '" + e.name + "' must be lower_snake_case");
    return;
  }
  Scalar(root["description"], "description", &e.description);
  const YAML::Node key = root["key"];
  std::string key_text;
  if (!key || key.IsNull()) {
    Problem(root["entity"], "entity " + e.name + " has no 'key' (xref, or {natural: [fields]})");
  } else if (key.IsScalar()) {
    if (key.Scalar() != "xref") Problem(key, "key must be 'xref' or {natural: [fields]}, not '" + key.Scalar() + "'");
  } else if (key.IsMap() && key["natural"]) {
    OnlyKeys(key, "key", {"natural"});
    e.key_kind = EntityDef::KeyKind::kNatural;
    StringList(key["natural"], "key natural", &e.key_fields);
    if (e.key_fields.empty()) Problem(key, "a natural key needs at least one field");
  } else {
    Problem(key, "key must be 'xref' or {natural: [fields]}");
  }
  StringList(root["xref_systems"], "xref_systems", &e.xref_systems);
  Scalar(root["parent"], "parent", &e.parent);
  const YAML::Node fields = root["fields"];
  if (!fields || !fields.IsMap() || fields.size() == 0) {
    Problem(fields ? fields : root["entity"], "entity " + e.name + " needs a 'fields:' mapping of name to type");
  } else {
    std::set<std::string> seen;
    for (const auto& kv : fields) {
      std::string n = kv.first.IsScalar() ? kv.first.Scalar() : "";
      if (!seen.insert(n).second) {
        Problem(kv.first, "duplicate field '" + n + "' in entity " + e.name);
        continue;
      }
      ParseField(kv.first, kv.second, &e);
    }
  }
  if (const YAML::Node rules = root["rules"]; rules) {
    if (!rules.IsSequence()) {
      Problem(rules, "rules must be a list");
    } else {
      for (const auto& r : rules) {
        OnlyKeys(r, "rule", {"field", "not_before"});
        OrderRule rule;
        rule.at = At(r);
        if (!Scalar(r["field"], "rule field", &rule.field) ||
            !Scalar(r["not_before"], "rule not_before", &rule.not_before)) {
          Problem(r, "a rule needs 'field' and 'not_before'");
          continue;
        }
        e.order_rules.push_back(rule);
      }
    }
  }
  if (model_.entities_.count(e.name)) {
    Problem(e.at, "duplicate entity '" + e.name + "' (also defined at " + model_.entities_[e.name].at.ToString() + ")");
    return;
  }
  model_.entities_[e.name] = std::move(e);
}

void ModelLoader::ParseField(const YAML::Node& name, const YAML::Node& spec, EntityDef* entity) {
  FieldDef f;
  f.at = At(name);
  f.name = name.IsScalar() ? name.Scalar() : "";
  const std::string what = "field " + entity->name + "." + f.name;
  if (!IsIdentifier(f.name)) {
    Problem(name, "field name '" + f.name + "' must be lower_snake_case");
    return;
  }
  std::string type_name;
  YAML::Node type_node = spec;
  if (spec.IsScalar()) {
    type_name = spec.Scalar();
  } else if (spec.IsMap()) {
    OnlyKeys(spec, what, {"type", "required", "scale", "currency", "values", "entity", "must_exist",
                          "active_when", "min", "max", "max_length", "description"});
    type_node.reset(spec["type"]);
    if (!Scalar(type_node, what + " type", &type_name)) {
      Problem(spec, what + " has no type");
      return;
    }
  } else {
    Problem(name, what + " must be a type name or a mapping with 'type:'");
    return;
  }
  auto type = ParseFieldType(type_name);
  if (!type) {
    Problem(type_node, "unknown type '" + type_name + "' for " + what +
                           " (expected string, text, int64, decimal, money, date, instant, bool, enum, ref)");
    return;
  }
  f.type = *type;
  if (spec.IsMap()) {
    Bool(spec["required"], what + " required", &f.required);
    Scalar(spec["description"], what + " description", &f.description);
    if (spec["scale"]) {
      if (f.type != FieldType::kDecimal && f.type != FieldType::kMoney) Problem(spec["scale"], what + ": scale applies to decimal and money only");
      Int(spec["scale"], what + " scale", &f.scale);
    }
    if (f.type == FieldType::kMoney && !Scalar(spec["currency"], what + " currency", &f.currency_field)) {
      Problem(spec, what + " is money and needs 'currency: <field holding the ISO 4217 code>'");
    }
    if (f.type == FieldType::kEnum) {
      if (!StringList(spec["values"], what + " values", &f.enum_values) || f.enum_values.empty()) {
        Problem(spec, what + " is an enum and needs 'values: [...]'");
      }
    }
    if (f.type == FieldType::kRef) {
      if (!Scalar(spec["entity"], what + " entity", &f.ref_entity)) Problem(spec, what + " is a ref and needs 'entity:'");
      Bool(spec["must_exist"], what + " must_exist", &f.ref_must_exist);
      if (const YAML::Node aw = spec["active_when"]; aw) {
        OnlyKeys(aw, what + " active_when", {"field", "equals"});
        Condition c;
        c.at = At(aw);
        if (!Scalar(aw["field"], "active_when field", &c.field) || !Scalar(aw["equals"], "active_when equals", &c.value)) {
          Problem(aw, what + " active_when needs 'field' and 'equals'");
        } else {
          f.ref_active_when = c;
        }
      }
    } else if (spec["entity"] || spec["active_when"] || spec["must_exist"]) {
      Problem(spec, what + ": entity/active_when/must_exist apply to ref fields only");
    }
    for (const char* bound : {"min", "max"}) {
      std::string v;
      if (!Scalar(spec[bound], what + " " + bound, &v)) continue;
      if (!FieldCodec::Ordered(f.type)) {
        Problem(spec[bound], what + ": " + bound + " applies to numbers, dates and instants only");
        continue;
      }
      auto c = FieldCodec::ToCanonical(f.type, v);
      if (!c.ok()) {
        Problem(spec[bound], what + " " + bound + ": " + c.status().message());
        continue;
      }
      (std::string(bound) == "min" ? f.min : f.max) = *c;
    }
    if (spec["max_length"]) {
      int n = 0;
      if (Int(spec["max_length"], what + " max_length", &n)) f.max_length = static_cast<size_t>(n);
    }
  } else if (f.type == FieldType::kMoney || f.type == FieldType::kEnum || f.type == FieldType::kRef) {
    Problem(spec, what + " of type " + type_name + " needs a mapping (currency / values / entity)");
    return;
  }
  entity->fields.push_back(std::move(f));
}

void ModelLoader::CheckEntities() {
  for (auto& [name, e] : model_.entities_) {
    for (const auto& k : e.key_fields) {
      if (!e.Find(k)) Problem(e.at, "entity " + name + ": key field '" + k + "' is not a field");
    }
    for (const auto& f : e.fields) {
      const std::string what = "field " + name + "." + f.name;
      if (f.type == FieldType::kMoney && !f.currency_field.empty()) {
        const FieldDef* c = e.Find(f.currency_field);
        if (!c) Problem(f.at, what + ": currency field '" + f.currency_field + "' is not a field of " + name);
        else if (c->type != FieldType::kString && c->type != FieldType::kEnum)
          Problem(f.at, what + ": currency field '" + f.currency_field + "' must be a string or enum");
      }
      if (f.type == FieldType::kRef && !f.ref_entity.empty()) {
        auto it = model_.entities_.find(f.ref_entity);
        if (it == model_.entities_.end()) {
          Problem(f.at, what + " refers to unknown entity '" + f.ref_entity + "'");
        } else if (f.ref_active_when && !it->second.Find(f.ref_active_when->field)) {
          Problem(f.ref_active_when->at, what + " active_when: '" + f.ref_active_when->field +
                                             "' is not a field of " + f.ref_entity);
        }
      }
    }
    if (!e.parent.empty()) {
      const FieldDef* p = e.Find(e.parent);
      if (!p) Problem(e.at, "entity " + name + ": parent '" + e.parent + "' is not a field of " + name);
      else if (p->type != FieldType::kRef)
        Problem(p->at, "entity " + name + ": parent '" + e.parent + "' must be a ref field naming the parent entity");
    }
    for (const auto& r : e.order_rules) {
      const FieldDef* a = e.Find(r.field);
      const FieldDef* b = e.Find(r.not_before);
      if (!a || !b) Problem(r.at, "rule on entity " + name + " names an unknown field");
      else if (a->type != b->type || !FieldCodec::Ordered(a->type))
        Problem(r.at, "rule on entity " + name + ": " + r.field + " and " + r.not_before + " must have the same ordered type");
    }
  }
  CheckParentChains();
}

// Walks each entity's parent chain; one that comes back to where it started
// is a loop (a trace would have no root), reported on every entity in it.
void ModelLoader::CheckParentChains() {
  for (const auto& [name, e] : model_.entities_) {
    std::string path = name, at = name;
    std::set<std::string> seen{name};
    while (const FieldDef* p = model_.ParentRef(at)) {
      at = p->ref_entity;
      path += " -> " + at;
      if (at == name) {
        Problem(e.at, "entity " + name + ": parent chain loops (" + path + ")");
        break;
      }
      if (!seen.insert(at).second || !model_.FindEntity(at)) break;  // a loop further up, or an unknown entity
    }
  }
}

Result<Model> LoadModel(const std::string& dir) {
  try {
    return ModelLoader(dir).Load();
  } catch (const std::exception& e) {
    return Status::Internal(std::string("loading schema pack ") + dir + ": " + e.what());
  }
}

}  // namespace handoff::schemas
