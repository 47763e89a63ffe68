// The shape every background worker has: a thread that runs until stopped
// (Run() / Stop()), a name, a kind and a health report. Capture agents and
// apply workers implement it; ops builds them from a table of kinds.
//
// StopToken is how a worker learns it should stop: a flag any thread may set,
// and waits that end at once when it is set, so no sleep delays a shutdown.
//
// Thread-safety: StopToken is safe from any thread; a Worker is run on one
// thread and stopped, named and asked for its health from any.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <string>

#include "handoff/engine/change_event.h"
#include "handoff/engine/config.h"
#include "handoff/engine/health.h"
#include "handoff/engine/status.h"

namespace handoff {

class StopToken {
 public:
  StopToken() = default;
  StopToken(const StopToken&) = delete;
  StopToken& operator=(const StopToken&) = delete;

  // Sets the flag and wakes every WaitFor(); later calls do nothing more.
  void RequestStop();
  bool stop_requested() const { return stop_.load(std::memory_order_relaxed); }
  // Waits up to `d`; returns true when stop was requested (before or during).
  bool WaitFor(std::chrono::milliseconds d) const;
  // The flag itself, for code that polls an atomic (a capture session).
  const std::atomic<bool>& flag() const { return stop_; }

 private:
  std::atomic<bool> stop_{false};
  mutable std::mutex mu_;
  mutable std::condition_variable cv_;
};

// A background worker: Run() on its own thread until Stop() (or a failure
// it cannot retry, returned as the Status).
class Worker {
 public:
  virtual ~Worker() = default;
  virtual Status Run() = 0;
  // Ends Run() promptly; safe from any thread, more than once.
  virtual void Stop() = 0;
  virtual const std::string& name() const = 0;
  virtual HealthReport Health() const = 0;
};

// A capture agent of a configured source.
class Source : public Worker {
 public:
  virtual SourceKind kind() const = 0;
};

// An apply worker of a configured target.
class Target : public Worker {
 public:
  virtual TargetKind kind() const = 0;
};

}  // namespace handoff
