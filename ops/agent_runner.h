// AgentRunner: `handoff agent --source NAME`. Runs one capture agent as its
// own process, talking to the engine's intake endpoint (engine.intake,
// tcp:// or ipc://) with the same batch/ack/credit protocol as the agent
// threads of `handoff run`. Either side may restart at any time: the agent
// resumes from the durable position the engine reports, and the journal drops
// what it already holds.
//
// Thread-safety: Run() on the main thread only.
#pragma once

#include <string>

#include "handoff/engine/config.h"

namespace handoff {

// Returns the process exit code: 0 after SIGTERM/SIGINT, 1 on a fatal error,
// 2 when the configuration cannot run this agent.
int RunAgent(const Config& config, const std::string& source);
// `handoff agent keygen`: prints a new CURVE key pair (Z85) for
// engine.intake_curve or engine.intake_client_key / intake_clients.
int RunAgentKeygen();

}  // namespace handoff
