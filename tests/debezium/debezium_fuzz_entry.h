// The one entry point shared by the libFuzzer target and the gtest replay:
// decodes arbitrary bytes, and when they decode, re-encodes every change and
// decodes that again (which must succeed).
#pragma once

#include <cstddef>
#include <cstdint>

namespace handoff {
// Returns 0; aborts on a broken invariant (re-encoded output not decodable).
int DebeziumFuzzOne(const uint8_t* data, size_t size);
}  // namespace handoff
