// JsonKernel: which simdjson kernel the capture parsers run on.
//
// simdjson picks the widest kernel the CPU supports at run time. Under the
// Debian 12 build (libsimdjson 3.x), the AVX-512 "icelake" kernel corrupted
// the heap under fuzzing (tests/debezium/debezium_fuzz with AddressSanitizer:
// a failed allocator check after some 10^5 mutated Debezium documents), while
// the AVX2 "haswell" kernel ran the same campaign clean. So icelake is
// replaced by haswell; every other choice (and an explicit
// SIMDJSON_FORCE_IMPLEMENTATION) is left alone.
//
// Thread-safety: safe to call from any thread; the choice is made once.
#pragma once

namespace handoff {

// Makes the choice above before the first parse. Idempotent and cheap.
void ChooseJsonKernel();

}  // namespace handoff
