// Agent <-> engine frames; the format is specified in wire_format.md.
// Thread-safety: stateless functions.
#pragma once

#include <string>
#include <string_view>

#include "handoff/engine/event_codec.h"
#include "handoff/engine/journal.h"
#include "handoff/engine/status.h"

namespace handoff::wire {

inline constexpr uint8_t kVersion = 1;
// The fewest bytes one event takes in a BATCH payload: its length varint and
// the shortest journal record. Event counts are checked against it.
inline constexpr size_t kMinWireEventBytes = 1 + kMinEventRecordBytes;
// kStateBatch and kStateWelcome are kBatch and kWelcome with the source's
// state (AppendBatch::state) appended; a batch without state and a source
// without state use the plain types, which older peers understand.
enum class MsgType : uint8_t {
  kHello = 1,
  kBatch = 2,
  kWelcome = 3,
  kAck = 4,
  kError = 5,
  kStateBatch = 6,
  kStateWelcome = 7,
  // A batch of a streamed transaction (AppendBatch::stream): the kBatch
  // payload, then the segment and an optional state.
  kStreamBatch = 8,
};

std::string Header(MsgType type);
// Parses a header frame; fails on a wrong size or version.
Status ParseHeader(std::string_view frame, MsgType* type);

std::string EncodeHello(const std::string& source);
Status DecodeHello(std::string_view in, std::string* source);

// The type to send `batch` with: kStateBatch when it carries a state.
MsgType BatchType(const AppendBatch& batch);
std::string EncodeBatch(uint64_t batch_id, const AppendBatch& batch);
// `type` is kBatch, kStateBatch (then batch->state is set) or kStreamBatch.
Status DecodeBatch(std::string_view in, MsgType type, uint64_t* batch_id, AppendBatch* batch);

// Welcome and Ack both carry (source or batch id, durable position).
// A non-empty `state` makes it a kStateWelcome payload.
std::string EncodeWelcome(const std::string& source, const SourcePosition& durable, const std::string& state = "");
// `type` is kWelcome or kStateWelcome (then *state is set, else cleared).
Status DecodeWelcome(std::string_view in, MsgType type, std::string* source, SourcePosition* durable,
                     std::string* state);
std::string EncodeAck(uint64_t batch_id, const SourcePosition& durable);
Status DecodeAck(std::string_view in, uint64_t* batch_id, SourcePosition* durable);

std::string EncodeError(uint64_t batch_id, const Status& status);
Status DecodeError(std::string_view in, uint64_t* batch_id, Status* status);

}  // namespace handoff::wire
