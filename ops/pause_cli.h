// `handoff resume --target T` and the pause lines of `handoff status`: the
// operator's side of target pauses (handoff/apply/target_pause.h).
//
// Thread-safety: called from main only.
#pragma once

#include <string>

#include "handoff/engine/config.h"
#include "handoff/engine/journal.h"

namespace handoff {

// Asks the running engine to retry the paused target now and waits up to
// `wait_seconds` for the outcome. Exit code: 0 resumed (or not paused), 1
// still paused or no engine took the request, 2 usage.
int CmdResume(const Config& config, const std::string& target, const std::string& actor, int wait_seconds);

// "    paused since ...: ..." for `handoff status` (with a trailing newline),
// or "" when the target is not paused.
std::string PauseStatusText(Journal* journal, const std::string& target);
// The pause as a JSON object for `handoff status --json`, or "null".
std::string PauseStatusJson(Journal* journal, const std::string& target);

}  // namespace handoff
