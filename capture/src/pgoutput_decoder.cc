#include "pgoutput_decoder.h"

#include <fmt/format.h>

#include <utility>

namespace handoff {
namespace {

// Bounds-checked big-endian reader over one message. Every read either
// succeeds or records the first failure (what and where) and returns false.
class MessageReader {
 public:
  // `data` is the message without its leading type byte; offsets in errors
  // count from the type byte.
  MessageReader(std::string_view data, char type) : data_(data), type_(type) {}

  bool U8(uint8_t* v) {
    if (!Need(1, "byte")) return false;
    *v = static_cast<uint8_t>(data_[pos_++]);
    return true;
  }
  bool U16(uint16_t* v) {
    uint64_t x = 0;
    if (!BigEndian(2, "int16", &x)) return false;
    *v = static_cast<uint16_t>(x);
    return true;
  }
  bool U32(uint32_t* v) {
    uint64_t x = 0;
    if (!BigEndian(4, "int32", &x)) return false;
    *v = static_cast<uint32_t>(x);
    return true;
  }
  bool U64(uint64_t* v) { return BigEndian(8, "int64", v); }
  bool I64(int64_t* v) {
    uint64_t x = 0;
    if (!BigEndian(8, "int64", &x)) return false;
    *v = static_cast<int64_t>(x);
    return true;
  }
  // A NUL-terminated string.
  bool CString(std::string* v) {
    size_t end = data_.find('\0', pos_);
    if (end == std::string_view::npos) return Fail("unterminated string");
    v->assign(data_.substr(pos_, end - pos_));
    pos_ = end + 1;
    return true;
  }
  bool Bytes(size_t n, std::string* v) {
    if (!Need(n, "bytes")) return false;
    v->assign(data_.substr(pos_, n));
    pos_ += n;
    return true;
  }
  bool Fail(const std::string& what) {
    if (error_.empty()) error_ = fmt::format("pgoutput '{}' message: {} at offset {}", type_, what, pos_ + 1);
    return false;
  }
  bool AtEnd() const { return pos_ == data_.size(); }
  size_t pos() const { return pos_; }
  Status status() const { return error_.empty() ? Status::OK() : Status::Corruption(error_); }

 private:
  bool Need(size_t n, const char* what) {
    if (data_.size() - pos_ < n) {
      return Fail(fmt::format("truncated {} (need {} bytes, have {})", what, n, data_.size() - pos_));
    }
    return true;
  }
  bool BigEndian(size_t n, const char* what, uint64_t* v) {
    if (!Need(n, what)) return false;
    uint64_t x = 0;
    for (size_t i = 0; i < n; ++i) x = (x << 8) | static_cast<uint8_t>(data_[pos_ + i]);
    pos_ += n;
    *v = x;
    return true;
  }

