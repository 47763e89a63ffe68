// The entry points shared by the libFuzzer targets (fuzz_main.cc, one binary
// per entry) and the replay unit test (fuzz_replay_test.cc). Each takes
// arbitrary bytes, must never crash, throw or leak, and checks what the
// decoded result promises (a re-encoding decodes to the same value, counts
// match, errors carry the documented code); a broken promise aborts with a
// message on stderr so both the fuzzer and the test see it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace handoff::fuzz {

// pgoutput messages (capture/src/pgoutput_decoder.h) through one decoder, so
// relation messages feed the data messages after them. The input is split
// into messages at kPgOutputSeparator.
inline constexpr char kPgOutputSeparator[] = "|~|";
int PgOutputFuzzOne(const uint8_t* data, size_t size);

// Intake frames (engine/src/wire.h): a 2-byte header frame, then the payload
// decoded as its type says; the payload (or the whole input when the header
// is not valid) is also decoded as a journal record (event_codec.h).
int IntakeWireFuzzOne(const uint8_t* data, size_t size);

// Webhook deliveries: byte 0 picks the payload format (bits 0-1: debezium,
// salesforce, toggl; 3 = all three) and bit 2 asks for the top-level id; then
// HTTP-style "Name: value" header lines, an empty line, and the body. The
// body is decoded; with headers (or bit 3 set) every signature scheme checks
// them.
int WebhookFuzzOne(const uint8_t* data, size_t size);

// handoff.yaml text through ParseConfig, and the DSN helpers.
int ConfigFuzzOne(const uint8_t* data, size_t size);

// Prints "<target>: invariant broken: <what>" and aborts.
[[noreturn]] void Broken(const char* target, const std::string& what);

}  // namespace handoff::fuzz
