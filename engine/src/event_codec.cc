// Encoder and decoder for the journal record format of event_format.md.
#include "handoff/engine/event_codec.h"

#include <algorithm>

#include "handoff/engine/varint.h"

namespace handoff {
namespace {

void PutColumns(std::string* out, const std::vector<Column>& cols) {
  PutVarint(out, cols.size());
  for (const Column& c : cols) {
    PutString(out, c.name);
    PutVarint(out, c.type_oid);
    out->push_back(static_cast<char>(c.kind));
    if (c.kind == Column::Kind::kText || c.kind == Column::Kind::kBinary) PutString(out, c.data);
  }
}

bool GetColumns(ByteReader* r, std::vector<Column>* cols) {
  uint64_t n;
  // A column takes at least 3 bytes (name length, oid, kind): a count the
  // bytes cannot hold is refused before anything is allocated for it.
  if (!r->Varint(&n) || n > r->remaining() / 3) return false;
  cols->clear();
  cols->reserve(static_cast<size_t>(std::min<uint64_t>(n, 1024)));
  for (uint64_t i = 0; i < n; ++i) {
    Column& c = cols->emplace_back();
    uint64_t oid;
    uint8_t kind;
    if (!r->String(&c.name) || !r->Varint(&oid) || !r->Byte(&kind) || oid > UINT32_MAX) return false;
    if (kind > static_cast<uint8_t>(Column::Kind::kBinary)) return false;
    c.type_oid = static_cast<uint32_t>(oid);
    c.kind = static_cast<Column::Kind>(kind);
    c.data.clear();
    if (c.kind == Column::Kind::kText || c.kind == Column::Kind::kBinary) {
      if (!r->String(&c.data)) return false;
    }
  }
  return true;
}

// The fields every version has first, in this order (retention reads
// journaled_at at its place without decoding the rest).
void PutHeader(std::string* out, uint8_t version, uint8_t flags, const ChangeEvent& e, int64_t journaled_at_us) {
  out->push_back(static_cast<char>(version));
  out->push_back(static_cast<char>(flags));
  out->push_back(static_cast<char>(e.op));
  out->push_back(static_cast<char>(e.source_kind));
  PutVarint(out, ZigZag(journaled_at_us));
  PutVarint(out, e.position.lsn);
  PutVarint(out, e.position.ordinal);
  PutVarint(out, e.xid);
  PutVarint(out, ZigZag(e.commit_time_us));
}

void PutKeys(std::string* out, const std::vector<std::string>& keys) {
  PutVarint(out, keys.size());
  for (const auto& k : keys) PutString(out, k);
}

}  // namespace

void EncodeEvent(const ChangeEvent& e, int64_t journaled_at_us, std::string* out) {
  PutHeader(out, kEventFormatVersion, e.has_before ? 1 : 0, e, journaled_at_us);
  PutString(out, e.source);
  PutString(out, e.delivery_id);
  PutString(out, e.origin);
  PutString(out, e.schema);
  PutString(out, e.table);
  PutString(out, e.correlation_id);
  PutKeys(out, e.key_columns);
  PutColumns(out, e.before);
  PutColumns(out, e.after);
  out->push_back(static_cast<char>(e.truncate_options));
  PutVarint(out, e.truncate_index);
  PutVarint(out, e.truncate_count);
}

Status DecodeEvent(std::string_view in, ChangeEvent* e, int64_t* journaled_at_us) {
  return DecodeEvent(in, e, journaled_at_us, nullptr);
}

namespace {

// Compact flags (version 3).
constexpr uint8_t kHasBefore = 1, kHasShape = 2, kDerivedCorrelation = 4;

std::string DerivedCorrelation(const ChangeEvent& e) { return e.source + ":" + FormatPosition(e.position); }

// Version 3 column set over a shape: varint mode (0 none, 1 every shape
// column in order, n + 2 the n listed shape columns), the listed indexes,
// then per column u8 kind and str data (text and binary).
bool PutShapedColumns(std::string* out, const EventShape& shape, const std::vector<Column>& cols) {
  bool all = cols.size() == shape.names.size();
  for (size_t i = 0; all && i < cols.size(); ++i) all = cols[i].name == shape.names[i] && cols[i].type_oid == shape.oids[i];
  if (cols.empty()) {
    PutVarint(out, 0);
  } else if (all) {
    PutVarint(out, 1);
  } else {
    PutVarint(out, cols.size() + 2);
    size_t from = 0;
    for (const Column& c : cols) {
      // Usually in shape order: search from the last place found.
      size_t at = shape.names.size();
      for (size_t k = 0; k < shape.names.size() && at == shape.names.size(); ++k) {
        size_t i = (from + k) % shape.names.size();
        if (shape.names[i] == c.name) at = i;
      }
      if (at == shape.names.size() || shape.oids[at] != c.type_oid) return false;
      PutVarint(out, at);
      from = at + 1;
    }
  }
  for (const Column& c : cols) {
    out->push_back(static_cast<char>(c.kind));
    if (c.kind == Column::Kind::kText || c.kind == Column::Kind::kBinary) PutString(out, c.data);
  }
  return true;
}

bool GetShapedColumns(ByteReader* r, const EventShape& shape, std::vector<Column>* cols) {
  uint64_t mode;
  if (!r->Varint(&mode)) return false;
  cols->clear();
  std::vector<uint64_t> idx;
  if (mode == 1) {
    idx.resize(shape.names.size());
    for (size_t i = 0; i < idx.size(); ++i) idx[i] = i;
  } else if (mode >= 2) {
    const uint64_t n = mode - 2;
    if (n > r->remaining()) return false;
    idx.resize(static_cast<size_t>(n));
    for (uint64_t& i : idx)
      if (!r->Varint(&i) || i >= shape.names.size()) return false;
  }
  cols->reserve(idx.size());
  for (uint64_t i : idx) {
    Column& c = cols->emplace_back();
    uint8_t kind;
    if (!r->Byte(&kind) || kind > static_cast<uint8_t>(Column::Kind::kBinary)) return false;
    c.name = shape.names[i];
    c.type_oid = shape.oids[i];
    c.kind = static_cast<Column::Kind>(kind);
    if ((c.kind == Column::Kind::kText || c.kind == Column::Kind::kBinary) && !r->String(&c.data)) return false;
  }
  return true;
}

void PutShapeColumns(std::string* out, const std::vector<Column>& cols) {
  PutVarint(out, cols.size());
  for (const Column& c : cols) {
    PutString(out, c.name);
    PutVarint(out, c.type_oid);
  }
}

}  // namespace

std::string EventShape::Encode() const {
  std::string out;
  PutString(&out, source);
  PutString(&out, schema);
  PutString(&out, table);
  PutKeys(&out, key_columns);
  PutVarint(&out, names.size());
  for (size_t i = 0; i < names.size(); ++i) {
    PutString(&out, names[i]);
    PutVarint(&out, oids[i]);
  }
  return out;
}

bool EventShape::Decode(std::string_view in, EventShape* out) {
  ByteReader r(in);
  EventShape s;
  uint64_t n;
  if (!r.String(&s.source) || !r.String(&s.schema) || !r.String(&s.table) || !r.Varint(&n) || n > r.remaining())
    return false;
  s.key_columns.resize(static_cast<size_t>(n));
  for (auto& k : s.key_columns)
    if (!r.String(&k)) return false;
  if (!r.Varint(&n) || n > r.remaining()) return false;
  s.names.resize(static_cast<size_t>(n));
  s.oids.resize(static_cast<size_t>(n));
  for (size_t i = 0; i < s.names.size(); ++i) {
    uint64_t oid;
    if (!r.String(&s.names[i]) || !r.Varint(&oid) || oid > UINT32_MAX) return false;
    s.oids[i] = static_cast<uint32_t>(oid);
  }
  if (r.remaining() != 0) return false;
  *out = std::move(s);
  return true;
}

bool ShapeKeyOf(const ChangeEvent& e, std::string* key) {
  const std::vector<Column>& cols = e.after.empty() ? e.before : e.after;
  if (e.table.empty() || cols.empty()) return false;
  key->clear();
  PutString(key, e.source);
  PutString(key, e.schema);
  PutString(key, e.table);
  PutKeys(key, e.key_columns);
  PutShapeColumns(key, cols);
  return true;
}

bool EncodeCompactEvent(const ChangeEvent& e, int64_t journaled_at_us, uint32_t shape_id, const EventShape* shape,
                        std::string* out) {
  const size_t start = out->size();
  const bool derived = e.correlation_id == DerivedCorrelation(e);
  PutHeader(out, kCompactEventFormatVersion,
            (e.has_before ? kHasBefore : 0) | (shape ? kHasShape : 0) | (derived ? kDerivedCorrelation : 0), e,
            journaled_at_us);
  if (shape) {
    PutVarint(out, shape_id);
  } else {
    PutString(out, e.source);
    PutString(out, e.schema);
    PutString(out, e.table);
    PutKeys(out, e.key_columns);
  }
  PutString(out, e.delivery_id);
  PutString(out, e.origin);
  if (!derived) PutString(out, e.correlation_id);
  if (shape) {
    if (!PutShapedColumns(out, *shape, e.before) || !PutShapedColumns(out, *shape, e.after)) {
      out->resize(start);
      return false;
    }
  } else {
    PutColumns(out, e.before);
    PutColumns(out, e.after);
  }
  out->push_back(static_cast<char>(e.truncate_options));
  PutVarint(out, e.truncate_index);
  PutVarint(out, e.truncate_count);
  return true;
}

Status DecodeEvent(std::string_view in, ChangeEvent* e, int64_t* journaled_at_us, const ShapeLookup& shapes) {
  ByteReader r(in);
  uint8_t version, flags, op, kind;
  if (!r.Byte(&version)) return Status::Corruption("empty journal record");
  if (version < 1 || version > kCompactEventFormatVersion)
    return Status::Corruption("journal record has unknown format version " + std::to_string(version));
  uint64_t jat, ct;
  if (!r.Byte(&flags) || !r.Byte(&op) || !r.Byte(&kind) || !r.Varint(&jat) || !r.Varint(&e->position.lsn) ||
      !r.Varint(&e->position.ordinal) || !r.Varint(&e->xid) || !r.Varint(&ct))
    return Status::Corruption("journal record header is truncated");
  if (op < 1 || op > static_cast<uint8_t>(Op::kSchema)) return Status::Corruption("journal record has bad op " + std::to_string(op));
  if (kind < 1 || kind > 3) return Status::Corruption("journal record has bad source kind");
  if (version == kCompactEventFormatVersion && flags > (kHasBefore | kHasShape | kDerivedCorrelation))
    return Status::Corruption("journal record has unknown flags");
  e->has_before = (flags & kHasBefore) != 0;
  e->op = static_cast<Op>(op);
  e->source_kind = static_cast<SourceKind>(kind);
  if (journaled_at_us) *journaled_at_us = UnZigZag(jat);
  e->commit_time_us = UnZigZag(ct);
  const EventShape* shape = nullptr;
  const bool compact = version == kCompactEventFormatVersion;
  if (compact && (flags & kHasShape)) {
    uint64_t id;
    if (!r.Varint(&id) || id > UINT32_MAX) return Status::Corruption("journal record shape id is truncated");
    shape = shapes ? shapes(static_cast<uint32_t>(id)) : nullptr;
    if (shape == nullptr) return Status::Corruption("journal record names shape " + std::to_string(id) + ", which the journal does not hold");
    e->source = shape->source;
    e->schema = shape->schema;
    e->table = shape->table;
    e->key_columns = shape->key_columns;
  } else if (compact) {
    if (!r.String(&e->source) || !r.String(&e->schema) || !r.String(&e->table))
      return Status::Corruption("journal record strings are truncated");
  } else {
    if (!r.String(&e->source) || !r.String(&e->delivery_id) || !r.String(&e->origin) || !r.String(&e->schema) ||
        !r.String(&e->table) || !r.String(&e->correlation_id))
      return Status::Corruption("journal record strings are truncated");
  }
  if (shape == nullptr) {
    uint64_t nkeys;
    if (!r.Varint(&nkeys) || nkeys > r.remaining()) return Status::Corruption("journal record key list is bad");
    e->key_columns.clear();
    e->key_columns.reserve(static_cast<size_t>(std::min<uint64_t>(nkeys, 1024)));
    for (uint64_t i = 0; i < nkeys; ++i)
      if (!r.String(&e->key_columns.emplace_back())) return Status::Corruption("journal record key list is truncated");
  }
  if (compact) {
    if (!r.String(&e->delivery_id) || !r.String(&e->origin)) return Status::Corruption("journal record strings are truncated");
    if (flags & kDerivedCorrelation) {
      e->correlation_id = DerivedCorrelation(*e);
    } else if (!r.String(&e->correlation_id)) {
      return Status::Corruption("journal record correlation id is truncated");
    }
  }
  if (shape) {
    if (!GetShapedColumns(&r, *shape, &e->before)) return Status::Corruption("journal record before image is malformed");
    if (!GetShapedColumns(&r, *shape, &e->after)) return Status::Corruption("journal record after image is malformed");
  } else {
    if (!GetColumns(&r, &e->before)) return Status::Corruption("journal record before image is malformed");
    if (!GetColumns(&r, &e->after)) return Status::Corruption("journal record after image is malformed");
  }
  e->truncate_options = 0;
  e->truncate_index = e->truncate_count = 0;
  if (version >= 2) {
    uint64_t index, count;
    if (!r.Byte(&e->truncate_options) || !r.Varint(&index) || !r.Varint(&count))
      return Status::Corruption("journal record truncate group is truncated");
    if (index > UINT32_MAX || count > UINT32_MAX || (count != 0 && index >= count))
      return Status::Corruption("journal record truncate group is bad");
    e->truncate_index = static_cast<uint32_t>(index);
    e->truncate_count = static_cast<uint32_t>(count);
  }
  if (r.remaining() != 0) return Status::Corruption("journal record has trailing bytes");
  return Status::OK();
}

}  // namespace handoff
