#include "debezium/connect_schema.h"

#include <simdjson.h>

#include <charconv>

#include "debezium/pg_types.h"

namespace handoff::dbz {
namespace od = simdjson::ondemand;

namespace {

constexpr int kMaxSchemaDepth = 64;
constexpr size_t kMaxCachedSchemas = 256;

ConnectType TypeFromName(std::string_view t) {
  if (t == "int8") return ConnectType::kInt8;
  if (t == "int16") return ConnectType::kInt16;
  if (t == "int32") return ConnectType::kInt32;
  if (t == "int64") return ConnectType::kInt64;
  if (t == "float32" || t == "float") return ConnectType::kFloat32;
  if (t == "float64" || t == "double") return ConnectType::kFloat64;
  if (t == "boolean") return ConnectType::kBoolean;
  if (t == "string") return ConnectType::kString;
  if (t == "bytes") return ConnectType::kBytes;
  if (t == "array") return ConnectType::kArray;
  if (t == "map") return ConnectType::kMap;
  if (t == "struct") return ConnectType::kStruct;
  return ConnectType::kUnknown;
}

Semantic SemanticFromName(std::string_view n) {
  if (n.empty()) return Semantic::kNone;
  if (n == "io.debezium.time.Date" || n == "org.apache.kafka.connect.data.Date") return Semantic::kDate;
  if (n == "io.debezium.time.Time" || n == "org.apache.kafka.connect.data.Time") return Semantic::kTimeMillis;
  if (n == "io.debezium.time.MicroTime") return Semantic::kTimeMicros;
  if (n == "io.debezium.time.NanoTime") return Semantic::kTimeNanos;
  if (n == "io.debezium.time.Timestamp" || n == "org.apache.kafka.connect.data.Timestamp") {
    return Semantic::kTimestampMillis;
  }
  if (n == "io.debezium.time.MicroTimestamp") return Semantic::kTimestampMicros;
  if (n == "io.debezium.time.NanoTimestamp") return Semantic::kTimestampNanos;
  if (n == "io.debezium.time.ZonedTimestamp") return Semantic::kZonedTimestamp;
  if (n == "io.debezium.time.ZonedTime") return Semantic::kZonedTime;
  if (n == "org.apache.kafka.connect.data.Decimal") return Semantic::kDecimal;
  if (n == "io.debezium.data.VariableScaleDecimal") return Semantic::kVariableScaleDecimal;
  if (n == "io.debezium.data.Json") return Semantic::kJson;
  if (n == "io.debezium.data.Uuid") return Semantic::kUuid;
  if (n == "io.debezium.data.Xml") return Semantic::kXml;
  if (n == "io.debezium.time.MicroDuration") return Semantic::kMicroDuration;
  if (n == "io.debezium.time.Interval") return Semantic::kInterval;
  return Semantic::kOther;
}

Status Bad(std::string_view what) {
  return Status::InvalidArgument("invalid Connect schema: " + std::string(what));
}

#define DBZ_SCHEMA_TRY(expr, what)                 \
  do {                                             \
    if ((expr) != simdjson::SUCCESS) return Bad(what); \
  } while (0)

}  // namespace

uint32_t DefaultOid(const FieldSchema& f) {
  switch (f.semantic) {
    case Semantic::kDate: return pg_oid::kDate;
    case Semantic::kTimeMillis:
    case Semantic::kTimeMicros:
    case Semantic::kTimeNanos: return pg_oid::kTime;
    case Semantic::kTimestampMillis:
    case Semantic::kTimestampMicros:
    case Semantic::kTimestampNanos: return pg_oid::kTimestamp;
    case Semantic::kZonedTimestamp: return pg_oid::kTimestamptz;
    case Semantic::kZonedTime: return pg_oid::kTimetz;
    case Semantic::kDecimal:
    case Semantic::kVariableScaleDecimal: return pg_oid::kNumeric;
    case Semantic::kJson: return pg_oid::kJsonb;
    case Semantic::kUuid: return pg_oid::kUuid;
    case Semantic::kXml: return pg_oid::kXml;
    case Semantic::kMicroDuration:
    case Semantic::kInterval: return pg_oid::kInterval;
    default: break;
  }
  switch (f.type) {
    case ConnectType::kInt8:
    case ConnectType::kInt16: return pg_oid::kInt2;
    case ConnectType::kInt32: return pg_oid::kInt4;
    case ConnectType::kInt64: return pg_oid::kInt8;
    case ConnectType::kFloat32: return pg_oid::kFloat4;
    case ConnectType::kFloat64: return pg_oid::kFloat8;
    case ConnectType::kBoolean: return pg_oid::kBool;
    case ConnectType::kBytes: return pg_oid::kBytea;
    case ConnectType::kArray: {
      uint32_t a = f.children.empty() ? 0 : ArrayOidForElement(f.children[0].oid);
      return a ? a : pg_oid::kText;
    }
    case ConnectType::kMap:
    case ConnectType::kStruct: return pg_oid::kJsonb;
    default: return pg_oid::kText;
  }
}

const FieldSchema* FieldSchema::Find(std::string_view member, size_t* hint) const {
  size_t n = children.size();
  if (*hint < n && children[*hint].field == member) return &children[(*hint)++];
  for (size_t i = 0; i < n; ++i) {
    if (children[i].field == member) {
      *hint = i + 1;
      return &children[i];
    }
  }
  return nullptr;
}

struct ConnectSchemaCache::Parser {
  od::parser parser;

