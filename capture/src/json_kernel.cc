#include "json_kernel.h"

#include <simdjson.h>

#include <cstdlib>
#include <mutex>

#include "handoff/engine/log.h"

namespace handoff {

void ChooseJsonKernel() {
  static std::once_flag once;
  std::call_once(once, [] {
    if (std::getenv("SIMDJSON_FORCE_IMPLEMENTATION") != nullptr) return;
    const simdjson::implementation* active = simdjson::get_active_implementation();
    if (active->name() != "icelake") return;
    const simdjson::implementation* haswell = simdjson::get_available_implementations()["haswell"];
    if (haswell != nullptr && haswell->supported_by_runtime_system()) {
      simdjson::get_active_implementation() = haswell;
      LogDebug("capture", "JSON parsing uses simdjson's haswell kernel instead of icelake");
    }
  });
}

}  // namespace handoff
