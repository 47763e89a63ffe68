#include "rejection_log.h"

#include "handoff/engine/log.h"

namespace handoff::http {

void RejectionLog::Summarize(const std::string& key, Window& w) {
  if (w.suppressed > 0)
    LogWarn(component_, "{}: suppressed {} similar rejections ({}) in the last {}s", who_, w.suppressed, key,
            std::chrono::duration_cast<std::chrono::seconds>(interval_).count());
  w.suppressed = 0;
}

void RejectionLog::Note(std::string_view reason_key, std::string_view line) {
  const Clock::time_point now = Clock::now();
  std::lock_guard<std::mutex> lk(mu_);
  auto it = windows_.find(reason_key);
  if (it == windows_.end()) it = windows_.emplace(std::string(reason_key), Window{now, 0, 0}).first;
  Window& w = it->second;
  if (now - w.start >= interval_) {
    Summarize(it->first, w);
    w.start = now;
    w.logged = 0;
  }
  if (w.logged < per_interval_) {
    ++w.logged;
    LogWarn(component_, "{}: {}", who_, line);
  } else {
    ++w.suppressed;
  }
}

void RejectionLog::Flush() {
  const Clock::time_point now = Clock::now();
  std::lock_guard<std::mutex> lk(mu_);
  for (auto& [key, w] : windows_)
    if (w.suppressed > 0 && now - w.start >= interval_) {
      Summarize(key, w);
      w.start = now;
      w.logged = 0;
    }
}

}  // namespace handoff::http
