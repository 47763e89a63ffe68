#include "debezium_fuzz_entry.h"

#include <cstdio>
#include <cstdlib>
#include <string_view>
#include <vector>

#include "handoff/capture/debezium.h"

namespace handoff {

int DebeziumFuzzOne(const uint8_t* data, size_t size) {
  std::string_view in(reinterpret_cast<const char*>(data), size);
  DebeziumDecoder decoder;
  std::vector<DecodedRecord> out;
  Status st = decoder.DecodeAll(in, &out);
  if (!st.ok() && st.code() != StatusCode::kInvalidArgument) std::abort();
  for (const DecodedRecord& r : out) {
    (void)DecodedRecordToJson(r);
    if (r.kind != DecodedRecord::Kind::kChange) continue;
    DebeziumEncodeOptions opts;
    opts.include_key = true;
    std::string enc = EncodeDebezium(r.event, opts);
    std::vector<DecodedRecord> again;
    Status st2 = decoder.DecodeAll(enc, &again);
    if (!st2.ok() || again.size() != 1) {
      std::fprintf(stderr, "re-encoded event does not decode: %s\n%s\n", st2.ToString().c_str(), enc.c_str());
      std::abort();
    }
  }
  return 0;
}

}  // namespace handoff
