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

}  // namespace

void EncodeEvent(const ChangeEvent& e, int64_t journaled_at_us, std::string* out) {
  out->push_back(static_cast<char>(kEventFormatVersion));
  out->push_back(static_cast<char>(e.has_before ? 1 : 0));
  out->push_back(static_cast<char>(e.op));
  out->push_back(static_cast<char>(e.source_kind));
  PutVarint(out, ZigZag(journaled_at_us));
  PutVarint(out, e.position.lsn);
  PutVarint(out, e.position.ordinal);
  PutVarint(out, e.xid);
  PutVarint(out, ZigZag(e.commit_time_us));
  PutString(out, e.source);
  PutString(out, e.delivery_id);
  PutString(out, e.origin);
  PutString(out, e.schema);
  PutString(out, e.table);
  PutString(out, e.correlation_id);
  PutVarint(out, e.key_columns.size());
  for (const auto& k : e.key_columns) PutString(out, k);
  PutColumns(out, e.before);
  PutColumns(out, e.after);
  out->push_back(static_cast<char>(e.truncate_options));
  PutVarint(out, e.truncate_index);
  PutVarint(out, e.truncate_count);
}

Status DecodeEvent(std::string_view in, ChangeEvent* e, int64_t* journaled_at_us) {
  ByteReader r(in);
  uint8_t version, flags, op, kind;
  if (!r.Byte(&version)) return Status::Corruption("empty journal record");
  if (version != 1 && version != kEventFormatVersion)
    return Status::Corruption("journal record has unknown format version " + std::to_string(version));
  uint64_t jat, ct;
  if (!r.Byte(&flags) || !r.Byte(&op) || !r.Byte(&kind) || !r.Varint(&jat) || !r.Varint(&e->position.lsn) ||
      !r.Varint(&e->position.ordinal) || !r.Varint(&e->xid) || !r.Varint(&ct))
    return Status::Corruption("journal record header is truncated");
  if (op < 1 || op > static_cast<uint8_t>(Op::kSchema)) return Status::Corruption("journal record has bad op " + std::to_string(op));
  if (kind < 1 || kind > 3) return Status::Corruption("journal record has bad source kind");
  e->has_before = (flags & 1) != 0;
  e->op = static_cast<Op>(op);
  e->source_kind = static_cast<SourceKind>(kind);
  if (journaled_at_us) *journaled_at_us = UnZigZag(jat);
  e->commit_time_us = UnZigZag(ct);
  if (!r.String(&e->source) || !r.String(&e->delivery_id) || !r.String(&e->origin) || !r.String(&e->schema) ||
      !r.String(&e->table) || !r.String(&e->correlation_id))
    return Status::Corruption("journal record strings are truncated");
  uint64_t nkeys;
  if (!r.Varint(&nkeys) || nkeys > r.remaining()) return Status::Corruption("journal record key list is bad");
  e->key_columns.clear();
  e->key_columns.reserve(static_cast<size_t>(std::min<uint64_t>(nkeys, 1024)));
  for (uint64_t i = 0; i < nkeys; ++i)
    if (!r.String(&e->key_columns.emplace_back())) return Status::Corruption("journal record key list is truncated");
  if (!GetColumns(&r, &e->before)) return Status::Corruption("journal record before image is malformed");
  if (!GetColumns(&r, &e->after)) return Status::Corruption("journal record after image is malformed");
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
