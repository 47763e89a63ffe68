// MetricsText: builds the Prometheus text exposition format (version 0.0.4):
// a HELP and TYPE line per family, then its samples, label values escaped.
//
// Thread-safety: not thread-safe; one per rendering.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace handoff {

using MetricLabels = std::vector<std::pair<std::string_view, std::string_view>>;

class MetricsText {
 public:
  // Starts a family. `type` is "counter" or "gauge".
  void Family(std::string_view name, std::string_view type, std::string_view help);
  // One sample of the current family (the name is the family's).
  void Sample(const MetricLabels& labels, double value);
  void Sample(const MetricLabels& labels, uint64_t value);
  // Shorthand for a family with a single unlabelled sample.
  void Single(std::string_view name, std::string_view type, std::string_view help, uint64_t value);

  const std::string& text() const { return out_; }

 private:
  void Labels(const MetricLabels& labels);
  std::string out_;
  std::string family_;
};

}  // namespace handoff
