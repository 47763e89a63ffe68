// The admin HTTP endpoints, all read-only and free of secrets:
//   /livez    200 while the process serves requests
//   /readyz   200 or 503, with the reasons as JSON
//   /metrics  Prometheus text
//   /status   the live state of every source and target as JSON (what
//             `handoff status` shows while an engine runs)
// Thread-safety: Start/Stop from one thread; the callbacks run on the
// server's threads and must be thread-safe.
#pragma once

#include <functional>
#include <memory>
#include <string>

#include "handoff/engine/config.h"
#include "handoff/engine/status.h"

namespace handoff {

struct Readiness {
  bool ready = false;
  std::string json;  // {"ready":...,"reasons":[...]}
};

struct AdminHandlers {
  std::function<std::string()> metrics;
  std::function<Readiness()> ready;
  std::function<std::string(bool text)> status;  // JSON, or the text of `handoff status`
  std::function<std::string()> checks;           // JSON of the scheduled checks' latest results
};

class AdminServer {
 public:
  // `limits`: the `admin:` connection and request-head limits.
  static Result<std::unique_ptr<AdminServer>> Start(const std::string& listen, AdminHandlers handlers,
                                                    const HttpServerLimits& limits = HttpServerLimits{});
  virtual ~AdminServer() = default;
  virtual void Stop() = 0;
};

}  // namespace handoff
