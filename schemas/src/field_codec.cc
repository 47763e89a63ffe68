#include "field_codec.h"

#include "handoff/engine/decimal.h"
#include "handoff/schemas/pg_text.h"

namespace handoff::schemas {

Result<std::string> FieldCodec::ToCanonical(FieldType type, std::string_view text) {
  switch (type) {
    case FieldType::kString:
    case FieldType::kText:
    case FieldType::kEnum:
    case FieldType::kRef:
      if (Utf8Length(text) < 0) return Status::InvalidArgument("the text is not valid UTF-8");
      return std::string(text);
    case FieldType::kInt64:
      return PgText::ToInt64(text);
    case FieldType::kDecimal:
    case FieldType::kMoney: {
      auto d = Decimal::Parse(text);
      if (!d.ok()) return d.status();
      return d->ToString();
    }
    case FieldType::kDate:
      return PgText::ToDate(text);
    case FieldType::kInstant:
      return PgText::ToInstant(text);
    case FieldType::kBool:
      return PgText::ToBool(text);
  }
  return Status::Internal("unknown field type");
}

Result<std::string> FieldCodec::ToCanonical(const FieldDef& field, std::string_view text) {
  if ((field.type == FieldType::kDecimal || field.type == FieldType::kMoney) && field.scale >= 0) {
    auto d = Decimal::Parse(text);
    if (!d.ok()) return d.status();
    auto r = d->Rescale(field.scale, Decimal::Rounding::kExact);
    if (!r.ok()) return r.status();
    return r->ToString();
  }
  if (field.type == FieldType::kEnum) {
    for (const auto& v : field.enum_values) {
      if (v == text) return v;
    }
    std::string list;
    for (const auto& v : field.enum_values) list += (list.empty() ? "" : ", ") + v;
    return Status::InvalidArgument("\"" + std::string(text.substr(0, 64)) + "\" is not one of: " + list);
  }
  return ToCanonical(field.type, text);
}

Result<std::string> FieldCodec::ToPg(FieldType type, std::string_view canonical) {
  auto c = ToCanonical(type, canonical);
  if (!c.ok()) return c.status();
  if (type == FieldType::kInstant) return PgText::InstantToPg(*c);
  if (type == FieldType::kBool) return PgText::BoolToPg(*c);
  return c;
}

std::string FieldCodec::CanonicalToPg(FieldType type, std::string_view canonical) {
  if (type == FieldType::kBool) return PgText::BoolToPg(canonical);
  if (type == FieldType::kInstant) {
    // "YYYY-MM-DDTHH:MM:SS[.ffffff]Z" -> "YYYY-MM-DD HH:MM:SS[.ffffff]+00"
    if (canonical.size() >= 20 && canonical[10] == 'T' && canonical.back() == 'Z') {
      std::string s(canonical.substr(0, canonical.size() - 1));
      s[10] = ' ';
      return s + "+00";
    }
    auto pg = PgText::InstantToPg(canonical);
    return pg.ok() ? *pg : std::string(canonical);
  }
  return std::string(canonical);
}

uint32_t FieldCodec::PgOid(FieldType type) {
  switch (type) {
    case FieldType::kInt64: return pg_oid::kInt8;
    case FieldType::kDecimal:
    case FieldType::kMoney: return pg_oid::kNumeric;
    case FieldType::kDate: return pg_oid::kDate;
    case FieldType::kInstant: return pg_oid::kTimestamptz;
    case FieldType::kBool: return pg_oid::kBool;
    default: return pg_oid::kText;
  }
}

bool FieldCodec::Ordered(FieldType type) {
  return type == FieldType::kInt64 || type == FieldType::kDecimal || type == FieldType::kMoney ||
         type == FieldType::kDate || type == FieldType::kInstant;
}

int FieldCodec::Compare(FieldType type, const std::string& a, const std::string& b) {
  switch (type) {
    case FieldType::kInt64:
    case FieldType::kDecimal:
    case FieldType::kMoney: {
      auto da = Decimal::Parse(a);
      auto db = Decimal::Parse(b);
      if (!da.ok() || !db.ok()) return a.compare(b) < 0 ? -1 : (a == b ? 0 : 1);
      return da->Compare(*db);
    }
    case FieldType::kInstant: {
      auto ia = PgText::InstantMicros(a);
      auto ib = PgText::InstantMicros(b);
      if (!ia.ok() || !ib.ok()) break;
      return *ia < *ib ? -1 : (*ia == *ib ? 0 : 1);
    }
    default:
      break;
  }
  int c = a.compare(b);  // ISO dates order as text
  return c < 0 ? -1 : (c == 0 ? 0 : 1);
}

long FieldCodec::Utf8Length(std::string_view s) {
  long n = 0;
  for (size_t i = 0; i < s.size();) {
    unsigned char c = static_cast<unsigned char>(s[i]);
    size_t len = c < 0x80 ? 1 : (c >> 5) == 0x6 ? 2 : (c >> 4) == 0xE ? 3 : (c >> 3) == 0x1E ? 4 : 0;
    if (len == 0 || i + len > s.size()) return -1;
    for (size_t k = 1; k < len; ++k) {
      if ((static_cast<unsigned char>(s[i + k]) & 0xC0) != 0x80) return -1;
    }
    i += len;
    ++n;
  }
  return n;
}

}  // namespace handoff::schemas

namespace handoff::schemas {

namespace {
constexpr std::pair<FieldType, const char*> kTypeNames[] = {
    {FieldType::kString, "string"}, {FieldType::kText, "text"},       {FieldType::kInt64, "int64"},
    {FieldType::kDecimal, "decimal"}, {FieldType::kMoney, "money"},   {FieldType::kDate, "date"},
    {FieldType::kInstant, "instant"}, {FieldType::kBool, "bool"},     {FieldType::kEnum, "enum"},
    {FieldType::kRef, "ref"},
};
}  // namespace

std::optional<FieldType> ParseFieldType(const std::string& name) {
  for (const auto& [t, n] : kTypeNames) {
    if (name == n) return t;
  }
  return std::nullopt;
}

const char* FieldTypeName(FieldType type) {
  for (const auto& [t, n] : kTypeNames) {
    if (t == type) return n;
  }
  return "?";
}

}  // namespace handoff::schemas
