#include "handoff/engine/clock.h"

#include <chrono>

namespace handoff {
namespace {
class SystemClock final : public Clock {
 public:
  int64_t NowMicros() override {
    return std::chrono::duration_cast<std::chrono::microseconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
  }
};
}  // namespace

Clock* Clock::Default() {
  static SystemClock clock;
  return &clock;
}

}  // namespace handoff
