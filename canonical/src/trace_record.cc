#include "trace_record.h"

#include <fmt/format.h>

#include "handoff/canonical/store_keys.h"
#include "handoff/engine/varint.h"
#include "record_codec.h"

namespace handoff {
namespace {

constexpr std::string_view kTraceV2 = "TL2";
constexpr std::string_view kFoldedV1 = "TR1";
enum StepCode : uint8_t { kOther = 0, kDecided = 1, kDerived = 2 };

std::string DecidedDetail(Op op, const std::string& key, SourcePosition pos, uint64_t applied, uint64_t kept,
                          uint64_t ignored, uint64_t parked, uint64_t conflicts) {
  return fmt::format("{} {} at {}: {} field(s) applied, {} kept, {} ignored, {} parked{}", OpName(op), key,
                     FormatPosition(pos), applied, kept, ignored, parked,
                     conflicts ? fmt::format(", {} conflict(s)", conflicts) : "");
}

std::string DerivedDetail(Op op, const std::string& target, const std::string& table) {
  return fmt::format("{} {} {}", op == Op::kDelete ? "delete from" : "write to", target, table);
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
      l.detail = DerivedDetail(static_cast<Op>(op), l.target, l.table);
    } else if (!r.String(&l.detail)) {
      return Status::Corruption("malformed trace step");
    }
    out->push_back(std::move(l));
  }
  if (r.remaining() != 0) return Status::Corruption("trailing bytes in trace record");
  return Status::OK();
}

bool Foldable(const std::string& root, const std::vector<const TraceStep*>& steps) {
  if (steps.empty() || steps.front()->step != "decided") return false;
  for (const TraceStep* t : steps) {
    if (t->key != root || (t->step != "decided" && t->step != "derived")) return false;
    if (t->step == "derived" && (t->index < 0 || t->batch != kCanonicalSourcePrefix + t->system)) return false;
  }
  return true;
}

size_t AppendFolded(std::string* tail, uint64_t seq, uint64_t pass_id, const std::vector<const TraceStep*>& steps) {
  if (tail->empty()) tail->push_back(0);
  PutVarint(tail, seq);
  PutVarint(tail, seq - pass_id);
  PutVarint(tail, steps.size());
  for (const TraceStep* t : steps) {
    const bool decided = t->step == "decided";
    tail->push_back(static_cast<char>(decided ? kDecided : kDerived));
    PutString(tail, t->system);
    tail->push_back(static_cast<char>(t->op));
    if (decided) {
      PutVarint(tail, t->position.lsn);
      PutVarint(tail, t->position.ordinal);
      for (uint32_t n : {t->applied, t->kept, t->ignored, t->parked, t->conflicts}) PutVarint(tail, n);
    } else {
      PutVarint(tail, static_cast<uint64_t>(t->index));
      PutString(tail, t->target_table);
      PutString(tail, t->target_key);
    }
  }
  (*tail)[0] = static_cast<char>(static_cast<uint8_t>((*tail)[0]) + 1);
  return static_cast<uint8_t>((*tail)[0]);
}

std::string FoldedRecord(const std::string& tail) { return std::string(kFoldedV1) + tail; }

uint64_t FirstFoldedSeq(const std::string& tail) {
  ByteReader r(std::string_view(tail).substr(tail.empty() ? 0 : 1));
  uint64_t seq = 0;
  return r.Varint(&seq) ? seq : 0;
}

bool IsFoldedRecord(std::string_view data) { return data.substr(0, kFoldedV1.size()) == kFoldedV1; }

std::string EncodeTracePass(int64_t at_us,
                            const std::vector<std::pair<std::string, const std::vector<uint64_t>*>>& seqs) {
  std::string out;
  PutVarint(&out, ZigZag(at_us));
  PutVarint(&out, seqs.size());
  for (const auto& [source, list] : seqs) {
    PutString(&out, source);
    PutVarint(&out, list->size());
    uint64_t prev = 0;
    for (uint64_t s : *list) {  // seqs grow within a pass: deltas, 0 for a skipped change
      PutVarint(&out, s == 0 ? 0 : s - prev);
      if (s != 0) prev = s;
    }
  }
  return out;
}

Status DecodeTracePass(std::string_view data, TracePassRecord* out) {
  ByteReader r(data);
  uint64_t at = 0, n = 0;
  if (!r.Varint(&at) || !r.Varint(&n) || n > r.remaining()) return Status::Corruption("malformed trace pass record");
  out->at_us = UnZigZag(at);
  for (uint64_t i = 0; i < n; ++i) {
    std::string source;
    uint64_t count = 0;
    if (!r.String(&source) || !r.Varint(&count) || count > r.remaining())
      return Status::Corruption("malformed trace pass record");
    std::vector<uint64_t>& list = out->seqs[source];
    uint64_t prev = 0;
    for (uint64_t k = 0; k < count; ++k) {
      uint64_t d = 0;
      if (!r.Varint(&d)) return Status::Corruption("malformed trace pass record");
      if (d != 0) prev += d;
      list.push_back(d == 0 ? 0 : prev);
    }
  }
  if (r.remaining() != 0) return Status::Corruption("trailing bytes in trace pass record");
  return Status::OK();
}

Status DecodeFolded(std::string_view data, const std::string& entity, const std::string& key,
                    const TracePassLookup& passes, std::vector<TraceLine>* out) {
  if (IsFoldedRecord(data)) data.remove_prefix(kFoldedV1.size());
  ByteReader r(data);
  uint8_t records = 0;
  if (!r.Byte(&records) || records == 0) return Status::Corruption("empty routine trace");
  const Status bad = Status::Corruption("malformed routine trace step");
  for (uint8_t i = 0; i < records; ++i) {
    uint64_t seq = 0, back = 0, n = 0;
    if (!r.Varint(&seq) || !r.Varint(&back) || back > seq || !r.Varint(&n) || n > r.remaining()) return bad;
    auto pass = passes(seq - back);
    if (!pass.ok()) return pass.status();
    for (uint64_t k = 0; k < n; ++k) {
      TraceLine l;
      l.seq = seq;
      l.at_us = *pass != nullptr ? (*pass)->at_us : 0;
      l.entity = entity;
      l.key = key;
      uint8_t code = 0, op = 0;
      if (!r.Byte(&code) || (code != kDecided && code != kDerived) || !r.String(&l.system) || !r.Byte(&op))
        return bad;
      if (code == kDecided) {
        SourcePosition pos;
        uint64_t c[5];
        if (!r.Varint(&pos.lsn) || !r.Varint(&pos.ordinal)) return bad;
        for (uint64_t& v : c)
          if (!r.Varint(&v)) return bad;
        l.step = "decided";
        l.detail = DecidedDetail(static_cast<Op>(op), l.key, pos, c[0], c[1], c[2], c[3], c[4]);
      } else {
        uint64_t index = 0;
        if (!r.Varint(&index) || !r.String(&l.table) || !r.String(&l.row)) return bad;
        l.step = "derived";
        l.target = l.system;
        l.detail = DerivedDetail(static_cast<Op>(op), l.target, l.table);
        if (*pass != nullptr) {
          auto it = (*pass)->seqs.find(kCanonicalSourcePrefix + l.target);
          if (it != (*pass)->seqs.end() && index < it->second.size()) l.derived_seq = it->second[index];
        }
      }
      out->push_back(std::move(l));
    }
  }
  if (r.remaining() != 0) return Status::Corruption("trailing bytes in routine trace");
  return Status::OK();
}

}  // namespace handoff
