// The time seam: code asks a Clock, tests may substitute one.
// Thread-safety: implementations are safe to share.
#pragma once

#include <cstdint>
#include <string>

namespace handoff {

class Clock {
 public:
  virtual ~Clock() = default;
  virtual int64_t NowMicros() = 0;  // wall clock, microseconds since the Unix epoch
  static Clock* Default();
};

inline int64_t NowMicros() { return Clock::Default()->NowMicros(); }

// "2026-10-31T23:59:59Z": microseconds since the Unix epoch as a UTC time to
// the second; `none` for 0 and before.
std::string UtcSeconds(int64_t us, const char* none = "-");

}  // namespace handoff
