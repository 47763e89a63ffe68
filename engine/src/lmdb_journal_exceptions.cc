// LmdbJournal (lmdb_journal.h): the exception queue, one record per
// (target, seq), and its versioned value encoding.
#include "lmdb_journal.h"

namespace handoff {

const char* ExceptionStateName(ExceptionState s) {
  switch (s) {
    case ExceptionState::kOpen: return "open";
    case ExceptionState::kRetried: return "retried";
    case ExceptionState::kResolved: return "resolved";
    case ExceptionState::kDiscarded: return "discarded";
  }
  return "unknown";
}


std::string EncodeException(const ExceptionRecord& r) {
  std::string v;
  v.push_back(1);  // record version
  PutString(&v, r.target);
  PutVarint(&v, r.seq);
  PutString(&v, r.reason);
  PutString(&v, r.code);
  PutString(&v, r.old_image);
  PutString(&v, r.new_image);
  PutString(&v, r.current_image);
  v.push_back(static_cast<char>(r.state));
  PutString(&v, r.actor);
  PutString(&v, r.note);
  PutVarint(&v, ZigZag(r.created_us));
  PutVarint(&v, ZigZag(r.updated_us));
  return v;
}

bool DecodeException(std::string_view in, ExceptionRecord* r) {
  ByteReader rd(in);
  uint8_t version, state;
  uint64_t created, updated;
  if (!rd.Byte(&version) || version != 1) return false;
  if (!rd.String(&r->target) || !rd.Varint(&r->seq) || !rd.String(&r->reason) || !rd.String(&r->code) ||
      !rd.String(&r->old_image) || !rd.String(&r->new_image) || !rd.String(&r->current_image) ||
      !rd.Byte(&state) || !rd.String(&r->actor) || !rd.String(&r->note) || !rd.Varint(&created) ||
      !rd.Varint(&updated))
    return false;
  if (state < 1 || state > 4) return false;
  r->state = static_cast<ExceptionState>(state);
  r->created_us = UnZigZag(created);
  r->updated_us = UnZigZag(updated);
  return true;
}


Status LmdbJournal::PutException(const ExceptionRecord& record) {
  return PutKv(exceptions_, ExceptionKey(record.target, record.seq), EncodeException(record));
}

Result<std::optional<ExceptionRecord>> LmdbJournal::GetException(const std::string& target, uint64_t seq) {
  auto v = GetKv(exceptions_, ExceptionKey(target, seq));
  if (!v.ok()) return v.status();
  if (!v->has_value()) return std::optional<ExceptionRecord>();
  ExceptionRecord r;
  if (!DecodeException(**v, &r)) return Status::Corruption("exception record is malformed");
  return std::optional<ExceptionRecord>(std::move(r));
}

Result<std::vector<ExceptionRecord>> LmdbJournal::Exceptions(std::optional<ExceptionState> state) {
  std::vector<ExceptionRecord> out;
  Status st = ScanAll(exceptions_, [&](std::string_view, std::string_view v) {
    ExceptionRecord r;
    if (!DecodeException(v, &r)) return Status::Corruption("exception record is malformed");
    if (!state || r.state == *state) out.push_back(std::move(r));
    return Status::OK();
  });
  if (!st.ok()) return st;
  return out;
}

}  // namespace handoff