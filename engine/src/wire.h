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
enum class MsgType : uint8_t { kHello = 1, kBatch = 2, kWelcome = 3, kAck = 4, kError = 5 };

std::string Header(MsgType type);
// Parses a header frame; fails on a wrong size or version.
Status ParseHeader(std::string_view frame, MsgType* type);

std::string EncodeHello(const std::string& source);
Status DecodeHello(std::string_view in, std::string* source);

std::string EncodeBatch(uint64_t batch_id, const AppendBatch& batch);
Status DecodeBatch(std::string_view in, uint64_t* batch_id, AppendBatch* batch);

// Welcome and Ack both carry (source or batch id, durable position).
std::string EncodeWelcome(const std::string& source, const SourcePosition& durable);
Status DecodeWelcome(std::string_view in, std::string* source, SourcePosition* durable);
std::string EncodeAck(uint64_t batch_id, const SourcePosition& durable);
Status DecodeAck(std::string_view in, uint64_t* batch_id, SourcePosition* durable);

std::string EncodeError(uint64_t batch_id, const Status& status);
Status DecodeError(std::string_view in, uint64_t* batch_id, Status* status);

}  // namespace handoff::wire
