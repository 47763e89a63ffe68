// Logging: one line per event to stderr, plain or JSON (HANDOFF_LOG_FORMAT=json).
// Thread-safety: safe from any thread.
#pragma once

#include <string_view>

#include <fmt/format.h>

namespace handoff {

enum class LogLevel { kDebug, kInfo, kWarn, kError };

void LogLine(LogLevel level, std::string_view component, std::string_view message);
void SetLogLevel(LogLevel level);
bool LogEnabled(LogLevel level);

template <typename... Args>
void LogInfo(std::string_view component, fmt::format_string<Args...> f, Args&&... args) {
  if (LogEnabled(LogLevel::kInfo)) LogLine(LogLevel::kInfo, component, fmt::format(f, std::forward<Args>(args)...));
}
template <typename... Args>
void LogWarn(std::string_view component, fmt::format_string<Args...> f, Args&&... args) {
  if (LogEnabled(LogLevel::kWarn)) LogLine(LogLevel::kWarn, component, fmt::format(f, std::forward<Args>(args)...));
}
template <typename... Args>
void LogError(std::string_view component, fmt::format_string<Args...> f, Args&&... args) {
  if (LogEnabled(LogLevel::kError)) LogLine(LogLevel::kError, component, fmt::format(f, std::forward<Args>(args)...));
}
template <typename... Args>
void LogDebug(std::string_view component, fmt::format_string<Args...> f, Args&&... args) {
  if (LogEnabled(LogLevel::kDebug)) LogLine(LogLevel::kDebug, component, fmt::format(f, std::forward<Args>(args)...));
}

}  // namespace handoff
