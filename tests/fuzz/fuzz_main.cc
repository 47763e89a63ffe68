// One libFuzzer target per entry of fuzz_entries.h; HANDOFF_FUZZ_ENTRY names
// the entry (set by tests/fuzz/CMakeLists.txt).
#include <cstddef>
#include <cstdint>

#include "fuzz_entries.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  return handoff::fuzz::HANDOFF_FUZZ_ENTRY(data, size);
}
