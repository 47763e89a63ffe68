// EngineRunner: `handoff run`. Wires the journal, intake, one capture agent
// thread per source and one apply worker thread per target, serves the admin
// endpoints, and drains on SIGTERM/SIGINT.
//
// Thread-safety: Run() on the main thread only.
#pragma once

#include <memory>
#include <optional>
#include <string>

#include "handoff/conflict/ownership_rules.h"
#include "handoff/engine/config.h"
#include "handoff/engine/status.h"
#include "handoff/schemas/flows.h"
#include "handoff/schemas/model.h"

namespace handoff {

// The canonical model and ownership rules named by `canonical:`.
struct CanonicalSetup {
  schemas::Model model;
  conflict::OwnershipRules rules;
  std::optional<schemas::Flows> flows;  // canonical.flows, when configured
};
// Loads both; every problem of either is reported (InvalidArgument).
Result<std::unique_ptr<CanonicalSetup>> LoadCanonical(const Config& config);

// Returns the process exit code: 0 after a clean drain, 1 on a fatal error.
// SIGHUP reloads `config_path` (see engine_pipeline.h).
int RunEngine(const Config& config, const std::string& config_path);

}  // namespace handoff
