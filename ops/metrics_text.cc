#include "metrics_text.h"

#include <fmt/format.h>

namespace handoff {

void MetricsText::Family(std::string_view name, std::string_view type, std::string_view help) {
  family_ = std::string(name);
  out_ += fmt::format("# HELP {} {}\n# TYPE {} {}\n", name, help, name, type);
}

void MetricsText::Labels(const MetricLabels& labels) {
  out_ += family_;
  if (labels.empty()) return;
  out_ += '{';
  for (size_t i = 0; i < labels.size(); ++i) {
    if (i) out_ += ',';
    out_ += labels[i].first;
    out_ += "=\"";
    for (char c : labels[i].second) {
      if (c == '\\') out_ += "\\\\";
      else if (c == '"') out_ += "\\\"";
      else if (c == '\n') out_ += "\\n";
      else out_ += c;
    }
    out_ += '"';
  }
  out_ += '}';
}

void MetricsText::Sample(const MetricLabels& labels, uint64_t value) {
  Labels(labels);
  out_ += fmt::format(" {}\n", value);
}

void MetricsText::Sample(const MetricLabels& labels, double value) {
  Labels(labels);
  out_ += fmt::format(" {:.3f}\n", value);
}

void MetricsText::Single(std::string_view name, std::string_view type, std::string_view help, uint64_t value) {
  Family(name, type, help);
  Sample({}, value);
}

}  // namespace handoff
