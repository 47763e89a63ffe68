#include "hold_watch.h"

#include <fmt/format.h>

#include "handoff/engine/log.h"

namespace handoff::apply {

void HoldWatch::Refresh(bool force) {
  const auto now = std::chrono::steady_clock::now();
  if (!force && now < next_read_) return;
  next_read_ = now + kHoldRefresh;
  auto holds = ReadTargetHolds(journal_, target_);
  if (!holds.ok()) {
    LogDebug("apply", "target {}: cannot read its holds: {}", target_, holds.status().message());
    return;
  }
  whole_.reset();
  routes_.clear();
  for (OperatorHold& h : *holds) {
    if (h.route.empty()) whole_ = std::move(h);
    else routes_.push_back(std::move(h));
  }
}

const OperatorHold* HoldWatch::route_hold(const std::string& from) const {
  for (const OperatorHold& h : routes_)
    if (h.route == from) return &h;
  return nullptr;
}

std::string HoldWatch::Describe(const OperatorHold& h, bool route_alone) {
  std::string who = h.actor.empty() ? "an operator" : h.actor;
  std::string what = h.route.empty() ? "the whole target"
                     : route_alone   ? "route " + h.route
                                     : "route " + h.route + " (the target waits at its first change)";
  return fmt::format("paused by {}{}: {}", who, h.note.empty() ? "" : " (" + h.note + ")", what);
}

}  // namespace handoff::apply
