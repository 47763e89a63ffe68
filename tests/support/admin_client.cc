#include "admin_client.h"

#include <httplib.h>

#include <cstdlib>

namespace handoff::testing {

HttpReply HttpGet(int port, const std::string& path) {
  httplib::Client cli("127.0.0.1", port);
  cli.set_connection_timeout(2);
  cli.set_read_timeout(2);
  auto r = cli.Get(path);
  if (!r) return {};
  return {r->status, r->body};
}

std::optional<double> MetricValue(const std::string& text, const std::string& series) {
  size_t pos = 0;
  while ((pos = text.find(series + " ", pos)) != std::string::npos) {
    if (pos == 0 || text[pos - 1] == '\n') return std::strtod(text.c_str() + pos + series.size() + 1, nullptr);
    pos += series.size();
  }
  return std::nullopt;
}

}  // namespace handoff::testing
