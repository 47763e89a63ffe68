// StopToken, Backoff and RetryLoop: see handoff/engine/retry_loop.h.
#include "handoff/engine/retry_loop.h"

#include <algorithm>

#include "handoff/engine/log.h"

namespace handoff {

using std::chrono::milliseconds;

void StopToken::RequestStop() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_.store(true);
  }
  cv_.notify_all();
}

bool StopToken::WaitFor(milliseconds d) const {
  std::unique_lock<std::mutex> lock(mu_);
  return cv_.wait_for(lock, d, [this] { return stop_.load(); });
}

Backoff::Backoff(milliseconds min, milliseconds max, uint64_t seed)
    : min_ms_(std::max<int64_t>(1, min.count())),
      max_ms_(std::max<int64_t>(min_ms_, max.count())),
      nominal_ms_(0),
      rng_(static_cast<std::minstd_rand::result_type>(seed != 0 ? seed : std::random_device{}())) {
  Reset();
}

milliseconds Backoff::Next() {
  const int64_t d = nominal_ms_;
  // Equal jitter: d/2 fixed (never below min), and the rest up to d at random.
  const int64_t fixed = std::max(min_ms_, d / 2);
  std::uniform_int_distribution<int64_t> extra(0, d - fixed);
  nominal_ms_ = d >= max_ms_ / 2 ? max_ms_ : d * 2;
  return milliseconds(fixed + extra(rng_));
}

// The first nominal delay is twice min, so its fixed half is min itself.
void Backoff::Reset() { nominal_ms_ = min_ms_ >= max_ms_ / 2 ? max_ms_ : min_ms_ * 2; }

const char* FailureClassName(FailureClass c) {
  switch (c) {
    case FailureClass::kTransient: return "transient";
    case FailureClass::kNeedsFix: return "needs fix";
    case FailureClass::kFatal: return "fatal";
    case FailureClass::kHandled: return "handled";
  }
  return "transient";
}

RetryLoop::RetryLoop(RetryLoopOptions options, const StopToken* stop, uint64_t seed)
    : opts_(std::move(options)), stop_(stop), backoff_(opts_.min_backoff, opts_.max_backoff, seed) {}

Status RetryLoop::Run(const std::function<SessionEnd()>& session) {
  while (!stop_->stop_requested()) {
    SessionEnd end = session();
    if (stop_->stop_requested() || end.status.ok()) break;
    if (end.failure == FailureClass::kHandled) continue;
    if (end.progress) backoff_.Reset();
    if (!Failed(end)) {
      if (end.failure == FailureClass::kFatal && !stop_->stop_requested()) return end.status;
      break;
    }
  }
  return Status::OK();
}

bool RetryLoop::Failed(const SessionEnd& end) {
  ++failures_;
  const std::string error = opts_.with_code ? end.status.ToString() : end.status.message();
  const std::string who = end.detail.empty() ? opts_.subject : opts_.subject + ": " + end.detail;
  if (end.failure == FailureClass::kFatal) {
    if (opts_.health) opts_.health->Set(HealthState::kFailed, end.status.message());
    LogError(opts_.component, "{}: {}; {}", who, error, opts_.fatal_note.empty() ? "stopped" : opts_.fatal_note);
    return false;
  }
  const milliseconds nominal = backoff_.Next();
  const milliseconds delay = end.delay ? *end.delay : nominal;
  const bool needs_fix = end.failure == FailureClass::kNeedsFix;
  if (opts_.health) opts_.health->Set(needs_fix ? HealthState::kFailed : HealthState::kRetrying, end.status.message());
  // The first failure of a cause and a summary per doubling of the tries.
  if (auto line = retry_log_.Failed(error)) {
    if (!needs_fix)
      LogWarn(opts_.component, "{}: {}; retrying in {} ms", who, *line, delay.count());
    else if (opts_.needs_fix_note.empty())
      LogError(opts_.component, "{}: {}; retrying in {} ms", who, *line, delay.count());
    else
      LogError(opts_.component, "{}: {}; {}", who, *line, opts_.needs_fix_note);
  } else {
    LogDebug(opts_.component, "{}: still failing: {}", who, error);
  }
  return !stop_->WaitFor(delay);
}

void RetryLoop::Succeeded() {
  if (auto line = retry_log_.Succeeded()) LogInfo(opts_.component, "{}: {}", opts_.subject, *line);
}

}  // namespace handoff
