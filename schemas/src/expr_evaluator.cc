#include "expr_evaluator.h"

#include "field_codec.h"
#include "handoff/engine/pg_types.h"
#include "handoff/engine/decimal.h"
#include "model_loader.h"

namespace handoff::schemas {

std::optional<EntityRecord> ExprEvaluator::Lookup(const std::string& entity, const Xref& ref) const {
  if (lookup_ && *lookup_) return (*lookup_)(entity, ref);
  return std::nullopt;
}

Result<Value> ExprEvaluator::Eval(const Expr& e) const {
  switch (e.kind) {
    case Expr::Kind::kInput: {
      Value v = input_(e.name);
      if (e.cast && v.known && v.text) {
        auto c = FieldCodec::ToCanonical(*e.cast, *v.text);
        if (!c.ok()) return Status::InvalidArgument(e.name + " " + c.status().message());
        v.text = *c;
      }
      return v;
    }
    case Expr::Kind::kConst:
      return e.is_null ? Value::Null() : Value::Of(e.name);
    case Expr::Kind::kConcat: {
      std::string out;
      bool any = false;
      for (const auto& a : e.args) {
        auto v = Eval(a);
        if (!v.ok()) return v;
        if (!v->known) return Value::Unknown();
        if (v->text) {
          out += *v->text;
          any = true;
        }
      }
      return any ? Value::Of(out) : Value::Null();
    }
    case Expr::Kind::kLower:
    case Expr::Kind::kUpper:
    case Expr::Kind::kTrim: {
      auto v = Eval(e.args[0]);
      if (!v.ok() || !v->known || !v->text) return v;
      std::string s = *v->text;
      if (e.kind == Expr::Kind::kTrim) {
        size_t b = s.find_first_not_of(" \t\r\n");
        size_t en = s.find_last_not_of(" \t\r\n");
        s = b == std::string::npos ? "" : s.substr(b, en - b + 1);
      } else {
        for (char& c : s) {
          if (e.kind == Expr::Kind::kLower && c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
          if (e.kind == Expr::Kind::kUpper && c >= 'a' && c <= 'z') c = static_cast<char>(c - 'a' + 'A');
        }
      }
      return Value::Of(s);
    }
    case Expr::Kind::kCoalesce: {
      for (const auto& a : e.args) {
        auto v = Eval(a);
        if (!v.ok() || !v->known || v->text) return v;
      }
      return Value::Null();
    }
    case Expr::Kind::kMultiply: {
      Decimal product;
      for (size_t i = 0; i < e.args.size(); ++i) {
        auto v = Eval(e.args[i]);
        if (!v.ok() || !v->known || !v->text) return v;
        auto d = Decimal::Parse(*v->text);
        if (!d.ok()) return d.status();
        product = i == 0 ? *d : product.Multiply(*d);
      }
      if (e.scale >= 0) {
        auto r = product.Rescale(e.scale, Decimal::Rounding::kHalfAwayFromZero);
        if (!r.ok()) return r.status();
        product = *r;
      }
      return Value::Of(product.ToString(), pg_oid::kNumeric);
    }
    case Expr::Kind::kMap: {
      auto v = Eval(e.args[0]);
      if (!v.ok() || !v->known || !v->text) return v;
      auto it = e.values.find(*v->text);
      if (it != e.values.end()) return Value::Of(it->second);
      if (e.map_default) return Value::Of(*e.map_default);
      std::string list;
      for (const auto& [from, to] : e.values) list += (list.empty() ? "" : ", ") + from;
      return Status::InvalidArgument("\"" + v->text->substr(0, 64) + "\" is not a known value (expected one of: " + list + ")");
    }
    case Expr::Kind::kLookup: {
      Value v = input_(e.column);
      if (!v.known || !v.text) return v;
      auto rec = Lookup(e.entity, Xref{e.system, e.object, *v.text});
      if (!rec || rec->deleted) {
        return Status::NotFound(HumanName(e.entity) + " " + e.system + "/" + e.object + "/" + *v.text +
                                (rec ? " has been deleted" : " is not known to handoff yet"));
      }
      if (e.take.empty()) return Value::Of(rec->key);
      auto f = rec->fields.find(e.take);
      if (f == rec->fields.end() || !f->second) return Value::Null();
      return Value::Of(*f->second);
    }
    case Expr::Kind::kKeyOf: {
      if (!e.system.empty()) {
        Value v = input_(e.column);
        if (!v.known || !v.text) return v;
        return Value::Of(e.entity + ":" + e.system + ":" + *v.text);
      }
      std::string key;
      for (size_t i = 0; i < e.args.size(); ++i) {
        auto v = Eval(e.args[i]);
        if (!v.ok() || !v->known || !v->text) return v;
        key += (i ? "/" : "") + *v->text;
      }
      return Value::Of(e.entity + ":" + key);
    }
    case Expr::Kind::kKey:
      if (!context_ || context_->key.empty()) return Value::Unknown();
      return Value::Of(context_->key);
    case Expr::Kind::kXref: {
      if (!context_) return Value::Unknown();
      for (const auto& x : context_->xrefs) {
        if (x.system == e.system) return Value::Of(x.id);
      }
      // An xref-formed key names its system: "customer:crm:42".
      const std::string prefix = entity_.name + ":" + e.system + ":";
      if (context_->key.rfind(prefix, 0) == 0) return Value::Of(context_->key.substr(prefix.size()));
      return Value::Unknown();
    }
    case Expr::Kind::kRef: {
      Value v = input_(e.field);
      if (!v.known || !v.text) return v;
      const FieldDef* f = entity_.Find(e.field);
      const std::string ref_entity = f ? f->ref_entity : "";
      std::optional<EntityRecord> rec;
      if (context_ && context_->lookup) rec = context_->lookup(ref_entity, Xref{"", "", *v.text});
      else rec = Lookup(ref_entity, Xref{"", "", *v.text});
      if (!e.system.empty()) {
        if (rec) {
          for (const auto& x : rec->xrefs) {
            if (x.system == e.system) return Value::Of(x.id);
          }
        }
        const std::string prefix = ref_entity + ":" + e.system + ":";
        if (v.text->rfind(prefix, 0) == 0) return Value::Of(v.text->substr(prefix.size()));
        if (!rec) return Value::Unknown();
        return Status::NotFound(HumanName(ref_entity) + " " + *v.text + " has no id in " + e.system + " yet");
      }
      if (!rec) {
        // A natural key of one field holds that field: "project:PRJ-1000" -> code PRJ-1000.
        auto it = entities_.find(ref_entity);
        const std::string prefix = ref_entity + ":";
        if (it != entities_.end() && it->second.key_kind == EntityDef::KeyKind::kNatural &&
            it->second.key_fields == std::vector<std::string>{e.take} && v.text->rfind(prefix, 0) == 0) {
          return Value::Of(v.text->substr(prefix.size()));
        }
        return Value::Unknown();
      }
      auto fv = rec->fields.find(e.take);
      if (fv == rec->fields.end()) return Value::Unknown();
      return fv->second ? Value::Of(*fv->second) : Value::Null();
    }
  }
  return Status::Internal("unknown expression kind");
}

}  // namespace handoff::schemas
