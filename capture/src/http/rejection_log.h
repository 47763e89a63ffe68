// RejectionLog: warning lines for refused requests that an operator can
// follow without a flood filling the disk. Each reason gets at most
// `per_interval` lines per interval; the rest of that interval is counted and
// reported as one "suppressed K similar rejections" line when it ends (on the
// next Note or Flush).
// Thread-safety: safe from any thread.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <string_view>

namespace handoff::http {

class RejectionLog {
 public:
  using Clock = std::chrono::steady_clock;
  RejectionLog(std::string component, std::string who, size_t per_interval = 5,
               std::chrono::milliseconds interval = std::chrono::seconds(10))
      : component_(std::move(component)), who_(std::move(who)), per_interval_(per_interval), interval_(interval) {}

  // `reason_key` groups similar rejections ("401 bad signature"); `line` is
  // the whole message after "<who>: ".
  void Note(std::string_view reason_key, std::string_view line);
  // Writes the summaries of intervals that have ended.
  void Flush();

 private:
  struct Window {
    Clock::time_point start;
    uint64_t logged = 0;
    uint64_t suppressed = 0;
  };
  void Summarize(const std::string& key, Window& w);

  std::string component_, who_;
  size_t per_interval_;
  std::chrono::milliseconds interval_;
  std::mutex mu_;
  std::map<std::string, Window, std::less<>> windows_;
};

}  // namespace handoff::http
