// HoldWatch: the writer's view of its operator holds (handoff/apply/target_pause.h).
// It re-reads the journal's hold records at most every kHoldRefresh, so the
// per-entry check is a clock read and a lookup.
//
// Thread-safety: not thread-safe; owned by the apply thread.
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include "handoff/apply/target_pause.h"
#include "handoff/engine/config.h"
#include "handoff/engine/journal.h"

namespace handoff::apply {

inline constexpr std::chrono::milliseconds kHoldRefresh{200};

// A route's name in hold records and `handoff pause --route`: source.schema.table.
inline std::string RouteFrom(const RouteConfig& r) { return r.from_source + "." + r.from_schema + "." + r.from_table; }

class HoldWatch {
 public:
  HoldWatch(Journal* journal, std::string target) : journal_(journal), target_(std::move(target)) {}

  // Reads the records again when the last read is older than kHoldRefresh
  // (always with `force`). A failed read keeps what was known.
  void Refresh(bool force = false);
  // The whole-target hold, if any.
  const OperatorHold* target_hold() const { return whole_ ? &*whole_ : nullptr; }
  // The hold of route `from`, if any (none when no route is held: one compare).
  const OperatorHold* route_hold(const std::string& from) const;
  bool any_route_held() const { return !routes_.empty(); }
  const std::vector<OperatorHold>& route_holds() const { return routes_; }
  // "paused by alice (deploy): the whole target" for health reasons and logs;
  // `route_alone`: the writer holds a route by itself, not the target with it.
  static std::string Describe(const OperatorHold& h, bool route_alone = false);

 private:
  Journal* journal_;
  const std::string target_;
  std::chrono::steady_clock::time_point next_read_{};
  std::optional<OperatorHold> whole_;
  std::vector<OperatorHold> routes_;
};

}  // namespace handoff::apply
