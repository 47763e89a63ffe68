#include "handoff/canonical/entity_codec.h"

#include "record_codec.h"

namespace handoff {

std::string EncodeEntityState(const conflict::EntityState& s) {
  std::string out = "ES1;";
  PutStr(&out, s.entity);
  PutStr(&out, s.key);
  PutNum(&out, s.exists);
  PutNum(&out, s.deleted);
  PutNum(&out, s.deleted_at_us);
  PutProv(&out, s.deleted_by);
  PutNum(&out, s.locked);
  PutNum(&out, static_cast<int64_t>(s.fields.size()));
  for (const auto& [name, f] : s.fields) {
    PutStr(&out, name);
    PutOpt(&out, f.value);
    PutProv(&out, f.provenance);
  }
  PutNum(&out, static_cast<int64_t>(s.xrefs.size()));
  for (const Xref& x : s.xrefs) {
    PutStr(&out, x.system);
    PutStr(&out, x.object);
    PutStr(&out, x.id);
  }
  return out;
}

bool DecodeEntityState(const std::string& data, conflict::EntityState* s) {
  if (data.rfind("ES1;", 0) != 0) return false;
  RecordReader r{data, 4};
  conflict::EntityState st;
  st.entity = r.Str();
  st.key = r.Str();
  st.exists = r.Num() != 0;
  st.deleted = r.Num() != 0;
  st.deleted_at_us = r.Num();
  st.deleted_by = r.Prov();
  st.locked = r.Num() != 0;
  int64_t n = r.Num();
  for (int64_t i = 0; r.ok && i < n; ++i) {
    std::string name = r.Str();
    conflict::FieldState f;
    f.value = r.Opt();
    f.provenance = r.Prov();
    st.fields[name] = std::move(f);
  }
  int64_t nx = r.Num();
  for (int64_t i = 0; r.ok && i < nx; ++i) {
    Xref x;
    x.system = r.Str();
    x.object = r.Str();
    x.id = r.Str();
    st.xrefs.push_back(std::move(x));
  }
  if (!r.ok || r.i != data.size()) return false;
  *s = std::move(st);
  return true;
}

}  // namespace handoff
