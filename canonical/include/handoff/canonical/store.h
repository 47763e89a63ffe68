// CanonicalStore: typed reads of what the canonical engine keeps in the
// journal (record formats: canonical/canonical_format.md, keys:
// store_keys.h), for tools and pages outside the router: `handoff billing
// close` listing the invoices it drafted, status, the review pages. The
// router itself is the only writer; it stages its writes in its pass and
// commits them with the changes they cause.
//
// Thread-safety: each call is its own read transaction; safe beside a running router.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>

#include "handoff/conflict/entity_state.h"
#include "handoff/engine/journal.h"
#include "handoff/engine/status.h"

namespace handoff {

class CanonicalStore {
 public:
  explicit CanonicalStore(Journal* journal) : j_(journal) {}

  // The state of one entity; nullopt when handoff has none.
  Result<std::optional<conflict::EntityState>> Entity(const std::string& key);
  // Every state of entity type `entity` (tombstones included), in key order,
  // until `f` returns false. A record that does not decode is Corruption.
  Status ScanEntities(const std::string& entity, const std::function<bool(const conflict::EntityState&)>& f);
  // The last journal seq the router has routed (0 before its first pass).
  Result<uint64_t> RouterPosition();

 private:
  Journal* j_;
};

}  // namespace handoff