  Status ParseField(od::object obj, int depth, FieldSchema* out) {
    if (depth > kMaxSchemaDepth) return Bad("nested deeper than 64");
    std::string_view source_type, handoff_oid;
    bool explicit_oid = false;
    for (auto member : obj) {
      od::field f;
      DBZ_SCHEMA_TRY(std::move(member).get(f), "malformed member");
      std::string_view key;
      DBZ_SCHEMA_TRY(f.unescaped_key().get(key), "malformed key");
      od::value v = f.value();
      if (key == "type") {
        std::string_view t;
        DBZ_SCHEMA_TRY(v.get_string().get(t), "\"type\" must be a string");
        out->type = TypeFromName(t);
      } else if (key == "field") {
        std::string_view t;
        DBZ_SCHEMA_TRY(v.get_string().get(t), "\"field\" must be a string");
        out->field.assign(t);
      } else if (key == "name") {
        std::string_view t;
        DBZ_SCHEMA_TRY(v.get_string().get(t), "\"name\" must be a string");
        out->name.assign(t);
      } else if (key == "parameters") {
        od::object params;
        DBZ_SCHEMA_TRY(v.get_object().get(params), "\"parameters\" must be an object");
        for (auto pm : params) {
          od::field pf;
          DBZ_SCHEMA_TRY(std::move(pm).get(pf), "malformed parameter");
          std::string_view pk, pv;
          DBZ_SCHEMA_TRY(pf.unescaped_key().get(pk), "malformed parameter");
          if (pf.value().get_string().get(pv) != simdjson::SUCCESS) return Bad("parameter values must be strings");
          if (pk == "scale") {
            auto r = std::from_chars(pv.data(), pv.data() + pv.size(), out->scale);
            if (r.ec != std::errc() || r.ptr != pv.data() + pv.size()) return Bad("scale is not an integer");
          } else if (pk == "__debezium.source.column.type") {
            source_type = pv;
            out->oid = OidForTypeName(pv);
          } else if (pk == "__handoff.type_oid") {
            handoff_oid = pv;
            uint32_t o = 0;
            auto r = std::from_chars(pv.data(), pv.data() + pv.size(), o);
            if (r.ec != std::errc() || r.ptr != pv.data() + pv.size()) return Bad("__handoff.type_oid");
            out->oid = o;
            explicit_oid = true;
          } else if (pk == "__handoff.kind") {
            out->binary = pv == "binary";
          }
        }
        if (!handoff_oid.empty() && !source_type.empty()) {
          // Both given: the explicit OID wins (already stored last or first).
          uint32_t o = 0;
          std::from_chars(handoff_oid.data(), handoff_oid.data() + handoff_oid.size(), o);
          out->oid = o;
        }
      } else if (key == "fields") {
        od::array arr;
        DBZ_SCHEMA_TRY(v.get_array().get(arr), "\"fields\" must be an array");
        for (auto el : arr) {
          od::object child;
          DBZ_SCHEMA_TRY(el.get_object().get(child), "\"fields\" elements must be objects");
          out->children.emplace_back();
          HANDOFF_RETURN_IF_ERROR(ParseField(child, depth + 1, &out->children.back()));
        }
      } else if (key == "items") {
        od::object child;
        DBZ_SCHEMA_TRY(v.get_object().get(child), "\"items\" must be an object");
        out->children.clear();
        out->children.emplace_back();
        HANDOFF_RETURN_IF_ERROR(ParseField(child, depth + 1, &out->children.back()));
      }
    }
    out->semantic = SemanticFromName(out->name);
    if (out->oid == 0 && !explicit_oid) out->oid = DefaultOid(*out);
    return Status::OK();
  }
};

ConnectSchemaCache::ConnectSchemaCache() : parser_(std::make_unique<Parser>()) {}
ConnectSchemaCache::~ConnectSchemaCache() = default;

Status ConnectSchemaCache::Get(std::string_view json, const FieldSchema** out) {
  if (last_ != nullptr && json == last_text_) {
    *out = last_;
    return Status::OK();
  }
  auto it = cache_.find(std::string(json));
  if (it == cache_.end()) {
    if (cache_.size() >= kMaxCachedSchemas) cache_.clear(), last_ = nullptr;
    auto schema = std::make_unique<FieldSchema>();
    simdjson::padded_string padded(json);
    od::document doc;
    if (parser_->parser.iterate(padded).get(doc) != simdjson::SUCCESS) return Bad("not JSON");
    od::object obj;
    if (doc.get_object().get(obj) != simdjson::SUCCESS) return Bad("schema is not an object");
    HANDOFF_RETURN_IF_ERROR(parser_->ParseField(obj, 0, schema.get()));
    it = cache_.emplace(std::string(json), std::move(schema)).first;
  }
  last_text_ = it->first;
  last_ = it->second.get();
  *out = last_;
  return Status::OK();
}

}  // namespace handoff::dbz
