// Intake wire fuzz entry: the frames an agent or the engine reads from a peer
// (engine/src/wire.h) and the journal record read back from disk
// (event_codec.h). Whatever decodes is encoded again and must decode to the
// same value, and that encoding must be a fixed point; a decode that fails
// must fail with the documented code.
#include <string>
#include <string_view>

#include "fuzz_entries.h"
#include "handoff/engine/event_codec.h"
#include "wire.h"

namespace handoff::fuzz {
namespace {

constexpr const char* kTarget = "intake_wire_fuzz";

void Expect(const Status& st, StatusCode code, const char* what) {
  if (!st.ok() && st.code() != code) Broken(kTarget, std::string(what) + " fails with the wrong code: " + st.ToString());
}

void JournalRecord(std::string_view in) {
  ChangeEvent e;
  int64_t at = 0;
  Status st = DecodeEvent(in, &e, &at);
  Expect(st, StatusCode::kCorruption, "journal record");
  if (!st.ok()) return;
  if (e.truncate_count != 0 && e.truncate_index >= e.truncate_count) Broken(kTarget, "truncate index not below count");
  std::string enc;
  EncodeEvent(e, at, &enc);
  ChangeEvent again;
  int64_t at2 = 0;
  Status st2 = DecodeEvent(enc, &again, &at2);
  if (!st2.ok()) Broken(kTarget, "re-encoded journal record does not decode: " + st2.ToString());
  if (!(again == e) || at2 != at) Broken(kTarget, "re-encoded journal record decodes differently");
  std::string enc2;
  EncodeEvent(again, at2, &enc2);
  if (enc2 != enc) Broken(kTarget, "journal record encoding is not stable");
  // A decoder given a record with bytes added must refuse it (trailing bytes).
  enc.push_back('\0');
  if (DecodeEvent(enc, &again, nullptr).ok()) Broken(kTarget, "journal record with a trailing byte decodes");
  // The compact record without a shape holds the same.
  std::string compact;
  EncodeCompactEvent(e, at, 0, nullptr, &compact);
  ChangeEvent c;
  int64_t at3 = 0;
  Status st3 = DecodeEvent(compact, &c, &at3, nullptr);
  if (!st3.ok() || !(c == e) || at3 != at) Broken(kTarget, "compact journal record does not round-trip");
}

void Batch(wire::MsgType type, std::string_view payload) {
  uint64_t id = 0;
  AppendBatch b;
  Status st = wire::DecodeBatch(payload, type, &id, &b);
  Expect(st, StatusCode::kInvalidArgument, "batch");
  if (!st.ok()) return;
  for (const ChangeEvent& e : b.events)
    if (e.source != b.source) Broken(kTarget, "batch holds an event of another source");
  if (b.events.size() > payload.size() / wire::kMinWireEventBytes) Broken(kTarget, "batch holds more events than bytes allow");
  const std::string enc = wire::EncodeBatch(id, b);
  uint64_t id2 = 0;
  AppendBatch again;
  Status st2 = wire::DecodeBatch(enc, wire::BatchType(b), &id2, &again);
  if (!st2.ok()) Broken(kTarget, "re-encoded batch does not decode: " + st2.ToString());
  if (id2 != id || again.source != b.source || again.upto != b.upto || again.events != b.events ||
      again.state != b.state || again.stream.has_value() != b.stream.has_value())
    Broken(kTarget, "re-encoded batch decodes differently");
  if (b.stream) {
    const StreamSegment &x = *b.stream, &y = *again.stream;
    if (x.kind != y.kind || x.xid != y.xid || x.subxid != y.subxid || x.commit_lsn != y.commit_lsn ||
        x.commit_time_us != y.commit_time_us || x.origin != y.origin)
      Broken(kTarget, "re-encoded stream part decodes differently");
  }
  if (wire::EncodeBatch(id2, again) != enc) Broken(kTarget, "batch encoding is not stable");
}

void Frame(wire::MsgType type, std::string_view payload) {
  switch (type) {
    case wire::MsgType::kHello: {
      std::string source;
      Status st = wire::DecodeHello(payload, &source);
      Expect(st, StatusCode::kInvalidArgument, "hello");
      if (st.ok()) {
        std::string again;
        if (!wire::DecodeHello(wire::EncodeHello(source), &again).ok() || again != source)
          Broken(kTarget, "hello does not round-trip");
      }
      break;
    }
    case wire::MsgType::kBatch:
    case wire::MsgType::kStateBatch:
    case wire::MsgType::kStreamBatch:
      Batch(type, payload);
      break;
    case wire::MsgType::kWelcome:
    case wire::MsgType::kStateWelcome: {
      std::string source, s2, state, state2;
      SourcePosition p, p2;
      Status st = wire::DecodeWelcome(payload, type, &source, &p, &state);
      Expect(st, StatusCode::kInvalidArgument, "welcome");
      const wire::MsgType again = state.empty() ? wire::MsgType::kWelcome : wire::MsgType::kStateWelcome;
      if (st.ok() && (!wire::DecodeWelcome(wire::EncodeWelcome(source, p, state), again, &s2, &p2, &state2).ok() ||
                      s2 != source || p2 != p || state2 != state))
        Broken(kTarget, "welcome does not round-trip");
      break;
    }
    case wire::MsgType::kAck: {
      uint64_t id = 0, id2 = 0;
      SourcePosition p, p2;
      Status st = wire::DecodeAck(payload, &id, &p);
      Expect(st, StatusCode::kInvalidArgument, "ack");
      if (st.ok() && (!wire::DecodeAck(wire::EncodeAck(id, p), &id2, &p2).ok() || id2 != id || p2 != p))
        Broken(kTarget, "ack does not round-trip");
      break;
    }
    case wire::MsgType::kError: {
      uint64_t id = 0, id2 = 0;
      Status err, err2;
      Status st = wire::DecodeError(payload, &id, &err);
      Expect(st, StatusCode::kInvalidArgument, "error");
      if (!st.ok()) break;
      if (err.ok()) Broken(kTarget, "an ERROR frame decodes to OK");
      if (!wire::DecodeError(wire::EncodeError(id, err), &id2, &err2).ok() || id2 != id || err2.code() != err.code() ||
          err2.message() != err.message())
        Broken(kTarget, "error does not round-trip");
      break;
    }
  }
}

}  // namespace

int IntakeWireFuzzOne(const uint8_t* data, size_t size) {
  std::string_view in(reinterpret_cast<const char*>(data), size);
  wire::MsgType type;
  Status st = wire::ParseHeader(in.substr(0, 2), &type);
  Expect(st, StatusCode::kInvalidArgument, "header");
  if (st.ok()) {
    if (wire::Header(type) != in.substr(0, 2)) Broken(kTarget, "header does not round-trip");
    in.remove_prefix(2);
    Frame(type, in);
  }
  JournalRecord(in);
  return 0;
}

}  // namespace handoff::fuzz
