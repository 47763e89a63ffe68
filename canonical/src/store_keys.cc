#include "handoff/canonical/store_keys.h"

#include <fmt/format.h>

#include <charconv>

namespace handoff::canonical_key {

std::string Entity(std::string_view key) { return fmt::format("{}{}", kEntity, key); }

std::string EntityType(std::string_view entity) { return fmt::format("{}{}:", kEntity, entity); }

std::string XrefIndex(std::string_view entity, const Xref& x) {
  return fmt::format("{}{}:{}/{}/{}", kXref, entity, x.system, x.object, x.id);
}

std::string ImpliedKey(std::string_view entity, const Xref& x) {
  return fmt::format("{}:{}:{}", entity, x.system, x.id);
}

std::string Held(std::string_view system, std::string_view key) {
  return fmt::format("{}{}:{}", kHeld, system, key);
}

std::string Wait(std::string_view what, uint64_t seq) { return fmt::format("{}{}:{:020}", kWait, what, seq); }

std::string WaitsOn(std::string_view what) { return fmt::format("{}{}:", kWait, what); }

std::string Retry(uint64_t seq) { return fmt::format("{}{:020}", kRetry, seq); }

uint64_t SeqAfter(std::string_view key, size_t prefix_size) {
  if (key.size() < prefix_size + 20) return 0;
  uint64_t seq = 0;
  const char* begin = key.data() + prefix_size;
  auto [end, ec] = std::from_chars(begin, begin + 20, seq);
  return ec == std::errc() && end == begin + 20 ? seq : 0;
}

std::string TraceStep(std::string_view root, uint64_t seq, int n) {
  return fmt::format("{}{}:{:020}:{:05}", kTrace, root, seq, n);
}

std::string TraceOf(std::string_view root) { return fmt::format("{}{}:", kTrace, root); }

std::string TracePass(uint64_t pass_id) { return fmt::format("{}{:020}", kTracePass, pass_id); }

std::string Audit(uint64_t seq, std::string_view field) {
  return fmt::format("{}{:020}:{}", kAudit, seq, field.empty() ? std::string_view("*") : field);
}

std::string Flow(std::string_view what, std::string_view subject) {
  return fmt::format("{}{}:{}", kFlow, what, subject);
}

std::string LookupValue(std::string_view entity, std::string_view field, std::string_view value) {
  return fmt::format("{}_{}:{}", entity, field, value);
}

}  // namespace handoff::canonical_key
