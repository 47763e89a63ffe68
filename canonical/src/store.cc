#include "handoff/canonical/store.h"

#include <charconv>

#include "handoff/canonical/entity_codec.h"
#include "handoff/canonical/store_keys.h"

namespace handoff {

Result<std::optional<conflict::EntityState>> CanonicalStore::Entity(const std::string& key) {
  auto v = j_->GetMeta(canonical_key::Entity(key));
  HANDOFF_RETURN_IF_ERROR(v.status());
  if (!v->has_value() || (*v)->empty()) return std::optional<conflict::EntityState>();
  conflict::EntityState s;
  if (!DecodeEntityState(**v, &s)) return Status::Corruption("canonical state of " + key + " does not decode");
  return std::optional<conflict::EntityState>(std::move(s));
}

Status CanonicalStore::ScanEntities(const std::string& entity,
                                    const std::function<bool(const conflict::EntityState&)>& f) {
  Status bad = Status::OK();
  HANDOFF_RETURN_IF_ERROR(j_->ScanMeta(canonical_key::EntityType(entity), [&](std::string_view k, std::string_view v) {
    if (v.empty()) return true;
    conflict::EntityState s;
    if (!DecodeEntityState(std::string(v), &s)) {
      bad = Status::Corruption("canonical state " + std::string(k) + " does not decode");
      return false;
    }
    return f(s);
  }));
  return bad;
}

Result<uint64_t> CanonicalStore::RouterPosition() {
  auto v = j_->GetMeta(kCanonicalSeqKey);
  HANDOFF_RETURN_IF_ERROR(v.status());
  if (!v->has_value()) return uint64_t{0};
  uint64_t seq = 0;
  const std::string& t = **v;
  auto [end, ec] = std::from_chars(t.data(), t.data() + t.size(), seq);
  if (ec != std::errc() || end != t.data() + t.size()) return Status::Corruption("router position " + t + " is not a seq");
  return seq;
}

}  // namespace handoff
