#include "handoff/canonical/entity_codec.h"

#include <string_view>
#include <vector>

#include "handoff/engine/varint.h"
#include "record_codec.h"

namespace handoff {

namespace {

constexpr std::string_view kStateV2 = "ES2";
// Version 3: version 2 followed by the routine trace steps (a string). Written
// only when there are some, so a state without them stays version 2.
constexpr std::string_view kStateV3 = "ES3";

void PutProvenance(std::string* out, const conflict::FieldProvenance& p) {
  PutString(out, p.system);
  PutVarint(out, ZigZag(p.source_time_us));
  PutVarint(out, p.seq);
}

bool GetProvenance(ByteReader* r, conflict::FieldProvenance* p) {
  uint64_t t = 0;
  if (!r->String(&p->system) || !r->Varint(&t) || !r->Varint(&p->seq)) return false;
  p->source_time_us = UnZigZag(t);
  return true;
}

// Version 1: length-prefixed decimal text (journals written before ES2).
bool DecodeStateV1(const std::string& data, conflict::EntityState* s) {
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

}  // namespace

std::string EncodeEntityState(const conflict::EntityState& s) {
  // Most fields of a state share one provenance (the change that set them):
  // each distinct provenance is written once and fields refer to it by index.
  std::vector<const conflict::FieldProvenance*> provs;
  auto index_of = [&](const conflict::FieldProvenance& p) -> uint64_t {
    for (size_t i = 0; i < provs.size(); ++i)
      if (*provs[i] == p) return i;
    provs.push_back(&p);
    return provs.size() - 1;
  };
  std::string fields;
  PutVarint(&fields, s.fields.size());
  for (const auto& [name, f] : s.fields) {
    PutString(&fields, name);
    if (f.value) {
      fields.push_back(1);
      PutString(&fields, *f.value);
    } else {
      fields.push_back(0);
    }
    PutVarint(&fields, index_of(f.provenance));
  }
  std::string out(s.trace_tail.empty() ? kStateV2 : kStateV3);
  out.reserve(64 + fields.size() + s.key.size() + s.trace_tail.size());
  PutVarint(&out, (s.exists ? 1u : 0u) | (s.deleted ? 2u : 0u) | (s.locked ? 4u : 0u));
  PutString(&out, s.entity);
  PutString(&out, s.key);
  if (s.deleted) {
    PutVarint(&out, ZigZag(s.deleted_at_us));
    PutProvenance(&out, s.deleted_by);
  }
  PutVarint(&out, provs.size());
  for (const auto* p : provs) PutProvenance(&out, *p);
  out += fields;
  PutVarint(&out, s.xrefs.size());
  for (const Xref& x : s.xrefs) {
    PutString(&out, x.system);
    PutString(&out, x.object);
    PutString(&out, x.id);
  }
  PutVarint(&out, s.held_by.size());
  for (const std::string& h : s.held_by) PutString(&out, h);
  if (!s.trace_tail.empty()) PutString(&out, s.trace_tail);
  return out;
}

bool DecodeEntityState(const std::string& data, conflict::EntityState* s) {
  if (data.rfind("ES1;", 0) == 0) return DecodeStateV1(data, s);
  const bool v3 = data.rfind(kStateV3, 0) == 0;
  if (!v3 && data.rfind(kStateV2, 0) != 0) return false;
  ByteReader r(std::string_view(data).substr(kStateV2.size()));
  conflict::EntityState st;
  uint64_t flags = 0, n = 0;
  if (!r.Varint(&flags) || flags > 7 || !r.String(&st.entity) || !r.String(&st.key)) return false;
  st.exists = flags & 1;
  st.deleted = flags & 2;
  st.locked = flags & 4;
  if (st.deleted) {
    uint64_t at = 0;
    if (!r.Varint(&at) || !GetProvenance(&r, &st.deleted_by)) return false;
    st.deleted_at_us = UnZigZag(at);
  }
  std::vector<conflict::FieldProvenance> provs;
  if (!r.Varint(&n) || n > r.remaining()) return false;
  provs.resize(n);
  for (auto& p : provs)
    if (!GetProvenance(&r, &p)) return false;
  if (!r.Varint(&n) || n > r.remaining()) return false;
  for (uint64_t i = 0; i < n; ++i) {
    std::string name;
    uint8_t present = 0;
    uint64_t prov = 0;
    conflict::FieldState f;
    if (!r.String(&name) || !r.Byte(&present) || present > 1) return false;
    if (present) {
      std::string v;
      if (!r.String(&v)) return false;
      f.value = std::move(v);
    }
    if (!r.Varint(&prov) || prov >= provs.size()) return false;
    f.provenance = provs[prov];
    st.fields[std::move(name)] = std::move(f);
  }
  if (!r.Varint(&n) || n > r.remaining()) return false;
  for (uint64_t i = 0; i < n; ++i) {
    Xref x;
    if (!r.String(&x.system) || !r.String(&x.object) || !r.String(&x.id)) return false;
    st.xrefs.push_back(std::move(x));
  }
  if (!r.Varint(&n) || n > r.remaining()) return false;
  for (uint64_t i = 0; i < n; ++i) {
    std::string h;
    if (!r.String(&h)) return false;
    st.held_by.push_back(std::move(h));
  }
  if (v3 && (!r.String(&st.trace_tail) || st.trace_tail.empty())) return false;
  if (r.remaining() != 0) return false;
  *s = std::move(st);
  return true;
}

}  // namespace handoff
