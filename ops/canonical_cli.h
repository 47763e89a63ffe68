// `handoff trace KEY` and `handoff billing close --period YYYY-MM`: the
// canonical mode's verbs. Each returns the process exit code (0 done, 1
// runtime failure, 2 usage error).
//
// Thread-safety: called from main only.
#pragma once

#include <string>

#include "handoff/engine/config.h"

namespace handoff {

// brief: leave out routine decisions (every field applied, no conflict).
int CmdTrace(const Config& config, const std::string& ref, bool json, bool brief);
int CmdBillingClose(const Config& config, const std::string& period, int wait_seconds);

}  // namespace handoff
