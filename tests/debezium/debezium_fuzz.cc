// libFuzzer target: cmake -DHANDOFF_FUZZ=ON -DCMAKE_CXX_COMPILER=clang++-14 ...
// then ./debezium_fuzz <dir> tests/data/debezium/ (the first directory collects new inputs)
#include <cstddef>
#include <cstdint>

#include "debezium_fuzz_entry.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  return handoff::DebeziumFuzzOne(data, size);
}
