#include "trace_record.h"

#include <fmt/format.h>

#include "handoff/engine/varint.h"
#include "record_codec.h"

namespace handoff {
namespace {

constexpr std::string_view kTraceV2 = "TL2";
enum StepCode : uint8_t { kOther = 0, kDecided = 1, kDerived = 2 };

std::string DecidedDetail(Op op, const std::string& key, SourcePosition pos, uint64_t applied, uint64_t kept,
                          uint64_t ignored, uint64_t parked, uint64_t conflicts) {
  return fmt::format("{} {} at {}: {} field(s) applied, {} kept, {} ignored, {} parked{}", OpName(op), key,
                     FormatPosition(pos), applied, kept, ignored, parked,
                     conflicts ? fmt::format(", {} conflict(s)", conflicts) : "");
}

Status DecodeV1(const std::string& data, std::vector<TraceLine>* out) {
  RecordReader r{data, 4};
  TraceLine l;
  l.seq = static_cast<uint64_t>(r.Num());
  l.at_us = r.Num();
  l.step = r.Str();
  l.entity = r.Str();
  l.key = r.Str();
  l.system = r.Str();
  l.detail = r.Str();
  l.derived_seq = static_cast<uint64_t>(r.Num());
  l.target = r.Str();
  l.table = r.Str();
  l.row = r.Str();
  if (!r.ok) return Status::Corruption("malformed trace record");
  out->push_back(std::move(l));
  return Status::OK();
}

}  // namespace

std::string EncodeTraceRecord(int64_t at_us, const std::vector<const TraceStep*>& steps) {
  std::string out(kTraceV2);
  PutVarint(&out, ZigZag(at_us));
  PutVarint(&out, steps.size());
  const std::string* prev_key = nullptr;
  for (const TraceStep* t : steps) {
    const StepCode code = t->step == "decided" ? kDecided : t->step == "derived" ? kDerived : kOther;
    out.push_back(static_cast<char>(code));
    if (code == kOther) PutString(&out, t->step);
    PutString(&out, t->entity);
    // The key of a step is most often the one of the step before (decided, then derived).
    if (prev_key != nullptr && *prev_key == t->key) {
      out.push_back(0);
    } else {
      out.push_back(1);
      PutString(&out, t->key);
    }
    prev_key = &t->key;
    PutString(&out, t->system);
    switch (code) {
      case kDecided:
        out.push_back(static_cast<char>(t->op));
        PutVarint(&out, t->position.lsn);
        PutVarint(&out, t->position.ordinal);
        for (uint32_t n : {t->applied, t->kept, t->ignored, t->parked, t->conflicts}) PutVarint(&out, n);
        break;
      case kDerived:
        out.push_back(static_cast<char>(t->op));
        PutVarint(&out, t->derived_seq);
        PutString(&out, t->target_system);
        PutString(&out, t->target_table);
        PutString(&out, t->target_key);
        break;
      case kOther:
        PutString(&out, t->detail);
        break;
    }
  }
  return out;
}

Status DecodeTraceRecord(std::string_view data, uint64_t seq, std::vector<TraceLine>* out) {
  if (data.substr(0, 4) == "TL1;") return DecodeV1(std::string(data), out);
  if (data.substr(0, kTraceV2.size()) != kTraceV2) return Status::Corruption("unknown trace record version");
  ByteReader r(data.substr(kTraceV2.size()));
  uint64_t at = 0, n = 0;
  if (!r.Varint(&at) || !r.Varint(&n) || n > r.remaining()) return Status::Corruption("malformed trace record");
  std::string key;
  for (uint64_t i = 0; i < n; ++i) {
    TraceLine l;
    l.seq = seq;
    l.at_us = UnZigZag(at);
    uint8_t code = 0, same = 0, op = 0;
    if (!r.Byte(&code) || code > kDerived) return Status::Corruption("malformed trace step");
    if (code == kOther && !r.String(&l.step)) return Status::Corruption("malformed trace step");
    if (!r.String(&l.entity) || !r.Byte(&same) || (same == 1 && !r.String(&key)) || !r.String(&l.system))
      return Status::Corruption("malformed trace step");
    l.key = key;
    if (code == kDecided) {
      SourcePosition pos;
      uint64_t c[5];
      if (!r.Byte(&op) || !r.Varint(&pos.lsn) || !r.Varint(&pos.ordinal)) return Status::Corruption("malformed trace step");
      for (uint64_t& v : c)
        if (!r.Varint(&v)) return Status::Corruption("malformed trace step");
      l.step = "decided";
      l.detail = DecidedDetail(static_cast<Op>(op), l.key, pos, c[0], c[1], c[2], c[3], c[4]);
    } else if (code == kDerived) {
      if (!r.Byte(&op) || !r.Varint(&l.derived_seq) || !r.String(&l.target) || !r.String(&l.table) ||
          !r.String(&l.row))
        return Status::Corruption("malformed trace step");
      l.step = "derived";
      l.detail = fmt::format("{} {} {}", static_cast<Op>(op) == Op::kDelete ? "delete from" : "write to", l.target,
                             l.table);
    } else if (!r.String(&l.detail)) {
      return Status::Corruption("malformed trace step");
    }
    out->push_back(std::move(l));
  }
  if (r.remaining() != 0) return Status::Corruption("trailing bytes in trace record");
  return Status::OK();
}

}  // namespace handoff
