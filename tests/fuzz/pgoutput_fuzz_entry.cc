// pgoutput fuzz entry: every message of the input goes through one
// PgOutputDecoder. A decoded message is encoded again (the encoder below
// writes what the server would) and must decode to the same value; messages
// that carry no lossy part (all but Relation, whose flag bits other than
// "key" are dropped, and key-only old tuples, whose placeholders are dropped)
// must re-encode to exactly the input bytes. A failed decode must leave the
// relation cache as it was.
#include <fmt/format.h>

#include <string>
#include <string_view>

#include "fuzz_entries.h"
#include "pgoutput_decoder.h"

namespace handoff::fuzz {
namespace {

constexpr const char* kTarget = "pgoutput_fuzz";

void Be(std::string* s, uint64_t v, int n) {
  for (int i = n - 1; i >= 0; --i) s->push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}
void CStr(std::string* s, const std::string& v) {
  s->append(v);
  s->push_back('\0');
}

// TupleData of `rel`; for a key-only tuple the non-key columns are NULL placeholders.
void PutTuple(std::string* s, const PgRelation& rel, bool key_only, const std::vector<Column>& cols) {
  Be(s, rel.attributes.size(), 2);
  size_t next = 0;
  for (const PgRelation::Attribute& a : rel.attributes) {
    if (key_only && !a.key) {
      s->push_back('n');
      continue;
    }
    const Column& c = cols.at(next++);
    switch (c.kind) {
      case Column::Kind::kNull: s->push_back('n'); break;
      case Column::Kind::kUnchangedToast: s->push_back('u'); break;
      case Column::Kind::kText:
      case Column::Kind::kBinary:
        s->push_back(c.kind == Column::Kind::kText ? 't' : 'b');
        Be(s, c.data.size(), 4);
        s->append(c.data);
        break;
    }
  }
}

std::string Encode(const PgOutputMessage& m) {
  std::string s(1, static_cast<char>(m.kind));
  // Inside a stream block (protocol 2) these begin with the (sub)transaction's xid.
  const char k = static_cast<char>(m.kind);
  if (m.streamed && (k == 'R' || k == 'Y' || k == 'I' || k == 'U' || k == 'D' || k == 'T' || k == 'M'))
    Be(&s, m.xid, 4);
  switch (m.kind) {
    case PgOutputMessage::Kind::kStreamStart:
      Be(&s, m.xid, 4);
      s.push_back(m.first_segment ? 1 : 0);
      break;
    case PgOutputMessage::Kind::kStreamStop:
      break;
    case PgOutputMessage::Kind::kStreamCommit:
      Be(&s, m.xid, 4);
      s.push_back(static_cast<char>(m.flags));
      Be(&s, m.commit_lsn, 8), Be(&s, m.end_lsn, 8), Be(&s, static_cast<uint64_t>(m.commit_time_pg_us), 8);
      break;
    case PgOutputMessage::Kind::kStreamAbort:
      Be(&s, m.xid, 4), Be(&s, m.subxid, 4);
      break;
    case PgOutputMessage::Kind::kBegin:
      Be(&s, m.final_lsn, 8), Be(&s, static_cast<uint64_t>(m.commit_time_pg_us), 8), Be(&s, m.xid, 4);
      break;
    case PgOutputMessage::Kind::kCommit:
      s.push_back(static_cast<char>(m.flags));
      Be(&s, m.commit_lsn, 8), Be(&s, m.end_lsn, 8), Be(&s, static_cast<uint64_t>(m.commit_time_pg_us), 8);
      break;
    case PgOutputMessage::Kind::kOrigin:
      Be(&s, m.origin_lsn, 8), CStr(&s, m.origin_name);
      break;
    case PgOutputMessage::Kind::kType:
      Be(&s, m.type_oid, 4), CStr(&s, m.type_schema), CStr(&s, m.type_name);
      break;
    case PgOutputMessage::Kind::kRelation: {
      const PgRelation& r = *m.relation;
      Be(&s, r.id, 4), CStr(&s, r.schema), CStr(&s, r.table);
      s.push_back(r.replica_identity);
      Be(&s, r.attributes.size(), 2);
      for (const PgRelation::Attribute& a : r.attributes) {
        s.push_back(a.key ? 1 : 0);
        CStr(&s, a.name);
        Be(&s, a.type_oid, 4), Be(&s, static_cast<uint32_t>(a.type_modifier), 4);
      }
      break;
    }
    case PgOutputMessage::Kind::kInsert:
      Be(&s, m.relation->id, 4);
      s.push_back('N');
      PutTuple(&s, *m.relation, false, m.new_tuple);
      break;
    case PgOutputMessage::Kind::kUpdate:
    case PgOutputMessage::Kind::kDelete:
      Be(&s, m.relation->id, 4);
      if (m.old_kind != 0) {
        s.push_back(m.old_kind);
        PutTuple(&s, *m.relation, m.old_kind == 'K', m.old_tuple);
      }
      if (m.kind == PgOutputMessage::Kind::kUpdate) {
        s.push_back('N');
        PutTuple(&s, *m.relation, false, m.new_tuple);
      }
      break;
    case PgOutputMessage::Kind::kTruncate:
      Be(&s, m.truncated.size(), 4);
      s.push_back(static_cast<char>(m.flags));
      for (const auto& r : m.truncated) Be(&s, r->id, 4);
      break;
    case PgOutputMessage::Kind::kMessage:
      s.push_back(static_cast<char>(m.flags));
      Be(&s, m.message_lsn, 8), CStr(&s, m.prefix), Be(&s, m.content.size(), 4);
      s.append(m.content);
      break;
  }
  return s;
}

bool SameRelation(const PgRelation* a, const PgRelation* b) {
  if (a == nullptr || b == nullptr) return a == b;
  if (a->id != b->id || a->schema != b->schema || a->table != b->table || a->replica_identity != b->replica_identity ||
      a->key_columns != b->key_columns || a->attributes.size() != b->attributes.size())
    return false;
  for (size_t i = 0; i < a->attributes.size(); ++i) {
    const auto &x = a->attributes[i], &y = b->attributes[i];
    if (x.name != y.name || x.type_oid != y.type_oid || x.type_modifier != y.type_modifier || x.key != y.key)
      return false;
  }
  return true;
}

bool Same(const PgOutputMessage& a, const PgOutputMessage& b) {
  if (a.truncated.size() != b.truncated.size()) return false;
  for (size_t i = 0; i < a.truncated.size(); ++i)
    if (!SameRelation(a.truncated[i].get(), b.truncated[i].get())) return false;
  return a.kind == b.kind && a.final_lsn == b.final_lsn && a.commit_lsn == b.commit_lsn && a.end_lsn == b.end_lsn &&
         a.commit_time_pg_us == b.commit_time_pg_us && a.xid == b.xid && a.flags == b.flags &&
         a.origin_lsn == b.origin_lsn && a.origin_name == b.origin_name &&
         SameRelation(a.relation.get(), b.relation.get()) && a.old_kind == b.old_kind &&
         a.old_tuple == b.old_tuple && a.new_tuple == b.new_tuple && a.type_oid == b.type_oid &&
         a.type_schema == b.type_schema && a.type_name == b.type_name && a.message_lsn == b.message_lsn &&
         a.prefix == b.prefix && a.content == b.content && a.streamed == b.streamed && a.subxid == b.subxid &&
         a.first_segment == b.first_segment;
}

std::string Hex(std::string_view s) {
  std::string out;
  for (unsigned char c : s.substr(0, 256)) out += fmt::format("{:02x}", c);
  return out;
}

// What a decoded data message promises about its tuples.
void CheckTuples(const PgOutputMessage& m) {
  const PgRelation& rel = *m.relation;
  auto check = [&](const std::vector<Column>& cols, bool key_only, const char* which) {
    size_t next = 0;
    for (const PgRelation::Attribute& a : rel.attributes) {
      if (key_only && !a.key) continue;
      if (next >= cols.size() || cols[next].name != a.name || cols[next].type_oid != a.type_oid)
        Broken(kTarget, fmt::format("{} tuple does not follow relation {}", which, rel.id));
      const Column& c = cols[next++];
      if ((c.kind == Column::Kind::kNull || c.kind == Column::Kind::kUnchangedToast) && !c.data.empty())
        Broken(kTarget, fmt::format("{} tuple: a NULL or unchanged column carries data", which));
    }
    if (next != cols.size()) Broken(kTarget, fmt::format("{} tuple has {} columns, want {}", which, cols.size(), next));
  };
  if (m.kind != PgOutputMessage::Kind::kDelete) check(m.new_tuple, false, "new");
  else if (!m.new_tuple.empty()) Broken(kTarget, "delete has a new tuple");
  if (m.old_kind != 0) check(m.old_tuple, m.old_kind == 'K', "old");
  else if (!m.old_tuple.empty()) Broken(kTarget, "old tuple without an old kind");
  if (m.kind == PgOutputMessage::Kind::kDelete && m.old_kind == 0) Broken(kTarget, "delete without an old tuple");
}

void One(PgOutputDecoder& decoder, std::string_view msg) {
  const size_t cached = decoder.relation_count();
  std::shared_ptr<const PgRelation> before;
  uint32_t rel_id = 0;
  if (msg.size() >= 5 && msg[0] == 'R') {
    for (int i = 1; i <= 4; ++i) rel_id = rel_id << 8 | static_cast<uint8_t>(msg[i]);
    before = decoder.FindRelation(rel_id);
  }
  // Stream Start / Stop change the decoder's state: the re-encoded message
  // is decoded from the state this one met.
  const PgOutputDecoder pre = decoder;
  PgOutputMessage m;
  Status st = decoder.Decode(msg, &m);
  if (!st.ok()) {
    if (st.code() != StatusCode::kCorruption) Broken(kTarget, "decode error is not Corruption: " + st.ToString());
    if (st.message().find("offset") == std::string::npos) Broken(kTarget, "decode error names no offset: " + st.message());
    if (decoder.relation_count() != cached || (msg.size() >= 5 && msg[0] == 'R' && decoder.FindRelation(rel_id) != before))
      Broken(kTarget, "a failed decode changed the relation cache");
    return;
  }
  switch (m.kind) {
    case PgOutputMessage::Kind::kRelation:
      if (decoder.FindRelation(m.relation->id) != m.relation) Broken(kTarget, "relation not cached");
      break;
    case PgOutputMessage::Kind::kInsert:
    case PgOutputMessage::Kind::kUpdate:
    case PgOutputMessage::Kind::kDelete:
      if (!m.relation || decoder.FindRelation(m.relation->id) != m.relation) Broken(kTarget, "data message relation");
      CheckTuples(m);
      break;
    default:
      if (decoder.relation_count() != cached) Broken(kTarget, "a non-relation message changed the cache");
      break;
  }
  const std::string enc = Encode(m);
  const bool lossy = m.kind == PgOutputMessage::Kind::kRelation || m.old_kind == 'K';
  if (!lossy && enc != msg) Broken(kTarget, "re-encoding differs: in " + Hex(msg) + " out " + Hex(enc));
  PgOutputMessage again;
  PgOutputDecoder redo = pre;
  Status st2 = redo.Decode(enc, &again);
  if (!st2.ok()) Broken(kTarget, "re-encoded message does not decode: " + st2.ToString() + " " + Hex(enc));
  if (!Same(m, again)) Broken(kTarget, "re-encoded message decodes differently: " + Hex(enc));
  if (Encode(again) != enc) Broken(kTarget, "re-encoding is not stable: " + Hex(enc));
}

}  // namespace

int PgOutputFuzzOne(const uint8_t* data, size_t size) {
  std::string_view in(reinterpret_cast<const char*>(data), size);
  const std::string_view sep(kPgOutputSeparator);
  PgOutputDecoder decoder;
  while (true) {
    size_t at = in.find(sep);
    One(decoder, in.substr(0, at));
    if (at == std::string_view::npos) break;
    in.remove_prefix(at + sep.size());
  }
  return 0;
}

}  // namespace handoff::fuzz
