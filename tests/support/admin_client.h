// Reading the engine's admin endpoints in tests: a plain HTTP GET (a real
// client over TCP) and the value of one Prometheus series in /metrics text.
#pragma once

#include <optional>
#include <string>

namespace handoff::testing {

struct HttpReply {
  int status = 0;  // 0: no answer
  std::string body;
};

// GET http://127.0.0.1:<port><path>, with a 2 s timeout.
HttpReply HttpGet(int port, const std::string& path);

// The value of `series` (the exact name with labels as rendered, e.g.
// `handoff_changes_applied_total{target="erp"}`) in Prometheus text.
std::optional<double> MetricValue(const std::string& text, const std::string& series);

}  // namespace handoff::testing
