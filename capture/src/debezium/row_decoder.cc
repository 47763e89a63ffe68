#include "debezium/row_decoder.h"

#include <charconv>
#include <cstdio>

#include "debezium/decimal_codec.h"
#include "debezium/pg_types.h"
#include "debezium/temporal_codec.h"
#include "handoff/capture/debezium.h"
#include "handoff/engine/text_codec.h"

namespace handoff::dbz {
namespace od = simdjson::ondemand;
namespace {

constexpr int kMaxValueDepth = 32;
// base64 of "__debezium_unavailable_value": the placeholder in a bytes field.
constexpr std::string_view kToastBase64 = "X19kZWJleml1bV91bmF2YWlsYWJsZV92YWx1ZQ==";

Status ColErr(const Column& c, std::string_view what) {
  return Status::InvalidArgument("column \"" + c.name + "\": " + std::string(what));
}

void SetText(Column* c, uint32_t oid, std::string_view text) {
  c->type_oid = oid;
  c->kind = Column::Kind::kText;
  c->data.assign(text);
}

// (A char, not a literal: GCC 12 -O3 warns falsely on assigning short literals.)
void SetBool(Column* c, uint32_t oid, bool b) {
  c->type_oid = oid;
  c->kind = Column::Kind::kText;
  c->data.assign(1, b ? 't' : 'f');
}

void SetToast(Column* c, uint32_t oid) {
  c->type_oid = oid;
  c->kind = Column::Kind::kUnchangedToast;
  c->data.clear();
}

std::string_view TrimRight(std::string_view s) {
  while (!s.empty() && (s.back() == ' ' || s.back() == '\n' || s.back() == '\r' || s.back() == '\t')) {
    s.remove_suffix(1);
  }
  return s;
}

bool NeedsArrayQuotes(std::string_view s) {
  if (s.empty()) return true;
  if (s.size() == 4 && (s[0] == 'N' || s[0] == 'n') && (s[1] == 'U' || s[1] == 'u') && (s[2] == 'L' || s[2] == 'l') &&
      (s[3] == 'L' || s[3] == 'l')) {
    return true;
  }
  for (char c : s) {
    if (c == '{' || c == '}' || c == ',' || c == '"' || c == '\\' || c == ' ' || c == '\t' || c == '\n' ||
        c == '\r' || c == '\v' || c == '\f') {
      return true;
    }
  }
  return false;
}

void AppendArrayElement(std::string_view s, std::string* out) {
  if (!NeedsArrayQuotes(s)) {
    out->append(s);
    return;
  }
  out->push_back('"');
  for (char c : s) {
    if (c == '"' || c == '\\') out->push_back('\\');
    out->push_back(c);
  }
  out->push_back('"');
}

// "[-]HH:MM:SS[.ffffff]" for a MicroDuration (hours unbounded).
void AppendMicroDuration(int64_t us, std::string* out) {
  uint64_t mag = us < 0 ? 0 - static_cast<uint64_t>(us) : static_cast<uint64_t>(us);
  char buf[64];
  uint64_t s = mag / 1000000;
  std::snprintf(buf, sizeof buf, "%s%02llu:%02llu:%02llu", us < 0 ? "-" : "",
                static_cast<unsigned long long>(s / 3600), static_cast<unsigned long long>(s / 60 % 60),
                static_cast<unsigned long long>(s % 60));
  out->append(buf);
  if (mag % 1000000) {
    std::snprintf(buf, sizeof buf, ".%06llu", static_cast<unsigned long long>(mag % 1000000));
    std::string_view f(buf);
    while (f.back() == '0') f.remove_suffix(1);
    out->append(f);
  }
}

// Converts a string-typed value (the placeholder has been handled).
Status FromString(std::string_view sv, const FieldSchema& s, std::string* scratch, Column* c) {
  switch (s.type) {
    case ConnectType::kString:
    case ConnectType::kUnknown:
      if (s.semantic == Semantic::kZonedTimestamp) {
        int64_t secs;
        uint32_t nanos;
        c->data.clear();
        if (!ParseIsoTimestamp(sv, &secs, &nanos) || !AppendPgTimestamp(secs, nanos, true, &c->data)) {
          return ColErr(*c, "invalid io.debezium.time.ZonedTimestamp \"" + std::string(sv) + "\"");
        }
        c->type_oid = s.oid;
        c->kind = Column::Kind::kText;
        return Status::OK();
      }
      if (s.semantic == Semantic::kZonedTime && !sv.empty() && sv.back() == 'Z') {
        int64_t ns;
        if (!ParsePgTime(sv.substr(0, sv.size() - 1), &ns)) return ColErr(*c, "invalid io.debezium.time.ZonedTime");
        SetText(c, s.oid, sv.substr(0, sv.size() - 1));
        c->data.append("+00");
        return Status::OK();
      }
      SetText(c, s.oid, sv);
      return Status::OK();
    case ConnectType::kBytes:
      if (!Base64Decode(sv, scratch)) return ColErr(*c, "invalid base64");
      if (s.semantic == Semantic::kDecimal) {
        c->type_oid = s.oid;
        c->kind = Column::Kind::kText;
        if (!UnscaledToDecimal(*scratch, s.scale, &c->data)) return ColErr(*c, "invalid decimal bytes");
        return Status::OK();
      }
      if (s.binary) {
        c->type_oid = s.oid;
        c->kind = Column::Kind::kBinary;
        c->data.swap(*scratch);
        return Status::OK();
      }
      c->type_oid = s.oid;
      c->kind = Column::Kind::kText;
      c->data.clear();
      AppendByteaHex(*scratch, &c->data);
      return Status::OK();
    case ConnectType::kFloat32:
    case ConnectType::kFloat64:
      if (sv == "NaN" || sv == "Infinity" || sv == "-Infinity") {
        SetText(c, s.oid, sv);
        return Status::OK();
      }
      return ColErr(*c, "expected a number, got a string");
    default:
      return ColErr(*c, "string value for a non-string schema type");
  }
}

Status FromInteger(int64_t v, const FieldSchema& s, Column* c) {
  c->type_oid = s.oid;
  c->kind = Column::Kind::kText;
  c->data.clear();
  bool ok = true;
  switch (s.semantic) {
    case Semantic::kDate:
      if (v < -100000000 || v > 100000000) return ColErr(*c, "date out of range");
      AppendPgDate(v, &c->data);
      return Status::OK();
    case Semantic::kTimeMillis:
      ok = v >= 0 && v <= 86400000LL && AppendPgTime(v * 1000000, &c->data);
      break;
    case Semantic::kTimeMicros:
      ok = v >= 0 && v <= 86400000000LL && AppendPgTime(v * 1000, &c->data);
      break;
    case Semantic::kTimeNanos:
      ok = AppendPgTime(v, &c->data);
      break;
    case Semantic::kTimestampMillis:
    case Semantic::kTimestampMicros:
    case Semantic::kTimestampNanos: {
      int64_t per = s.semantic == Semantic::kTimestampMillis   ? 1000
                    : s.semantic == Semantic::kTimestampMicros ? 1000000
                                                               : 1000000000;
      int64_t secs;
      uint32_t nanos;
      SplitEpoch(v, per, &secs, &nanos);
      ok = AppendPgTimestamp(secs, nanos, false, &c->data);
      break;
    }
    case Semantic::kMicroDuration:
      AppendMicroDuration(v, &c->data);
      return Status::OK();
    default: {
      int64_t lo = INT64_MIN, hi = INT64_MAX;
      if (s.type == ConnectType::kInt8) lo = -128, hi = 127;
      if (s.type == ConnectType::kInt16) lo = -32768, hi = 32767;
      if (s.type == ConnectType::kInt32) lo = INT32_MIN, hi = INT32_MAX;
      if (v < lo || v > hi) return ColErr(*c, "integer out of range for its schema type");
      char buf[24];
      auto r = std::to_chars(buf, buf + sizeof buf, v);
      c->data.assign(buf, r.ptr);
      return Status::OK();
    }
  }
  if (!ok) return ColErr(*c, "temporal value out of range");
  return Status::OK();
}

}  // namespace

Status RowDecoder::DecodeRow(od::object row, const FieldSchema* schema, std::vector<Column>* out) {
  size_t hint = 0;
  for (auto member : row) {
    od::field f;
    if (std::move(member).get(f) != simdjson::SUCCESS) return Status::InvalidArgument("malformed row member");
    std::string_view key;
    if (f.unescaped_key().get(key) != simdjson::SUCCESS) return Status::InvalidArgument("malformed column name");
    out->emplace_back();
    Column& c = out->back();
    c.name.assign(key);
    const FieldSchema* fs = schema != nullptr ? schema->Find(key, &hint) : nullptr;
    HANDOFF_RETURN_IF_ERROR(DecodeValue(f.value(), fs, 0, &c));
  }
  return Status::OK();
}

Status RowDecoder::DecodeValue(od::value v, const FieldSchema* s, int depth, Column* c) {
  if (depth > kMaxValueDepth) return ColErr(*c, "value nested too deeply");
  od::json_type jt;
  if (v.type().get(jt) != simdjson::SUCCESS) return ColErr(*c, "malformed value");
  if (jt == od::json_type::null) {
    bool is_null = false;
    if (v.is_null().get(is_null) != simdjson::SUCCESS || !is_null) return ColErr(*c, "malformed literal");
    c->type_oid = s != nullptr ? s->oid : 0;
    c->kind = Column::Kind::kNull;
    c->data.clear();
    return Status::OK();
  }
  if (jt == od::json_type::string) {
    std::string_view sv;
    if (v.get_string().get(sv) != simdjson::SUCCESS) return ColErr(*c, "malformed string");
    if (sv == kDebeziumUnavailableValue || (s != nullptr && s->type == ConnectType::kBytes && sv == kToastBase64)) {
      SetToast(c, s != nullptr ? s->oid : 0);
      return Status::OK();
    }
    if (s == nullptr) {
      SetText(c, pg_oid::kText, sv);
      return Status::OK();
    }
    return FromString(sv, *s, &scratch_, c);
  }
  if (s == nullptr || s->type == ConnectType::kUnknown) return DecodeInferred(v, jt, c);
  return DecodeTyped(v, jt, *s, depth, c);
}

Status RowDecoder::DecodeTyped(od::value v, od::json_type jt, const FieldSchema& s, int depth, Column* c) {
  switch (s.type) {
    case ConnectType::kInt8:
    case ConnectType::kInt16:
    case ConnectType::kInt32:
    case ConnectType::kInt64: {
      if (jt != od::json_type::number) return ColErr(*c, "expected an integer");
      int64_t x;
      if (v.get_int64().get(x) != simdjson::SUCCESS) return ColErr(*c, "expected a 64-bit integer");
      return FromInteger(x, s, c);
    }
    case ConnectType::kFloat32:
    case ConnectType::kFloat64:
    case ConnectType::kBytes:  // Decimal with decimal.format=NUMERIC
    case ConnectType::kString: {
      if (jt != od::json_type::number || (s.type != ConnectType::kFloat32 && s.type != ConnectType::kFloat64 &&
                                          s.semantic != Semantic::kDecimal)) {
        return ColErr(*c, "value does not match its schema type");
      }
      std::string_view lit = TrimRight(v.raw_json_token());
      if (!IsJsonNumber(lit)) return ColErr(*c, "malformed number");
      SetText(c, s.oid, lit);
      return Status::OK();
    }
    case ConnectType::kBoolean: {
      bool b;
      if (jt != od::json_type::boolean || v.get_bool().get(b) != simdjson::SUCCESS) {
        return ColErr(*c, "expected a boolean");
      }
      SetBool(c, s.oid, b);
      return Status::OK();
    }
    case ConnectType::kArray:
      if (jt != od::json_type::array) return ColErr(*c, "expected an array");
      return DecodeArray(v, s, depth, c);
    case ConnectType::kStruct:
    case ConnectType::kMap: {
      if (jt != od::json_type::object) return ColErr(*c, "expected an object");
      if (s.semantic == Semantic::kVariableScaleDecimal) return DecodeVariableScale(v, c);
      od::object o;
      std::string_view raw;
      if (v.get_object().get(o) != simdjson::SUCCESS || o.raw_json().get(raw) != simdjson::SUCCESS) {
        return ColErr(*c, "malformed object");
      }
      SetText(c, s.oid, raw);
      return Status::OK();
    }
    default:
      return DecodeInferred(v, jt, c);
  }
}

Status RowDecoder::DecodeInferred(od::value v, od::json_type jt, Column* c) {
  switch (jt) {
    case od::json_type::number: {
      std::string_view lit = TrimRight(v.raw_json_token());
      if (!IsJsonNumber(lit)) return ColErr(*c, "malformed number");
      bool integer = lit.find_first_of(".eE") == std::string_view::npos;
      SetText(c, integer ? pg_oid::kInt8 : pg_oid::kNumeric, lit);
      return Status::OK();
    }
    case od::json_type::boolean: {
      bool b;
      if (v.get_bool().get(b) != simdjson::SUCCESS) return ColErr(*c, "malformed boolean");
      SetBool(c, pg_oid::kBool, b);
      return Status::OK();
    }
    case od::json_type::object: {
      od::object o;
      std::string_view raw;
      if (v.get_object().get(o) != simdjson::SUCCESS || o.raw_json().get(raw) != simdjson::SUCCESS) {
        return ColErr(*c, "malformed object");
      }
      SetText(c, pg_oid::kJsonb, raw);
      return Status::OK();
    }
    case od::json_type::array: {
      od::array a;
      std::string_view raw;
      if (v.get_array().get(a) != simdjson::SUCCESS || a.raw_json().get(raw) != simdjson::SUCCESS) {
        return ColErr(*c, "malformed array");
      }
      std::string compact;
      for (char ch : raw) {
        if (ch != ' ' && ch != '\n' && ch != '\r' && ch != '\t') compact.push_back(ch);
        if (compact.size() > 40) break;
      }
      if (compact == "[\"__debezium_unavailable_value\"]") {
        SetToast(c, 0);
      } else {
        SetText(c, pg_oid::kJsonb, raw);
      }
      return Status::OK();
    }
    default:
      return ColErr(*c, "unexpected JSON value");
  }
}

Status RowDecoder::DecodeArray(od::value v, const FieldSchema& s, int depth, Column* c) {
  od::array arr;
  if (v.get_array().get(arr) != simdjson::SUCCESS) return ColErr(*c, "malformed array");
  const FieldSchema* items = s.children.empty() ? nullptr : &s.children[0];
  std::string text = "{";
  size_t count = 0;
  bool placeholder = false;
  Column el;
  for (auto item : arr) {
    od::value ev;
    if (std::move(item).get(ev) != simdjson::SUCCESS) return ColErr(*c, "malformed array element");
    el.name = c->name;
    HANDOFF_RETURN_IF_ERROR(DecodeValue(ev, items, depth + 1, &el));
    if (count++ > 0) text.push_back(',');
    if (el.kind == Column::Kind::kNull) {
      text.append("NULL");
    } else if (el.kind == Column::Kind::kUnchangedToast) {
      placeholder = true;
      text.append(kDebeziumUnavailableValue);
    } else if (items != nullptr && items->type == ConnectType::kArray) {
      text.append(el.data);  // a nested array literal goes in unquoted
    } else {
      AppendArrayElement(el.data, &text);
    }
  }
  text.push_back('}');
  if (count == 1 && placeholder) {
    SetToast(c, s.oid);
    return Status::OK();
  }
  c->type_oid = s.oid;
  c->kind = Column::Kind::kText;
  c->data.swap(text);
  return Status::OK();
}

Status RowDecoder::DecodeVariableScale(od::value v, Column* c) {
  od::object o;
  if (v.get_object().get(o) != simdjson::SUCCESS) return ColErr(*c, "malformed VariableScaleDecimal");
  int64_t scale = 0;
  bool have_scale = false, have_value = false, toast = false;
  for (auto member : o) {
    od::field f;
    std::string_view key;
    if (std::move(member).get(f) != simdjson::SUCCESS || f.unescaped_key().get(key) != simdjson::SUCCESS) {
      return ColErr(*c, "malformed VariableScaleDecimal");
    }
    if (key == "scale") {
      if (f.value().get_int64().get(scale) != simdjson::SUCCESS) return ColErr(*c, "scale must be an integer");
      have_scale = true;
    } else if (key == "value") {
      std::string_view b64;
      if (f.value().get_string().get(b64) != simdjson::SUCCESS) return ColErr(*c, "value must be a base64 string");
      toast = b64 == kToastBase64 || b64 == kDebeziumUnavailableValue;
      if (!toast && !Base64Decode(b64, &scratch_)) return ColErr(*c, "invalid base64");
      have_value = true;
    }
  }
  if (!have_value || (!have_scale && !toast)) return ColErr(*c, "VariableScaleDecimal needs scale and value");
  if (toast) {
    SetToast(c, pg_oid::kNumeric);
    return Status::OK();
  }
  if (scale < -kMaxDecimalScale || scale > kMaxDecimalScale) return ColErr(*c, "decimal scale out of range");
  c->type_oid = pg_oid::kNumeric;
  c->kind = Column::Kind::kText;
  if (!UnscaledToDecimal(scratch_, static_cast<int32_t>(scale), &c->data)) return ColErr(*c, "invalid decimal bytes");
  return Status::OK();
}

}  // namespace handoff::dbz
