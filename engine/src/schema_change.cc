#include "handoff/engine/schema_change.h"

#include <fmt/format.h>

namespace handoff {

SchemaDiff DiffSchema(const ChangeEvent& e) {
  SchemaDiff d;
  for (const Column& c : e.after) {
    const Column* old = e.FindBefore(c.name);
    if (old == nullptr) d.added.push_back(&c);
    else if (old->data != c.data || old->type_oid != c.type_oid)
      d.retyped.push_back({c.name, old->data, c.data, c.type_oid});
  }
  for (const Column& c : e.before)
    if (e.FindAfter(c.name) == nullptr) d.dropped.push_back(c.name);
  return d;
}

std::string DescribeSchemaChange(const ChangeEvent& e) {
  SchemaDiff d = DiffSchema(e);
  std::string out;
  auto part = [&](const std::string& s) { out += (out.empty() ? "" : "; ") + s; };
  for (const Column* c : d.added) part(fmt::format("added {} ({})", c->name, c->data));
  for (const auto& name : d.dropped) part("dropped " + name);
  for (const auto& r : d.retyped) part(fmt::format("{} is now {} (was {})", r.name, r.new_type, r.old_type));
  if (out.empty()) out = "no column changed (key or order only)";
  return out;
}

}  // namespace handoff
