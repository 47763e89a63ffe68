// Model::MapSource: a source row change -> its canonical EntityChange.
#include "expr_evaluator.h"
#include "field_codec.h"
#include "handoff/schemas/model.h"
#include "model_loader.h"

namespace handoff::schemas {
namespace {

Value ColumnValue(const std::vector<Column>& image, const std::string& name) {
  for (const auto& c : image) {
    if (c.name != name) continue;
    if (c.is_unchanged_toast()) return Value::Unknown();
    if (c.is_null()) return Value::Null();
    return Value::Of(c.data, c.type_oid);
  }
  return Value::Unknown();
}

bool FieldEquals(const FieldMap& m, const std::string& field, const std::string& value) {
  auto it = m.find(field);
  return it != m.end() && it->second && *it->second == value;
}

}  // namespace

Result<std::optional<EntityChange>> Model::MapSource(const ChangeEvent& ev, const std::string& system,
                                                     const LookupFn& lookup) const {
  if (ev.op != Op::kInsert && ev.op != Op::kUpdate && ev.op != Op::kDelete && ev.op != Op::kRead) {
    return std::optional<EntityChange>();
  }
  const std::string table = ev.schema + "." + ev.table;
  const SourceMapping* m = FindSource(system, table);
  if (!m) {
    auto ig = ignored_.find(system);
    if (ig != ignored_.end() && ig->second.count(table)) return std::optional<EntityChange>();
    if (!Systems().count(system)) return Status::NotFound("system '" + system + "' has no mappings in the schema pack");
    return Status::NotFound("table " + system + "." + table +
                            " is not mapped to any entity; add a mapping or list it under 'ignore'");
  }
  const EntityDef& entity = entities_.at(m->entity);
  const bool is_delete = ev.op == Op::kDelete;
  const std::vector<Column>& key_image = is_delete ? ev.before : ev.after;

  // The row's id in this system, for its xref and messages.
  std::string id;
  for (size_t i = 0; i < m->id_columns.size(); ++i) {
    Value v = ColumnValue(key_image, m->id_columns[i]);
    if (!v.known || !v.text) {
      return Status::InvalidArgument(system + "." + table + ": the row has no value in id column '" +
                                     m->id_columns[i] + "' (mapping " + m->at.ToString() + ")");
    }
    id += (i ? "/" : "") + *v.text;
  }
  // Only an error names the row.
  auto subject = [&] { return HumanName(entity.name) + " " + system + "." + m->table + " " + id; };

  auto map_image = [&](const std::vector<Column>& image, bool strict, FieldMap* out) -> Status {
    ExprEvaluator eval([&](const std::string& c) { return ColumnValue(image, c); }, entities_, entity, &lookup,
                       nullptr);
    for (const auto& [field, expr] : m->fields) {
      const FieldDef* f = entity.Find(field);
      auto v = eval.Eval(expr);
      if (!v.ok()) {
        if (!strict) continue;
        return Status(v.status().code(), subject() + ": " + HumanName(field) + ": " + v.status().message());
      }
      if (!v->known) continue;
      if (!v->text) {
        (*out)[field] = std::nullopt;
        continue;
      }
      auto c = FieldCodec::ToCanonical(*f, *v->text);
      if (!c.ok()) {
        if (!strict) continue;
        return Status::InvalidArgument(subject() + ": " + HumanName(field) + " " + c.status().message());
      }
      (*out)[field] = *c;
    }
    return Status::OK();
  };

  EntityChange ch;
  ch.entity = entity.name;
  ch.system = system;
  ch.op = ev.op == Op::kRead ? Op::kInsert : ev.op;
  ch.commit_time_us = ev.commit_time_us;
  if (!is_delete) HANDOFF_RETURN_IF_ERROR(map_image(ev.after, true, &ch.after));
  if (ev.has_before && !ev.before.empty()) {
    ch.has_before = true;
    // The before image is what the source believed; best effort (a key-only image maps few fields).
    (void)map_image(ev.before, false, &ch.before);
  }

  // Filters, on canonical values. Without a before value, `becomes` holds when the after value matches.
  for (const auto& c : m->when) {
    const FieldMap& now = is_delete ? ch.before : ch.after;
    if (!FieldEquals(now, c.field, c.value)) return std::optional<EntityChange>();
    if (c.kind == Condition::Kind::kBecomes && (is_delete || FieldEquals(ch.before, c.field, c.value))) {
      return std::optional<EntityChange>();
    }
  }

  // Canonical key.
  const std::string own_key = entity.name + ":" + system + ":" + id;
  const Xref own{system, m->table, id};
  switch (m->key.kind) {
    case KeySpec::Kind::kDefault:
      if (entity.key_kind == EntityDef::KeyKind::kXref) {
        ch.key = own_key;
      } else {
        const FieldMap& src = is_delete ? ch.before : ch.after;
        std::string natural;
        bool complete = true;
        for (size_t i = 0; i < entity.key_fields.size() && complete; ++i) {
          auto it = src.find(entity.key_fields[i]);
          if (it == src.end() || !it->second) {
            complete = false;
            break;
          }
          std::string part = *it->second;
          const FieldDef* kf = entity.Find(entity.key_fields[i]);
          if (kf->type == FieldType::kRef && part.rfind(kf->ref_entity + ":", 0) == 0) {
            part = part.substr(kf->ref_entity.size() + 1);
          }
          natural += (i ? "/" : "") + part;
        }
        if (complete) {
          ch.key = entity.name + ":" + natural;
        } else if (auto rec = lookup ? lookup(entity.name, own) : std::nullopt; rec) {
          ch.key = rec->key;  // e.g. a delete whose before image holds only the id
        } else {
          return Status::InvalidArgument(subject() + ": cannot form its key: a natural key field is empty and " +
                                         "handoff does not know this row yet");
        }
      }
      break;
    case KeySpec::Kind::kXref:
    case KeySpec::Kind::kLookup:
    case KeySpec::Kind::kColumn: {
      Value v = ColumnValue(key_image, m->key.column);
      std::optional<std::string> key;
      if (v.known && v.text) {
        if (m->key.kind == KeySpec::Kind::kColumn) {
          if (v.text->rfind(entity.name + ":", 0) == 0) key = *v.text;
        } else if (m->key.kind == KeySpec::Kind::kXref) {
          key = entity.name + ":" + m->key.system + ":" + *v.text;
        } else if (auto rec = lookup ? lookup(entity.name, Xref{m->key.system, m->key.object, *v.text}) : std::nullopt;
                   rec) {
          key = rec->key;
        }
      }
      if (!key && !m->key.fallback_own && !v.known) {
        if (auto rec = lookup ? lookup(entity.name, own) : std::nullopt; rec) key = rec->key;
      }
      if (!key && m->key.fallback_own) key = own_key;
      if (!key) {
        return Status::NotFound(subject() + ": cannot tell which " + HumanName(entity.name) + " this is: " +
                                m->key.column + " " + (v.known && v.text ? *v.text : "is empty") +
                                (v.known && v.text ? " is not known in " + m->key.system : ""));
      }
      ch.key = *key;
      break;
    }
  }
  ch.xrefs.push_back(own);
  for (const auto& x : m->xrefs) {
    Value v = ColumnValue(key_image, x.column);
    if (v.known && v.text) ch.xrefs.push_back(Xref{x.system, x.object, *v.text});
  }
  return std::optional<EntityChange>(std::move(ch));
}

}  // namespace handoff::schemas
