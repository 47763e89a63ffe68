// EncodeDebezium: ChangeEvent -> the value document the Debezium PostgreSQL
// connector emits for the same row (default settings, except that numerics
// follow DebeziumEncodeOptions::decimal_mode, "string" by default: exact and
// needing no scale). Every column's schema carries the PostgreSQL type as
// "__debezium.source.column.type" (column.propagate.source.type), which is
// what lets the decoder restore the exact type OID.
//
// Column representations: bool->boolean; int2/int4/int8->int16/32/64;
// float4/8->float32/64; numeric/money->string (or precise); date->
// io.debezium.time.Date; timestamp->MicroTimestamp; timestamptz->
// ZonedTimestamp; time->MicroTime; bytea->bytes; json/jsonb->Json; uuid->Uuid;
// xml->Xml; everything else (arrays, interval, timetz, ...) -> string with its
// PostgreSQL text. A value that cannot take its type's form (an 'infinity'
// date, a NaN numeric in precise mode) turns its column into a string column.
#include <simdjson.h>

#include <algorithm>
#include <climits>

#include "debezium/decimal_codec.h"
#include "debezium/pg_types.h"
#include "debezium/temporal_codec.h"
#include "handoff/capture/debezium.h"
#include "handoff/engine/json_text.h"
#include "handoff/engine/text_codec.h"

