#include "wire.h"

#include <algorithm>

#include "handoff/engine/event_codec.h"
#include "handoff/engine/varint.h"

namespace handoff::wire {
namespace {

void PutPosition(std::string* out, const SourcePosition& p) {
  PutVarint(out, p.lsn);
  PutVarint(out, p.ordinal);
}
bool GetPosition(ByteReader* r, SourcePosition* p) { return r->Varint(&p->lsn) && r->Varint(&p->ordinal); }

Status Malformed(const char* what) { return Status::InvalidArgument(std::string("malformed ") + what + " frame"); }

}  // namespace

std::string Header(MsgType type) {
  std::string h;
  h.push_back(static_cast<char>(kVersion));
  h.push_back(static_cast<char>(type));
  return h;
}

Status ParseHeader(std::string_view frame, MsgType* type) {
  if (frame.size() != 2) return Status::InvalidArgument("frame header has " + std::to_string(frame.size()) + " bytes, want 2");
  if (static_cast<uint8_t>(frame[0]) != kVersion)
    return Status::InvalidArgument("unsupported wire version " + std::to_string(static_cast<uint8_t>(frame[0])));
  uint8_t t = static_cast<uint8_t>(frame[1]);
  if (t < 1 || t > 8) return Status::InvalidArgument("unknown message type " + std::to_string(t));
  *type = static_cast<MsgType>(t);
  return Status::OK();
}

std::string EncodeHello(const std::string& source) {
  std::string out;
  PutString(&out, source);
  return out;
}
Status DecodeHello(std::string_view in, std::string* source) {
  ByteReader r(in);
  if (!r.String(source) || r.remaining()) return Malformed("hello");
  return Status::OK();
}

MsgType BatchType(const AppendBatch& batch) {
  if (batch.stream) return MsgType::kStreamBatch;
  return batch.state ? MsgType::kStateBatch : MsgType::kBatch;
}

std::string EncodeBatch(uint64_t batch_id, const AppendBatch& batch) {
  std::string out;
  PutString(&out, batch.source);
  PutVarint(&out, batch_id);
  PutPosition(&out, batch.upto);
  PutVarint(&out, batch.events.size());
  std::string rec;
  for (const ChangeEvent& e : batch.events) {
    rec.clear();
    EncodeEvent(e, 0, &rec);
    PutString(&out, rec);
  }
  if (batch.stream) {
    const StreamSegment& seg = *batch.stream;
    out.push_back(static_cast<char>(seg.kind));
    PutVarint(&out, seg.xid);
    PutVarint(&out, seg.subxid);
    PutVarint(&out, seg.commit_lsn);
    PutVarint(&out, ZigZag(seg.commit_time_us));
    PutString(&out, seg.origin);
    out.push_back(batch.state ? 1 : 0);
  }
  if (batch.state) PutString(&out, *batch.state);
  return out;
}

Status DecodeBatch(std::string_view in, MsgType type, uint64_t* batch_id, AppendBatch* batch) {
  ByteReader r(in);
  uint64_t n;
  if (!r.String(&batch->source) || !r.Varint(batch_id) || !GetPosition(&r, &batch->upto) || !r.Varint(&n))
    return Malformed("batch");
  // The count comes from the peer: check it against the bytes that are
  // really there before allocating anything for it, so a short message
  // claiming a huge count is refused instead of exhausting memory.
  if (n > r.remaining() / kMinWireEventBytes)
    return Status::InvalidArgument("malformed batch frame: it claims " + std::to_string(n) + " events but holds " +
                                   std::to_string(r.remaining()) + " bytes (an event takes at least " +
                                   std::to_string(kMinWireEventBytes) + ")");
  batch->events.clear();
  batch->events.reserve(static_cast<size_t>(std::min<uint64_t>(n, 1024)));
  for (uint64_t i = 0; i < n; ++i) {
    uint64_t len;
    std::string_view rec;
    if (!r.Varint(&len) || len > r.remaining() || !r.Bytes(static_cast<size_t>(len), &rec)) return Malformed("batch");
    batch->events.emplace_back();
    Status st = DecodeEvent(rec, &batch->events.back(), nullptr);
    if (!st.ok()) return Status::InvalidArgument("batch event " + std::to_string(i) + ": " + st.message());
    if (batch->events[i].source != batch->source)
      return Status::InvalidArgument("batch for source " + batch->source + " holds an event of source " +
                                     batch->events[i].source);
  }
  batch->state.reset();
  batch->stream.reset();
  bool has_state = type == MsgType::kStateBatch;
  if (type == MsgType::kStreamBatch) {
    StreamSegment seg;
    uint8_t kind = 0, state_flag = 0;
    uint64_t xid = 0, subxid = 0, t = 0;
    if (!r.Byte(&kind) || kind < 1 || kind > 4 || !r.Varint(&xid) || xid > UINT32_MAX || !r.Varint(&subxid) ||
        subxid > UINT32_MAX || !r.Varint(&seg.commit_lsn) || !r.Varint(&t) || !r.String(&seg.origin) ||
        !r.Byte(&state_flag) || state_flag > 1)
      return Malformed("stream batch");
    seg.kind = static_cast<StreamSegment::Kind>(kind);
    seg.xid = static_cast<uint32_t>(xid);
    seg.subxid = static_cast<uint32_t>(subxid);
    seg.commit_time_us = UnZigZag(t);
    if (seg.kind != StreamSegment::Kind::kStage && !batch->events.empty() && seg.kind != StreamSegment::Kind::kCommit)
      return Status::InvalidArgument("malformed stream batch frame: an abort or reset carries no events");
    batch->stream = std::move(seg);
    has_state = state_flag == 1;
  }
  if (has_state) {
    std::string state;
    if (!r.String(&state)) return Malformed("batch");
    batch->state = std::move(state);
  }
  if (r.remaining()) return Malformed("batch");
  return Status::OK();
}

std::string EncodeWelcome(const std::string& source, const SourcePosition& durable, const std::string& state) {
  std::string out;
  PutString(&out, source);
  PutPosition(&out, durable);
  if (!state.empty()) PutString(&out, state);
  return out;
}
Status DecodeWelcome(std::string_view in, MsgType type, std::string* source, SourcePosition* durable,
                     std::string* state) {
  ByteReader r(in);
  state->clear();
  if (!r.String(source) || !GetPosition(&r, durable)) return Malformed("welcome");
  if (type == MsgType::kStateWelcome && !r.String(state)) return Malformed("welcome");
  if (r.remaining()) return Malformed("welcome");
  return Status::OK();
}

std::string EncodeAck(uint64_t batch_id, const SourcePosition& durable) {
  std::string out;
  PutVarint(&out, batch_id);
  PutPosition(&out, durable);
  return out;
}
Status DecodeAck(std::string_view in, uint64_t* batch_id, SourcePosition* durable) {
  ByteReader r(in);
  if (!r.Varint(batch_id) || !GetPosition(&r, durable) || r.remaining()) return Malformed("ack");
  return Status::OK();
}

std::string EncodeError(uint64_t batch_id, const Status& status) {
  std::string out;
  PutVarint(&out, batch_id);
  out.push_back(static_cast<char>(status.code()));
  PutString(&out, status.message());
  return out;
}
Status DecodeError(std::string_view in, uint64_t* batch_id, Status* status) {
  ByteReader r(in);
  uint8_t code;
  std::string msg;
  if (!r.Varint(batch_id) || !r.Byte(&code) || !r.String(&msg) || r.remaining() ||
      code > static_cast<uint8_t>(StatusCode::kInternal) || code == 0)
    return Malformed("error");
  *status = Status(static_cast<StatusCode>(code), std::move(msg));
  return Status::OK();
}

}  // namespace handoff::wire
