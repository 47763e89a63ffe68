// Parsing and checking mappings/*.yaml: sources, targets, ignore lists and
// their expressions. Every problem is recorded; parsing continues.
#include <algorithm>

#include "field_codec.h"
#include "model_loader.h"

namespace handoff::schemas {
namespace {

const std::set<std::string> kSourceOps = {"column", "const", "concat", "lower", "upper", "trim",
                                          "coalesce", "multiply", "map", "lookup", "key_of"};
const std::set<std::string> kTargetOps = {"field", "const", "concat", "lower", "upper", "trim",
                                          "coalesce", "multiply", "map", "key", "xref", "ref"};
const std::set<std::string> kModifiers = {"cast", "scale", "values", "default", "xref", "natural"};

std::string Join(const std::set<std::string>& s) {
  std::string out;
  for (const auto& x : s) out += (out.empty() ? "" : ", ") + x;
  return out;
}

}  // namespace

void ModelLoader::ParseSystem(const YAML::Node& root) {
  OnlyKeys(root, "system file", {"system", "description", "sources", "targets", "ignore"});
  std::string system;
  if (!Scalar(root["system"], "system", &system)) return;
  for (const char* list : {"sources", "targets"}) {
    const YAML::Node n = root[list];
    if (!n) continue;
    if (!n.IsSequence()) {
      Problem(n, std::string(list) + " must be a list");
      continue;
    }
    for (const auto& item : n) {
      if (!item.IsMap()) {
        Problem(item, std::string(list) + " entries must be mappings");
        continue;
      }
      if (std::string(list) == "sources") ParseSource(system, item);
      else ParseTarget(system, item);
    }
  }
  if (const YAML::Node ig = root["ignore"]; ig) {
    std::vector<std::string> tables;
    StringList(ig, "ignore", &tables);
    for (const auto& t : tables) ignores_.emplace_back(system + "/" + QualifyTable(t), At(ig));
  }
}

void ModelLoader::ParseSource(const std::string& system, const YAML::Node& node) {
  OnlyKeys(node, "source mapping", {"table", "entity", "id", "key", "xrefs", "fields", "when", "description"});
  SourceMapping m;
  m.system = system;
  m.at = At(node);
  std::string table;
  if (!Scalar(node["table"], "table", &table)) {
    Problem(node, "source mapping needs 'table:'");
    return;
  }
  table = QualifyTable(table);
  m.schema = table.substr(0, table.find('.'));
  m.table = table.substr(table.find('.') + 1);
  if (!Scalar(node["entity"], "entity", &m.entity)) Problem(node, "source mapping for " + table + " needs 'entity:'");
  if (!StringList(node["id"], "id", &m.id_columns)) m.id_columns = {"id"};
  if (const YAML::Node k = node["key"]; k) {
    m.key.at = At(k);
    const char* kind = !k.IsMap() ? nullptr : k["xref"] ? "xref" : k["lookup"] ? "lookup" : nullptr;
    if (k.IsMap() && k["column"]) {
      OnlyKeys(k, "key", {"column", "fallback"});
      m.key.kind = KeySpec::Kind::kColumn;
      Scalar(k["column"], "key column", &m.key.column);
    } else if (!kind) {
      Problem(k, "key must be {xref: {system, object, column}}, {lookup: {system, object, column}} or {column: name}");
    } else {
      OnlyKeys(k, "key", {"xref", "lookup", "fallback"});
      m.key.kind = std::string(kind) == "xref" ? KeySpec::Kind::kXref : KeySpec::Kind::kLookup;
      const YAML::Node spec = k[kind];
      OnlyKeys(spec, std::string("key ") + kind, {"system", "object", "column"});
      if (!Scalar(spec["system"], "system", &m.key.system) || !Scalar(spec["object"], "object", &m.key.object) ||
          !Scalar(spec["column"], "column", &m.key.column)) {
        Problem(spec, std::string("key ") + kind + " needs system, object and column");
      }
    }
    if (k.IsMap()) {
      std::string fb;
      if (Scalar(k["fallback"], "fallback", &fb)) {
        if (fb == "own") m.key.fallback_own = true;
        else Problem(k["fallback"], "fallback must be 'own'");
      }
    }
  }
  if (const YAML::Node xs = node["xrefs"]; xs) {
    for (const auto& x : xs) {
      OnlyKeys(x, "xref", {"system", "object", "column"});
      XrefSpec s;
      s.at = At(x);
      if (!Scalar(x["system"], "system", &s.system) || !Scalar(x["object"], "object", &s.object) ||
          !Scalar(x["column"], "column", &s.column)) {
        Problem(x, "an xref needs system, object and column");
        continue;
      }
      m.xrefs.push_back(s);
    }
  }
  const YAML::Node fields = node["fields"];
  if (!fields || !fields.IsMap()) {
    Problem(node, "source mapping for " + table + " needs 'fields:' (canonical field: expression)");
  } else {
    std::set<std::string> seen;
    for (const auto& kv : fields) {
      std::string f = kv.first.IsScalar() ? kv.first.Scalar() : "";
      if (!seen.insert(f).second) Problem(kv.first, "field '" + f + "' is mapped twice");
      Expr e;
      e.at = At(kv.first);
      if (ParseExpr(kv.second, false, &e)) m.fields.emplace_back(f, std::move(e));
    }
  }
  if (node["when"]) ParseConditions(node["when"], &m.when);
  sources_.push_back(std::move(m));
}

void ModelLoader::ParseTarget(const std::string& system, const YAML::Node& node) {
  OnlyKeys(node, "target mapping", {"entity", "table", "resource", "key", "columns", "when", "description"});
  TargetMapping m;
  m.system = system;
  m.at = At(node);
  if (!Scalar(node["entity"], "entity", &m.entity)) Problem(node, "target mapping needs 'entity:'");
  std::string table;
  if (Scalar(node["table"], "table", &table)) {
    table = QualifyTable(table);
    m.schema = table.substr(0, table.find('.'));
    m.table = table.substr(table.find('.') + 1);
  }
  Scalar(node["resource"], "resource", &m.resource);
  if (table.empty() == m.resource.empty()) Problem(node, "target mapping needs exactly one of 'table:' or 'resource:'");
  if (!StringList(node["key"], "key", &m.key_columns) || m.key_columns.empty()) {
    Problem(node, "target mapping for " + m.entity + " needs 'key:' (the key column or columns)");
  }
  const YAML::Node cols = node["columns"];
  if (!cols || !cols.IsMap()) {
    Problem(node, "target mapping for " + m.entity + " needs 'columns:' (column: expression)");
  } else {
    std::set<std::string> seen;
    for (const auto& kv : cols) {
      std::string c = kv.first.IsScalar() ? kv.first.Scalar() : "";
      if (!seen.insert(c).second) Problem(kv.first, "column '" + c + "' is mapped twice");
      Expr e;
      e.at = At(kv.first);
      if (ParseExpr(kv.second, true, &e)) m.columns.emplace_back(c, std::move(e));
    }
  }
  if (node["when"]) ParseConditions(node["when"], &m.when);
  targets_.push_back(std::move(m));
}

bool ModelLoader::ParseConditions(const YAML::Node& node, std::vector<Condition>* out) {
  std::vector<YAML::Node> items;
  if (node.IsSequence()) {
    for (const auto& n : node) items.push_back(n);
  } else {
    items.push_back(node);
  }
  bool ok = true;
  for (const auto& n : items) {
    OnlyKeys(n, "when", {"field", "equals", "becomes"});
    Condition c;
    c.at = At(n);
    bool has_eq = n.IsMap() && n["equals"], has_becomes = n.IsMap() && n["becomes"];
    if (!n.IsMap() || !Scalar(n["field"], "when field", &c.field) || has_eq == has_becomes) {
      Problem(n, "when needs 'field' and exactly one of 'equals' or 'becomes'");
      ok = false;
      continue;
    }
    c.kind = has_eq ? Condition::Kind::kEquals : Condition::Kind::kBecomes;
    Scalar(has_eq ? n["equals"] : n["becomes"], "when value", &c.value);
    out->push_back(c);
  }
  return ok;
}

bool ModelLoader::ParseExpr(const YAML::Node& node, bool target, Expr* out) {
  const std::set<std::string>& ops = target ? kTargetOps : kSourceOps;
  if (node.IsScalar()) {
    out->kind = Expr::Kind::kInput;
    out->name = node.Scalar();
    return true;
  }
  if (!node.IsMap()) {
    Problem(node, "an expression must be a name or a mapping like {concat: [...]}");
    return false;
  }
  std::string op;
  for (const auto& kv : node) {
    std::string k = kv.first.IsScalar() ? kv.first.Scalar() : "";
    if (ops.count(k)) {
      if (!op.empty()) {
        Problem(kv.first, "an expression has one operation; found both '" + op + "' and '" + k + "'");
        return false;
      }
      op = k;
    } else if (!kModifiers.count(k)) {
      Problem(kv.first, "unknown expression '" + k + "' (expected one of: " + Join(ops) + ")");
      return false;
    }
  }
  if (op.empty()) {
    Problem(node, "expression has no operation (expected one of: " + Join(ops) + ")");
    return false;
  }
  const YAML::Node arg = node[op];
  auto args = [&](size_t min_n) {
    std::vector<YAML::Node> list;
    if (arg.IsSequence()) for (const auto& a : arg) list.push_back(a);
    else list.push_back(arg);
    if (list.size() < min_n) {
      Problem(arg, "'" + op + "' needs at least " + std::to_string(min_n) + " operands");
      return false;
    }
    for (const auto& a : list) {
      Expr sub;
      sub.at = At(a);
      if (!ParseExpr(a, target, &sub)) return false;
      out->args.push_back(std::move(sub));
    }
    return true;
  };
  auto fields = [&](const YAML::Node& m, std::initializer_list<const char*> keys, std::initializer_list<const char*> required) {
    std::set<std::string> allowed(keys.begin(), keys.end());
    OnlyKeys(m, op, allowed);
    if (!m.IsMap()) {
      Problem(m, "'" + op + "' needs a mapping");
      return false;
    }
    std::map<std::string, std::string*> slot = {{"entity", &out->entity}, {"system", &out->system},
                                                {"object", &out->object}, {"column", &out->column},
                                                {"take", &out->take},     {"field", &out->field},
                                                {"xref", &out->system}};
    for (const auto& k : keys) Scalar(m[k], std::string(op) + " " + k, slot[k]);
    for (const auto& k : required) {
      if (slot[k]->empty()) {
        Problem(m, "'" + op + "' needs '" + k + "'");
        return false;
      }
    }
    return true;
  };
  if (op == "column" || op == "field") {
    out->kind = Expr::Kind::kInput;
    if (!Scalar(arg, op, &out->name)) {
      Problem(node, "'" + op + "' needs a name");
      return false;
    }
  } else if (op == "const") {
    out->kind = Expr::Kind::kConst;
    if (arg.IsNull()) out->is_null = true;
    else if (!Scalar(arg, "const", &out->name)) return false;
  } else if (op == "concat" || op == "coalesce" || op == "multiply") {
    out->kind = op == "concat" ? Expr::Kind::kConcat : op == "coalesce" ? Expr::Kind::kCoalesce : Expr::Kind::kMultiply;
    if (!args(op == "multiply" ? 2 : 1)) return false;
    if (op == "multiply" && out->args.size() != 2) {
      Problem(arg, "'multiply' takes exactly two operands");
      return false;
    }
  } else if (op == "lower" || op == "upper" || op == "trim" || op == "map") {
    out->kind = op == "lower" ? Expr::Kind::kLower : op == "upper" ? Expr::Kind::kUpper
              : op == "trim"  ? Expr::Kind::kTrim  : Expr::Kind::kMap;
    if (!args(1)) return false;
    if (out->args.size() != 1) {
      Problem(arg, "'" + op + "' takes one operand");
      return false;
    }
    if (op == "map") {
      const YAML::Node vals = node["values"];
      if (!vals || !vals.IsMap()) {
        Problem(node, "'map' needs 'values: {from: to, ...}'");
        return false;
      }
      for (const auto& kv : vals) {
        std::string from, to;
        if (Scalar(kv.first, "map from", &from) && Scalar(kv.second, "map to", &to)) out->values[from] = to;
      }
      std::string def;
      if (Scalar(node["default"], "default", &def)) out->map_default = def;
    }
  } else if (op == "lookup") {
    out->kind = Expr::Kind::kLookup;
    if (!fields(arg, {"entity", "system", "object", "column", "take"}, {"entity", "system", "object", "column"})) return false;
  } else if (op == "key_of") {
    out->kind = Expr::Kind::kKeyOf;
    if (!Scalar(arg, "key_of", &out->entity)) return false;
    if (node["xref"]) {
      const YAML::Node x = node["xref"];
      OnlyKeys(x, "key_of xref", {"system", "object", "column"});
      if (!Scalar(x["system"], "system", &out->system) || !Scalar(x["object"], "object", &out->object) ||
          !Scalar(x["column"], "column", &out->column)) {
        Problem(x, "key_of xref needs system, object and column");
        return false;
      }
    } else if (node["natural"]) {
      const YAML::Node nat = node["natural"];
      std::vector<YAML::Node> list;
      if (nat.IsSequence()) for (const auto& a : nat) list.push_back(a);
      else list.push_back(nat);
      for (const auto& a : list) {
        Expr sub;
        sub.at = At(a);
        if (!ParseExpr(a, target, &sub)) return false;
        out->args.push_back(std::move(sub));
      }
    } else {
      Problem(node, "key_of needs 'xref: {system, object, column}' or 'natural: [...]'");
      return false;
    }
  } else if (op == "key") {
    out->kind = Expr::Kind::kKey;
  } else if (op == "xref") {
    out->kind = Expr::Kind::kXref;
    if (!Scalar(arg, "xref", &out->system)) return false;
  } else if (op == "ref") {
    out->kind = Expr::Kind::kRef;
    if (!fields(arg, {"field", "take", "xref"}, {"field"})) return false;
    if (out->take.empty() == out->system.empty()) {
      Problem(arg, "'ref' needs exactly one of 'take: <field>' or 'xref: <system>'");
      return false;
    }
  }
  if (const YAML::Node c = node["cast"]; c) {
    std::string t;
    if (Scalar(c, "cast", &t)) {
      auto ft = ParseFieldType(t);
      if (!ft || *ft == FieldType::kEnum || *ft == FieldType::kRef || *ft == FieldType::kMoney) {
        Problem(c, "cannot cast to '" + t + "' (expected string, text, int64, decimal, date, instant, bool)");
        return false;
      }
      out->cast = *ft;
    }
  }
  if (node["scale"]) {
    if (out->kind != Expr::Kind::kMultiply) Problem(node["scale"], "'scale' applies to multiply only");
    Int(node["scale"], "scale", &out->scale);
  }
  if ((node["values"] || node["default"]) && out->kind != Expr::Kind::kMap)
    Problem(node, "'values'/'default' apply to map only");
  if ((node["xref"] && out->kind != Expr::Kind::kKeyOf && out->kind != Expr::Kind::kXref) ||
      (node["natural"] && out->kind != Expr::Kind::kKeyOf))
    Problem(node, "'xref'/'natural' here apply to key_of only");
  return true;
}

}  // namespace handoff::schemas
