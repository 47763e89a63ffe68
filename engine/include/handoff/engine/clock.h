// The time seam: code asks a Clock, tests may substitute one.
// Thread-safety: implementations are safe to share.
#pragma once

#include <cstdint>

namespace handoff {

class Clock {
 public:
  virtual ~Clock() = default;
  virtual int64_t NowMicros() = 0;  // wall clock, microseconds since the Unix epoch
  static Clock* Default();
};

inline int64_t NowMicros() { return Clock::Default()->NowMicros(); }

}  // namespace handoff
