// The admin HTTP endpoints: /livez, /readyz and /metrics (Prometheus text).
// Thread-safety: Start/Stop from one thread; the metrics callback runs on
// the server's threads and must be thread-safe.
#pragma once

#include <functional>
#include <memory>
#include <string>

#include "handoff/engine/status.h"

namespace handoff {

class AdminServer {
 public:
  // `metrics` renders the Prometheus text; `ready` says whether to answer 200 on /readyz.
  static Result<std::unique_ptr<AdminServer>> Start(const std::string& listen, std::function<std::string()> metrics,
                                                    std::function<bool()> ready);
  virtual ~AdminServer() = default;
  virtual void Stop() = 0;
};

}  // namespace handoff
