#include "handoff/engine/clock.h"

#include <chrono>
#include <ctime>

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

std::string UtcSeconds(int64_t us, const char* none) {
  if (us <= 0) return none;
  const std::time_t s = static_cast<std::time_t>(us / 1000000);
  std::tm tm{};
  gmtime_r(&s, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

Clock* Clock::Default() {
  static SystemClock clock;
  return &clock;
}

}  // namespace handoff
