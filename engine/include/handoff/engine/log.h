// Logging: one line per event to stderr, plain text or one JSON object per
// line ({"ts","level","component","msg"}). The format comes from
// HANDOFF_LOG_FORMAT (text|json) unless SetLogFormat chose one (config
// `log.format`, flag --log-format).
// Thread-safety: safe from any thread.
#pragma once

#include <string_view>

#include <fmt/format.h>

namespace handoff {

enum class LogLevel { kDebug, kInfo, kWarn, kError };
enum class LogFormat { kText, kJson };

void LogLine(LogLevel level, std::string_view component, std::string_view message);
void SetLogLevel(LogLevel level);
bool LogEnabled(LogLevel level);
void SetLogFormat(LogFormat format);
// "text" or "json"; false for anything else.
bool ParseLogFormat(std::string_view name, LogFormat* format);
// "debug", "info", "warn" or "error"; false for anything else.
bool ParseLogLevel(std::string_view name, LogLevel* level);

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
