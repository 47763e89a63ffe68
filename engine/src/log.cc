#include "handoff/engine/log.h"

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <mutex>
#include <string>

#include "handoff/engine/clock.h"
#include "handoff/engine/json_text.h"

namespace handoff {
namespace {

std::atomic<int> g_level{[] {
  const char* env = std::getenv("HANDOFF_LOG_LEVEL");
  LogLevel level = LogLevel::kInfo;
  if (env != nullptr) ParseLogLevel(env, &level);
  return static_cast<int>(level);
}()};

std::atomic<bool> g_json{[] {
  const char* env = std::getenv("HANDOFF_LOG_FORMAT");
  return env != nullptr && std::strcmp(env, "json") == 0;
}()};

const char* LevelName(LogLevel l) {
  switch (l) {
    case LogLevel::kDebug: return "debug";
    case LogLevel::kInfo: return "info";
    case LogLevel::kWarn: return "warn";
    case LogLevel::kError: return "error";
  }
  return "info";
}

}  // namespace

void SetLogLevel(LogLevel level) { g_level.store(static_cast<int>(level)); }
void SetLogFormat(LogFormat format) { g_json.store(format == LogFormat::kJson); }

bool ParseLogFormat(std::string_view name, LogFormat* format) {
  if (name == "text") *format = LogFormat::kText;
  else if (name == "json") *format = LogFormat::kJson;
  else return false;
  return true;
}

bool ParseLogLevel(std::string_view name, LogLevel* level) {
  if (name == "debug") *level = LogLevel::kDebug;
  else if (name == "info") *level = LogLevel::kInfo;
  else if (name == "warn") *level = LogLevel::kWarn;
  else if (name == "error") *level = LogLevel::kError;
  else return false;
  return true;
}
bool LogEnabled(LogLevel level) { return static_cast<int>(level) >= g_level.load(std::memory_order_relaxed); }

void LogLine(LogLevel level, std::string_view component, std::string_view message) {
  int64_t us = NowMicros();
  std::time_t secs = static_cast<std::time_t>(us / 1000000);
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char ts[64];
  std::snprintf(ts, sizeof(ts), "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1,
                tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, static_cast<int>((us / 1000) % 1000));
  std::string line;
  if (g_json.load(std::memory_order_relaxed)) {
    line = fmt::format("{{\"ts\":\"{}\",\"level\":\"{}\",\"component\":", ts, LevelName(level));
    AppendJsonString(&line, component, InvalidUtf8::kKeep);
    line += ",\"msg\":";
    AppendJsonString(&line, message, InvalidUtf8::kKeep);
    line += "}\n";
  } else {
    line = fmt::format("{} {:<5} [{}] {}\n", ts, LevelName(level), component, message);
  }
  static std::mutex mu;
  std::lock_guard<std::mutex> lock(mu);
  std::fwrite(line.data(), 1, line.size(), stderr);
}

}  // namespace handoff
