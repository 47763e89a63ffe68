#include "entity_json.h"

#include <fmt/format.h>

#include "handoff/engine/json_text.h"

namespace handoff {
namespace {

void JsonStr(std::string* out, const std::string& s) { AppendJsonString(out, s); }
void JsonOpt(std::string* out, const std::optional<std::string>& s) {
  if (s) JsonStr(out, *s);
  else *out += "null";
}

}  // namespace

std::string AuditJson(const conflict::AuditRecord& a) {
  std::string j = "{\"entity\":";
  JsonStr(&j, a.entity);
  j += ",\"key\":";
  JsonStr(&j, a.key);
  j += ",\"system\":";
  JsonStr(&j, a.system);
  j += fmt::format(",\"seq\":{},\"field\":", a.seq);
  JsonStr(&j, a.field);
  j += ",\"before\":";
  JsonOpt(&j, a.before);
  j += ",\"incoming\":";
  JsonOpt(&j, a.incoming);
  j += ",\"current\":";
  JsonOpt(&j, a.current);
  j += ",\"result\":";
  JsonOpt(&j, a.result);
  j += ",\"policy\":";
  JsonStr(&j, std::string(conflict::PolicyName(a.policy)));
  j += ",\"outcome\":";
  JsonStr(&j, std::string(conflict::FieldOutcomeName(a.outcome)));
  j += fmt::format(",\"conflict\":{},\"reason\":", a.conflict ? "true" : "false");
  JsonStr(&j, a.reason);
  j += "}";
  return j;
}

std::string FieldMapJson(const FieldMap& m) {
  std::string j = "{";
  for (const auto& [k, v] : m) {
    if (j.size() > 1) j += ',';
    AppendJsonString(&j, k);
    j += ':';
    if (v) AppendJsonString(&j, *v);
    else j += "null";
  }
  return j + "}";
}

std::string EntityStateJson(const conflict::EntityState& s) {
  FieldMap m;
  for (const auto& [f, fs] : s.fields) m[f] = fs.value;
  std::string j = "{\"key\":";
  AppendJsonString(&j, s.key);
  j += fmt::format(",\"deleted\":{},\"locked\":{},\"fields\":", s.deleted ? "true" : "false",
                   s.locked ? "true" : "false");
  return j + FieldMapJson(m) + "}";
}

}  // namespace handoff