namespace handoff {
namespace {


enum class Repr : uint8_t { kString, kBool, kInt16, kInt32, kInt64, kFloat32, kFloat64, kDecimalVar, kDecimalFixed,
                            kDate, kMicroTimestamp, kZonedTimestamp, kMicroTime, kBytes, kBinary, kJson, kUuid, kXml };

constexpr std::string_view kToastBase64 = "X19kZWJleml1bV91bmF2YWlsYWJsZV92YWx1ZQ==";

Repr ReprFor(const Column& c, const DebeziumEncodeOptions& o, int32_t* scale) {
  if (c.kind == Column::Kind::kBinary) return Repr::kBinary;
  switch (c.type_oid) {
    case pg_oid::kBool: return Repr::kBool;
    case pg_oid::kInt2: return Repr::kInt16;
    case pg_oid::kInt4: return Repr::kInt32;
    case pg_oid::kInt8:
    case pg_oid::kOid: return Repr::kInt64;
    case pg_oid::kFloat4: return Repr::kFloat32;
    case pg_oid::kFloat8: return Repr::kFloat64;
    case pg_oid::kNumeric:
    case pg_oid::kMoney: {
      if (o.decimal_mode != DebeziumDecimalMode::kPrecise) return Repr::kString;
      auto it = o.decimal_scales.find(c.name);
      if (it != o.decimal_scales.end()) return *scale = it->second, Repr::kDecimalFixed;
      if (c.type_oid == pg_oid::kMoney) return *scale = 2, Repr::kDecimalFixed;
      return Repr::kDecimalVar;
    }
    case pg_oid::kDate: return Repr::kDate;
    case pg_oid::kTimestamp: return Repr::kMicroTimestamp;
    case pg_oid::kTimestamptz: return Repr::kZonedTimestamp;
    case pg_oid::kTime: return Repr::kMicroTime;
    case pg_oid::kBytea: return Repr::kBytes;
    case pg_oid::kJson:
    case pg_oid::kJsonb: return Repr::kJson;
    case pg_oid::kUuid: return Repr::kUuid;
    case pg_oid::kXml: return Repr::kXml;
    default: return Repr::kString;
  }
}

bool IsInteger(std::string_view t) {
  return dbz::IsJsonNumber(t) && t.find_first_of(".eE") == std::string_view::npos;
}

// Appends the JSON value of a text column in representation r; false when
// the value does not fit r.
bool AppendValue(Repr r, int32_t scale, const Column& c, std::string* out, std::string* scratch) {
  const std::string& d = c.data;
  switch (r) {
    case Repr::kBool:
      if (d == "t" || d == "true") return out->append("true"), true;
      if (d == "f" || d == "false") return out->append("false"), true;
      return false;
    case Repr::kInt16:
    case Repr::kInt32:
    case Repr::kInt64:
      if (!IsInteger(d) || d.size() > 20) return false;
      out->append(d);
      return true;
    case Repr::kFloat32:
    case Repr::kFloat64:
      if (dbz::IsJsonNumber(d)) return out->append(d), true;
      if (d == "NaN" || d == "Infinity" || d == "-Infinity") return AppendJsonString(out, d, InvalidUtf8::kKeep), true;
      return false;
    case Repr::kDecimalVar:
    case Repr::kDecimalFixed: {
      std::string_view text = d;
      std::string plain;
      if (c.type_oid == pg_oid::kMoney) {
        if (!dbz::MoneyToDecimal(d, &plain)) return false;
        text = plain;
      }
      int32_t s = r == Repr::kDecimalFixed ? scale : -1;
      if (!dbz::DecimalToUnscaled(text, &s, scratch)) return false;
      if (r == Repr::kDecimalVar) {
        out->append("{\"scale\":");
        AppendJsonInt(out, s);
        out->append(",\"value\":\"");
        AppendBase64(out, *scratch);
        out->append("\"}");
      } else {
        out->push_back('"');
        AppendBase64(out, *scratch);
        out->push_back('"');
      }
      return true;
    }
    case Repr::kDate: {
      int64_t days;
      if (!dbz::ParsePgDate(d, &days)) return false;
      AppendJsonInt(out, days);
      return true;
    }
    case Repr::kMicroTimestamp: {
      int64_t secs;
      uint32_t nanos;
      if (!dbz::ParsePgTimestamp(d, &secs, &nanos) || nanos % 1000 != 0) return false;
      std::string back;
      if (!dbz::AppendPgTimestamp(secs, nanos, false, &back) || back != d) return false;
      if (secs > INT64_MAX / 1000000 - 1 || secs < INT64_MIN / 1000000 + 1) return false;
      AppendJsonInt(out, secs * 1000000 + nanos / 1000);
      return true;
    }
    case Repr::kZonedTimestamp: {
      int64_t secs;
      uint32_t nanos;
      std::string iso;
      if (!dbz::ParsePgTimestamp(d, &secs, &nanos) || !dbz::AppendIsoTimestampUtc(secs, nanos, &iso)) return false;
      // Round trip only if the text is already canonical (UTC "+00").
      std::string back;
      if (!dbz::AppendPgTimestamp(secs, nanos, true, &back) || back != d) return false;
      AppendJsonString(out, iso, InvalidUtf8::kKeep);
      return true;
    }
    case Repr::kMicroTime: {
      int64_t ns;
      if (!dbz::ParsePgTime(d, &ns) || ns % 1000 != 0) return false;
      std::string back;
      if (!dbz::AppendPgTime(ns, &back) || back != d) return false;
      AppendJsonInt(out, ns / 1000);
      return true;
    }
    case Repr::kBytes:
      if (!dbz::DecodeByteaHex(d, scratch)) return false;
      out->push_back('"');
      AppendBase64(out, *scratch);
      out->push_back('"');
      return true;
    case Repr::kBinary:
      out->push_back('"');
      AppendBase64(out, d);
      out->push_back('"');
      return true;
    default:
      if (!simdjson::validate_utf8(d.data(), d.size())) return false;
      AppendJsonString(out, d, InvalidUtf8::kKeep);
      return true;
  }
}

void AppendToast(Repr r, std::string* out) {
  if (r == Repr::kBytes || r == Repr::kBinary || r == Repr::kDecimalFixed) {
    out->push_back('"');
    out->append(kToastBase64);
    out->push_back('"');
  } else if (r == Repr::kDecimalVar) {
    out->append("{\"scale\":0,\"value\":\"");
    out->append(kToastBase64);
    out->append("\"}");
  } else {
    AppendJsonString(out, kDebeziumUnavailableValue, InvalidUtf8::kKeep);
  }
}

void AppendFieldSchema(Repr r, int32_t scale, const Column& c, bool optional, std::string* out) {
  static constexpr const char* kType[] = {"string", "boolean", "int16", "int32", "int64", "float32", "float64",
                                          "struct", "bytes",   "int32", "int64", "string", "int64", "bytes",
                                          "bytes",  "string",  "string", "string"};
  static constexpr const char* kName[] = {
      nullptr, nullptr, nullptr, nullptr, nullptr, nullptr, nullptr, "io.debezium.data.VariableScaleDecimal",
      "org.apache.kafka.connect.data.Decimal", "io.debezium.time.Date", "io.debezium.time.MicroTimestamp",
      "io.debezium.time.ZonedTimestamp", "io.debezium.time.MicroTime", nullptr, nullptr, "io.debezium.data.Json",
      "io.debezium.data.Uuid", "io.debezium.data.Xml"};
  auto i = static_cast<size_t>(r);
  out->append("{\"type\":\"");
  out->append(kType[i]);
  out->push_back('"');
  if (r == Repr::kDecimalVar) {
    out->append(",\"fields\":[{\"type\":\"int32\",\"optional\":false,\"field\":\"scale\"},"
                "{\"type\":\"bytes\",\"optional\":false,\"field\":\"value\"}]");
  }
  out->append(optional ? ",\"optional\":true" : ",\"optional\":false");
  if (kName[i] != nullptr) {
    out->append(",\"name\":\"");
    out->append(kName[i]);
    out->append("\",\"version\":1");
  }
  out->append(",\"parameters\":{");
  bool first = true;
  auto param = [&](std::string_view k, std::string_view v) {
    if (!first) out->push_back(',');
    first = false;
    AppendJsonString(out, k, InvalidUtf8::kKeep);
    out->push_back(':');
    AppendJsonString(out, v, InvalidUtf8::kKeep);
  };
  if (r == Repr::kDecimalFixed) param("scale", std::to_string(scale));
  if (const char* tn = dbz::TypeNameForOid(c.type_oid)) {
    param("__debezium.source.column.type", tn);
  } else {
    param("__handoff.type_oid", std::to_string(c.type_oid));
  }
  if (r == Repr::kBinary) param("__handoff.kind", "binary");
  out->append("},\"field\":");
  AppendJsonString(out, c.name, InvalidUtf8::kKeep);
  out->push_back('}');
}

// The columns of an event with their chosen representation.
struct ColumnPlan {
  std::vector<Repr> repr;
  std::vector<int32_t> scale;
  std::vector<const Column*> cols;  // schema order: after's columns, else before's
};

const Column* FindIn(const std::vector<Column>& row, const std::string& name) {
  for (const Column& c : row) {
    if (c.name == name) return &c;
  }
  return nullptr;
}

class ValueEncoder {
 public:
  ValueEncoder(const ChangeEvent& e, const DebeziumEncodeOptions& o) : e_(e), o_(o) {}

