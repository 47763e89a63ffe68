#include "handoff/engine/retry_log.h"

#include <cctype>

#include <fmt/format.h>

namespace handoff {
namespace {

constexpr int64_t kSummaryEveryUs = 10ll * 60 * 1000000;  // a line at least this often while failing

bool PowerOfTwo(uint64_t n) { return n != 0 && (n & (n - 1)) == 0; }

}  // namespace

std::string RetryLog::Cause(const std::string& error) {
  std::string out;
  for (char c : error) {
    if (std::isdigit(static_cast<unsigned char>(c))) {
      if (out.empty() || out.back() != '#') out += '#';
    } else {
      out += c;
    }
  }
  return out;
}

std::string RetryLog::FormatDuration(int64_t us) {
  if (us < 0) us = 0;
  const int64_t s = us / 1000000;
  if (s < 1) return fmt::format("{}ms", us / 1000);
  if (s < 60) return fmt::format("{}s", s);
  if (s < 3600) return fmt::format("{}m{:02}s", s / 60, s % 60);
  return fmt::format("{}h{:02}m", s / 3600, (s / 60) % 60);
}

std::optional<std::string> RetryLog::Failed(const std::string& error) {
  const int64_t now = clock_->NowMicros();
  std::string cause = Cause(error);
  if (tries_ == 0 || cause != cause_) {
    if (tries_ == 0) first_us_ = now;
    cause_ = std::move(cause);
    tries_ = 1;
    ++total_tries_;
    last_line_us_ = now;
    return error;
  }
  ++tries_;
  ++total_tries_;
  if (!PowerOfTwo(tries_) && now - last_line_us_ < kSummaryEveryUs) return std::nullopt;
  last_line_us_ = now;
  return fmt::format("still failing after {} tries (for {}), last error: {}", tries_, FormatDuration(now - first_us_),
                     error);
}

std::optional<std::string> RetryLog::Succeeded() {
  if (tries_ == 0) return std::nullopt;
  std::string line = fmt::format("recovered after {} tries (for {})", total_tries_,
                                 FormatDuration(clock_->NowMicros() - first_us_));
  tries_ = total_tries_ = 0;
  cause_.clear();
  return line;
}

}  // namespace handoff