  std::string_view data_;
  char type_;
  size_t pos_ = 0;
  std::string error_;
};

// TupleData: Int16 column count, then per column 'n' | 'u' | 't' Int32 len
// bytes | 'b' Int32 len bytes.
bool ReadTuple(MessageReader& r, const PgRelation& rel, bool key_only, std::vector<Column>* out) {
  uint16_t ncols = 0;
  if (!r.U16(&ncols)) return false;
  if (ncols != rel.attributes.size()) {
    return r.Fail(fmt::format("tuple has {} columns but relation {} ({}.{}) has {}", ncols, rel.id, rel.schema,
                              rel.table, rel.attributes.size()));
  }
  out->clear();
  out->reserve(ncols);
  for (uint16_t i = 0; i < ncols; ++i) {
    const PgRelation::Attribute& attr = rel.attributes[i];
    Column col;
    col.name = attr.name;
    col.type_oid = attr.type_oid;
    uint8_t kind = 0;
    if (!r.U8(&kind)) return false;
    switch (kind) {
      case 'n':
        col.kind = Column::Kind::kNull;
        break;
      case 'u':
        col.kind = Column::Kind::kUnchangedToast;
        break;
      case 't':
      case 'b': {
        uint32_t len = 0;
        if (!r.U32(&len)) return false;
        if (!r.Bytes(len, &col.data)) return false;
        col.kind = kind == 't' ? Column::Kind::kText : Column::Kind::kBinary;
        break;
      }
      default:
        return r.Fail(fmt::format("unknown tuple column kind 0x{:02x} in column {}", kind, i));
    }
    // A key-only old tuple carries placeholders (NULL) for non-key columns.
    if (key_only && !attr.key) continue;
    out->push_back(std::move(col));
  }
  return true;
}

}  // namespace

std::shared_ptr<const PgRelation> PgOutputDecoder::FindRelation(uint32_t id) const {
  auto it = relations_.find(id);
  return it == relations_.end() ? nullptr : it->second;
}

Status PgOutputDecoder::Decode(std::string_view data, PgOutputMessage* out) {
  if (data.empty()) return Status::Corruption("pgoutput message: empty at offset 0");
  char type = data[0];
  MessageReader r(data.substr(1), type);
  *out = PgOutputMessage();
  out->kind = static_cast<PgOutputMessage::Kind>(type);

  auto lookup = [&](uint32_t id) -> std::shared_ptr<const PgRelation> {
    auto rel = FindRelation(id);
    if (!rel) r.Fail(fmt::format("unknown relation id {}", id));
    return rel;
  };
  // Reads the old ('K'/'O') and/or new ('N') tuple of an Update or Delete.
  auto read_old_new = [&](bool need_new) -> bool {
    uint8_t tag = 0;
    if (!r.U8(&tag)) return false;
    if (tag == 'K' || tag == 'O') {
      out->old_kind = static_cast<char>(tag);
      if (!ReadTuple(r, *out->relation, tag == 'K', &out->old_tuple)) return false;
      if (!need_new) return true;
      if (!r.U8(&tag)) return false;
    } else if (!need_new) {
      return r.Fail(fmt::format("expected 'K' or 'O', got 0x{:02x}", tag));
    }
    if (tag != 'N') return r.Fail(fmt::format("expected 'N', got 0x{:02x}", tag));
    return ReadTuple(r, *out->relation, false, &out->new_tuple);
  };

  // Inside a stream block, these messages begin with the xid of the
  // (sub)transaction that made them.
  const bool xid_first = in_stream_ && (type == 'R' || type == 'Y' || type == 'I' || type == 'U' || type == 'D' ||
                                        type == 'T' || type == 'M');
  out->streamed = in_stream_;
  if (xid_first && !r.U32(&out->xid)) return r.status();
  bool ok = false;
  switch (type) {
    case 'S': {
      uint8_t first = 0;
      if (in_stream_) return Status::Corruption("pgoutput 'S' message: Stream Start inside an open stream block at offset 0");
      ok = r.U32(&out->xid) && r.U8(&first);
      if (ok && first > 1) ok = r.Fail(fmt::format("first-segment flag 0x{:02x} is not 0 or 1", first));
      out->first_segment = first != 0;
      if (ok && !r.AtEnd()) ok = r.Fail("trailing bytes");
      if (ok) in_stream_ = true;
      out->streamed = ok;
      break;
    }
    case 'E':
      if (!in_stream_) return Status::Corruption("pgoutput 'E' message: Stream Stop outside a stream block at offset 0");
      ok = r.AtEnd() || r.Fail("trailing bytes");
      if (ok) in_stream_ = false;
      break;
    case 'c':
      if (in_stream_) return Status::Corruption("pgoutput 'c' message: Stream Commit inside a stream block at offset 0");
      ok = r.U32(&out->xid) && r.U8(&out->flags) && r.U64(&out->commit_lsn) && r.U64(&out->end_lsn) &&
           r.I64(&out->commit_time_pg_us);
      break;
    case 'A':
      if (in_stream_) return Status::Corruption("pgoutput 'A' message: Stream Abort inside a stream block at offset 0");
      // Protocol 4 (parallel apply) appends the abort LSN and time; handoff asks for 2.
      ok = r.U32(&out->xid) && r.U32(&out->subxid);
      break;
    case 'B':
      ok = r.U64(&out->final_lsn) && r.I64(&out->commit_time_pg_us) && r.U32(&out->xid);
      break;
    case 'C':
      ok = r.U8(&out->flags) && r.U64(&out->commit_lsn) && r.U64(&out->end_lsn) && r.I64(&out->commit_time_pg_us);
      break;
    case 'O':
      ok = r.U64(&out->origin_lsn) && r.CString(&out->origin_name);
      break;
    case 'Y':
      ok = r.U32(&out->type_oid) && r.CString(&out->type_schema) && r.CString(&out->type_name);
      break;
    case 'R': {
      auto rel = std::make_shared<PgRelation>();
      uint8_t ident = 0;
      uint16_t natts = 0;
      ok = r.U32(&rel->id) && r.CString(&rel->schema) && r.CString(&rel->table) && r.U8(&ident) && r.U16(&natts);
      rel->replica_identity = static_cast<char>(ident);
      for (uint16_t i = 0; ok && i < natts; ++i) {
        PgRelation::Attribute a;
        uint8_t flags = 0;
        uint32_t typmod = 0;
        ok = r.U8(&flags) && r.CString(&a.name) && r.U32(&a.type_oid) && r.U32(&typmod);
        a.key = (flags & 1) != 0;
        a.type_modifier = static_cast<int32_t>(typmod);
        if (a.key) rel->key_columns.push_back(a.name);
        rel->attributes.push_back(std::move(a));
      }
      if (ok && !r.AtEnd()) ok = r.Fail("trailing bytes");
      if (ok) {
        relations_[rel->id] = rel;
        out->relation = std::move(rel);
      }
      break;
    }
    case 'I': {
      uint32_t id = 0;
      uint8_t tag = 0;
      ok = r.U32(&id) && (out->relation = lookup(id)) != nullptr && r.U8(&tag);
      if (ok && tag != 'N') ok = r.Fail(fmt::format("expected 'N', got 0x{:02x}", tag));
      if (ok) ok = ReadTuple(r, *out->relation, false, &out->new_tuple);
      break;
    }
    case 'U':
    case 'D': {
      uint32_t id = 0;
      ok = r.U32(&id) && (out->relation = lookup(id)) != nullptr && read_old_new(type == 'U');
      break;
    }
    case 'T': {
      uint32_t n = 0;
      ok = r.U32(&n) && r.U8(&out->flags);
      // Each relation id takes 4 bytes: reject absurd counts before reserving.
      if (ok && n > data.size()) ok = r.Fail(fmt::format("relation count {} exceeds message size", n));
      for (uint32_t i = 0; ok && i < n; ++i) {
        uint32_t id = 0;
        ok = r.U32(&id);
        std::shared_ptr<const PgRelation> rel;
        if (ok) ok = (rel = lookup(id)) != nullptr;
        if (ok) out->truncated.push_back(std::move(rel));
      }
      break;
    }
    case 'M': {
      uint32_t len = 0;
      ok = r.U8(&out->flags) && r.U64(&out->message_lsn) && r.CString(&out->prefix) && r.U32(&len) &&
           r.Bytes(len, &out->content);
      break;
    }
    default:
      return Status::Corruption(fmt::format("pgoutput message: unknown type 0x{:02x} at offset 0",
                                            static_cast<uint8_t>(type)));
  }
  if (ok && !r.AtEnd()) r.Fail("trailing bytes");
  return r.status();
}

}  // namespace handoff
