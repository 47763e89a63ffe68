#include "debezium/pg_types.h"

#include <cctype>

namespace handoff::dbz {
namespace {

struct TypeRow {
  uint32_t oid;
  const char* name;
  uint32_t array_oid;
};

constexpr TypeRow kTypes[] = {
    {16, "BOOL", 1000},       {17, "BYTEA", 1001},      {18, "CHAR", 1002},        {19, "NAME", 1003},
    {20, "INT8", 1016},       {21, "INT2", 1005},       {23, "INT4", 1007},        {25, "TEXT", 1009},
    {26, "OID", 1028},        {114, "JSON", 199},       {142, "XML", 143},         {700, "FLOAT4", 1021},
    {701, "FLOAT8", 1022},    {790, "MONEY", 791},      {1042, "BPCHAR", 1014},    {1043, "VARCHAR", 1015},
    {1082, "DATE", 1182},     {1083, "TIME", 1183},     {1114, "TIMESTAMP", 1115}, {1184, "TIMESTAMPTZ", 1185},
    {1186, "INTERVAL", 1187}, {1266, "TIMETZ", 1270},   {1560, "BIT", 1561},       {1562, "VARBIT", 1563},
    {1700, "NUMERIC", 1231},  {2950, "UUID", 2951},     {3802, "JSONB", 3807},     {869, "INET", 1041},
    {650, "CIDR", 651},       {829, "MACADDR", 1040},   {3614, "TSVECTOR", 3643},  {600, "POINT", 1017},
};

struct Alias {
  const char* name;
  uint32_t oid;
};
constexpr Alias kAliases[] = {
    {"BOOLEAN", 16},  {"SERIAL", 23},   {"BIGSERIAL", 20}, {"SMALLSERIAL", 21}, {"INTEGER", 23},
    {"BIGINT", 20},   {"SMALLINT", 21}, {"REAL", 700},     {"DECIMAL", 1700},   {"CHARACTER VARYING", 1043},
    {"CHARACTER", 1042}, {"DOUBLE PRECISION", 701},
};

bool EqualsUpper(std::string_view a, const char* b) {
  size_t i = 0;
  for (; i < a.size(); ++i) {
    if (b[i] == '\0' || std::toupper(static_cast<unsigned char>(a[i])) != b[i]) return false;
  }
  return b[i] == '\0';
}

}  // namespace

uint32_t OidForTypeName(std::string_view name) {
  bool array = !name.empty() && name[0] == '_';
  std::string_view base = array ? name.substr(1) : name;
  for (const auto& t : kTypes) {
    if (EqualsUpper(base, t.name)) return array ? t.array_oid : t.oid;
  }
  if (!array) {
    for (const auto& a : kAliases) {
      if (EqualsUpper(base, a.name)) return a.oid;
    }
  }
  return 0;
}

const char* TypeNameForOid(uint32_t oid) {
  static constexpr const char* kArrayNames[] = {
      "_BOOL",   "_BYTEA", "_CHAR",   "_NAME",        "_INT8",     "_INT2",   "_INT4",   "_TEXT",
      "_OID",    "_JSON",  "_XML",    "_FLOAT4",      "_FLOAT8",   "_MONEY",  "_BPCHAR", "_VARCHAR",
      "_DATE",   "_TIME",  "_TIMESTAMP", "_TIMESTAMPTZ", "_INTERVAL", "_TIMETZ", "_BIT",    "_VARBIT",
      "_NUMERIC", "_UUID", "_JSONB",  "_INET",        "_CIDR",     "_MACADDR", "_TSVECTOR", "_POINT"};
  static_assert(sizeof(kArrayNames) / sizeof(kArrayNames[0]) == sizeof(kTypes) / sizeof(kTypes[0]));
  for (size_t i = 0; i < sizeof(kTypes) / sizeof(kTypes[0]); ++i) {
    if (kTypes[i].oid == oid) return kTypes[i].name;
    if (kTypes[i].array_oid == oid) return kArrayNames[i];
  }
  return nullptr;
}

uint32_t ArrayElementOid(uint32_t array_oid) {
  for (const auto& t : kTypes) {
    if (t.array_oid == array_oid) return t.oid;
  }
  return 0;
}

uint32_t ArrayOidForElement(uint32_t element_oid) {
  for (const auto& t : kTypes) {
    if (t.oid == element_oid) return t.array_oid;
  }
  return 0;
}

}  // namespace handoff::dbz
