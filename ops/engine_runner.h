// EngineRunner: `handoff run`. Wires the journal, intake, one capture agent
// thread per source and one apply worker thread per target, serves the admin
// endpoints, and drains on SIGTERM/SIGINT.
//
// Thread-safety: Run() on the main thread only.
#pragma once

#include "handoff/engine/config.h"

namespace handoff {

// Returns the process exit code: 0 after a clean drain, 1 on a fatal error.
int RunEngine(const Config& config);

}  // namespace handoff