  std::string Encode();
  std::string EncodeKey();

 private:
  void Plan();
  bool AppendRow(const std::vector<Column>& row, std::string* out, size_t* failed);
  void AppendRowSchema(const char* field, std::string* out);
  void AppendSource(std::string* out);
  void AppendSchema(std::string* out);
  std::string Prefix() const { return e_.source + "." + e_.schema + "." + e_.table; }

  const ChangeEvent& e_;
  const DebeziumEncodeOptions& o_;
  ColumnPlan plan_;
  std::string scratch_;
};


void ValueEncoder::Plan() {
  const std::vector<Column>& base = !e_.after.empty() ? e_.after : e_.before;
  for (const Column& c : base) {
    int32_t scale = 0;
    plan_.cols.push_back(&c);
    plan_.repr.push_back(ReprFor(c, o_, &scale));
    plan_.scale.push_back(scale);
  }
  // Columns only in the before image (rare) are planned too.
  if (!e_.after.empty()) {
    for (const Column& c : e_.before) {
      if (FindIn(e_.after, c.name) != nullptr) continue;
      int32_t scale = 0;
      plan_.cols.push_back(&c);
      plan_.repr.push_back(ReprFor(c, o_, &scale));
      plan_.scale.push_back(scale);
    }
  }
}

size_t PlanIndex(const ColumnPlan& p, const Column& c, size_t guess) {
  if (guess < p.cols.size() && p.cols[guess]->name == c.name) return guess;
  for (size_t i = 0; i < p.cols.size(); ++i) {
    if (p.cols[i]->name == c.name) return i;
  }
  return p.cols.size();
}

bool ValueEncoder::AppendRow(const std::vector<Column>& row, std::string* out, size_t* failed) {
  out->push_back('{');
  for (size_t i = 0; i < row.size(); ++i) {
    const Column& c = row[i];
    size_t k = PlanIndex(plan_, c, i);
    Repr r = k < plan_.repr.size() ? plan_.repr[k] : Repr::kString;
    if (i > 0) out->push_back(',');
    AppendJsonString(out, c.name, InvalidUtf8::kKeep);
    out->push_back(':');
    if (c.kind == Column::Kind::kNull) {
      out->append("null");
    } else if (c.kind == Column::Kind::kUnchangedToast) {
      AppendToast(r, out);
    } else if (!AppendValue(r, k < plan_.scale.size() ? plan_.scale[k] : 0, c, out, &scratch_)) {
      if (r == Repr::kString) {  // not UTF-8 text: carry it as binary
        plan_.repr[k] = Repr::kBinary;
      } else {
        plan_.repr[k] = Repr::kString;
      }
      *failed = k;
      return false;
    }
  }
  out->push_back('}');
  return true;
}

void ValueEncoder::AppendRowSchema(const char* field, std::string* out) {
  out->append("{\"type\":\"struct\",\"fields\":[");
  for (size_t i = 0; i < plan_.cols.size(); ++i) {
    if (i > 0) out->push_back(',');
    bool optional = std::find(e_.key_columns.begin(), e_.key_columns.end(), plan_.cols[i]->name) ==
                    e_.key_columns.end();
    AppendFieldSchema(plan_.repr[i], plan_.scale[i], *plan_.cols[i], optional, out);
  }
  out->append("],\"optional\":true,\"name\":");
  AppendJsonString(out, Prefix() + ".Value", InvalidUtf8::kKeep);
  out->append(",\"field\":\"");
  out->append(field);
  out->append("\"}");
}

void ValueEncoder::AppendSource(std::string* out) {
  int64_t us = e_.commit_time_us;
  out->append("{\"version\":");
  AppendJsonString(out, o_.connector_version, InvalidUtf8::kKeep);
  out->append(",\"connector\":\"postgresql\",\"name\":");
  AppendJsonString(out, e_.source, InvalidUtf8::kKeep);
  out->append(",\"ts_ms\":");
  AppendJsonInt(out, us / 1000 - (us % 1000 < 0 ? 1 : 0));
  out->append(",\"snapshot\":");
  out->append(e_.op == Op::kRead ? "\"true\"" : "\"false\"");
  out->append(",\"db\":");
  AppendJsonString(out, o_.database, InvalidUtf8::kKeep);
  out->append(",\"sequence\":\"[null,\\\"");
  AppendJsonInt(out, e_.position.lsn);
  out->append("\\\"]\",\"ts_us\":");
  AppendJsonInt(out, us);
  out->append(",\"ts_ns\":");
  if (us > INT64_MAX / 1000 || us < INT64_MIN / 1000) {
    out->append("null");
  } else {
    AppendJsonInt(out, us * 1000);
  }
  bool message = e_.op == Op::kMessage;
  out->append(",\"schema\":");
  AppendJsonString(out, e_.schema, InvalidUtf8::kKeep);
  out->append(",\"table\":");
  AppendJsonString(out, message ? std::string() : e_.table, InvalidUtf8::kKeep);
  out->append(",\"txId\":");
  AppendJsonInt(out, e_.xid);
  out->append(",\"lsn\":");
  AppendJsonInt(out, e_.position.lsn);
  out->append(",\"xmin\":null");
  auto extra = [&](const char* k, const std::string& v) {
    if (v.empty()) return;
    out->append(",\"");
    out->append(k);
    out->append("\":");
    AppendJsonString(out, v, InvalidUtf8::kKeep);
  };
  extra("origin", e_.origin);
  extra("delivery_id", e_.delivery_id);
  extra("correlation_id", e_.correlation_id);
  // One table of a multi-table TRUNCATE: "<index>/<count>/<option bits>"
  // (handoff's own field; Debezium sends one truncate record per table).
  if (e_.op == Op::kTruncate && e_.truncate_count > 0)
    extra("truncate", std::to_string(e_.truncate_index) + "/" + std::to_string(e_.truncate_count) + "/" +
                          std::to_string(e_.truncate_options));
  out->push_back('}');
}

constexpr std::string_view kSourceSchema =
    "{\"type\":\"struct\",\"fields\":[{\"type\":\"string\",\"optional\":false,\"field\":\"version\"},"
    "{\"type\":\"string\",\"optional\":false,\"field\":\"connector\"},"
    "{\"type\":\"string\",\"optional\":false,\"field\":\"name\"},"
    "{\"type\":\"int64\",\"optional\":false,\"field\":\"ts_ms\"},"
    "{\"type\":\"string\",\"optional\":true,\"name\":\"io.debezium.data.Enum\",\"version\":1,\"parameters\":"
    "{\"allowed\":\"true,first,first_in_data_collection,last_in_data_collection,last,false,incremental\"},"
    "\"default\":\"false\",\"field\":\"snapshot\"},"
    "{\"type\":\"string\",\"optional\":false,\"field\":\"db\"},"
    "{\"type\":\"string\",\"optional\":true,\"field\":\"sequence\"},"
    "{\"type\":\"int64\",\"optional\":true,\"field\":\"ts_us\"},"
    "{\"type\":\"int64\",\"optional\":true,\"field\":\"ts_ns\"},"
    "{\"type\":\"string\",\"optional\":false,\"field\":\"schema\"},"
    "{\"type\":\"string\",\"optional\":false,\"field\":\"table\"},"
    "{\"type\":\"int64\",\"optional\":true,\"field\":\"txId\"},"
    "{\"type\":\"int64\",\"optional\":true,\"field\":\"lsn\"},"
    "{\"type\":\"int64\",\"optional\":true,\"field\":\"xmin\"},"
    "{\"type\":\"string\",\"optional\":true,\"field\":\"origin\"},"
    "{\"type\":\"string\",\"optional\":true,\"field\":\"delivery_id\"},"
    "{\"type\":\"string\",\"optional\":true,\"field\":\"correlation_id\"},"
    "{\"type\":\"string\",\"optional\":true,\"field\":\"truncate\"}],"
    "\"optional\":false,\"name\":\"io.debezium.connector.postgresql.Source\",\"field\":\"source\"}";

constexpr std::string_view kTailSchema =
    "{\"type\":\"struct\",\"fields\":[{\"type\":\"string\",\"optional\":false,\"field\":\"id\"},"
    "{\"type\":\"int64\",\"optional\":false,\"field\":\"total_order\"},"
    "{\"type\":\"int64\",\"optional\":false,\"field\":\"data_collection_order\"}],"
    "\"optional\":true,\"name\":\"event.block\",\"version\":1,\"field\":\"transaction\"},"
    "{\"type\":\"string\",\"optional\":false,\"field\":\"op\"},"
    "{\"type\":\"int64\",\"optional\":true,\"field\":\"ts_ms\"},"
    "{\"type\":\"struct\",\"fields\":[{\"type\":\"string\",\"optional\":false,\"field\":\"prefix\"},"
    "{\"type\":\"bytes\",\"optional\":false,\"field\":\"content\"}],"
    "\"optional\":true,\"name\":\"io.debezium.connector.postgresql.Message\",\"field\":\"message\"}";

void ValueEncoder::AppendSchema(std::string* out) {
  out->append("{\"type\":\"struct\",\"fields\":[");
  AppendRowSchema("before", out);
  out->push_back(',');
  AppendRowSchema("after", out);
  out->push_back(',');
  out->append(kSourceSchema);
  out->push_back(',');
  out->append(kTailSchema);
  out->append("],\"optional\":false,\"name\":");
  AppendJsonString(out, Prefix() + ".Envelope", InvalidUtf8::kKeep);
  out->append(",\"version\":2}");
}

std::string ValueEncoder::Encode() {
  int64_t ms = e_.commit_time_us / 1000 - (e_.commit_time_us % 1000 < 0 ? 1 : 0);
  if (e_.op == Op::kCommit) {
    std::string out = "{\"status\":\"END\",\"id\":";
    AppendJsonString(&out, std::to_string(e_.xid) + ":" + std::to_string(e_.position.lsn), InvalidUtf8::kKeep);
    out.append(",\"ts_ms\":");
    AppendJsonInt(&out, ms);
    out.append(",\"event_count\":");
    AppendJsonInt(&out, e_.position.ordinal);
    out.append(",\"data_collections\":null}");
    return out;
  }
  Plan();
  for (size_t attempt = 0; attempt <= plan_.cols.size() + 1; ++attempt) {
    std::string payload = "{";
    size_t failed = 0;
    bool ok = true;
    if (e_.op != Op::kTruncate && e_.op != Op::kMessage) {
      payload.append("\"before\":");
      if (e_.has_before) ok = AppendRow(e_.before, &payload, &failed);
      else payload.append("null");
      if (!ok) continue;
      payload.append(",\"after\":");
      if (e_.op != Op::kDelete) ok = AppendRow(e_.after, &payload, &failed);
      else payload.append("null");
      if (!ok) continue;
      payload.push_back(',');
    }
    payload.append("\"source\":");
    AppendSource(&payload);
    if (o_.include_transaction_block && e_.position.ordinal != 0) {
      payload.append(",\"transaction\":{\"id\":");
      AppendJsonString(&payload, std::to_string(e_.xid) + ":" + std::to_string(e_.position.lsn), InvalidUtf8::kKeep);
      payload.append(",\"total_order\":");
      AppendJsonInt(&payload, e_.position.ordinal);
      payload.append(",\"data_collection_order\":");
      AppendJsonInt(&payload, e_.position.ordinal);
      payload.push_back('}');
    } else {
      payload.append(",\"transaction\":null");
    }
    static constexpr char kOps[] = "?cudtrmx";
    payload.append(",\"op\":\"");
    payload.push_back(kOps[static_cast<int>(e_.op)]);
    payload.append("\",\"ts_ms\":");
    AppendJsonInt(&payload, ms);
    if (e_.op == Op::kMessage) {
      const Column* content = e_.after.empty() ? nullptr : &e_.after[0];
      payload.append(",\"message\":{\"prefix\":");
      AppendJsonString(&payload, !e_.table.empty() ? e_.table : content ? content->name : std::string(), InvalidUtf8::kKeep);
      payload.append(",\"content\":\"");
      if (content) AppendBase64(&payload, content->data);
      payload.append("\"}");
    }
    payload.push_back('}');
    if (!o_.include_schema) return payload;
    std::string out = "{\"schema\":";
    AppendSchema(&out);
    out.append(",\"payload\":");
    out.append(payload);
    out.push_back('}');
    return out;
  }
  return "null";  // unreachable: every column can fall back to string/binary
}

std::string ValueEncoder::EncodeKey() {
  if (e_.key_columns.empty()) return "null";
  const std::vector<Column>& row = !e_.after.empty() ? e_.after : e_.before;
  std::vector<Column> key;
  for (const std::string& k : e_.key_columns) {
    const Column* c = FindIn(row, k);
    key.push_back(c ? *c : Column{k, 0, Column::Kind::kNull, {}});
  }
  for (const Column& c : key) {
    int32_t scale = 0;
    plan_.cols.push_back(&c);
    plan_.repr.push_back(ReprFor(c, o_, &scale));
    plan_.scale.push_back(scale);
  }
  for (size_t attempt = 0; attempt <= key.size() + 1; ++attempt) {
    std::string payload;
    size_t failed = 0;
    if (!AppendRow(key, &payload, &failed)) continue;
    if (!o_.include_schema) return payload;
    std::string out = "{\"schema\":{\"type\":\"struct\",\"fields\":[";
    for (size_t i = 0; i < key.size(); ++i) {
      if (i > 0) out.push_back(',');
      AppendFieldSchema(plan_.repr[i], plan_.scale[i], key[i], false, &out);
    }
    out.append("],\"optional\":false,\"name\":");
    AppendJsonString(&out, Prefix() + ".Key", InvalidUtf8::kKeep);
    out.append("},\"payload\":");
    out.append(payload);
    out.push_back('}');
    return out;
  }
  return "null";
}

}  // namespace

std::string EncodeDebezium(const ChangeEvent& event, const DebeziumEncodeOptions& options) {
  // The PostgreSQL connector has no schema-change records: the next change
  // carries the new shape (in its schema, with include_schema).
  if (event.op == Op::kSchema) return std::string();
  std::string value = ValueEncoder(event, options).Encode();
  if (!options.include_key) return value;
  std::string out = "{\"key\":";
  out.append(EncodeDebeziumKey(event, options));
  out.append(",\"value\":");
  out.append(value);
  out.push_back('}');
  return out;
}

std::string EncodeDebeziumKey(const ChangeEvent& event, const DebeziumEncodeOptions& options) {
  return ValueEncoder(event, options).EncodeKey();
}

}  // namespace handoff
