// `handoff pause|resume --target T [--route FROM]` and the pause lines of `handoff status`: the
// operator's side of target pauses (handoff/apply/target_pause.h).
//
// Thread-safety: called from main only.
#pragma once

#include <string>

#include "handoff/engine/config.h"
#include "handoff/engine/journal.h"

namespace handoff {

// Records an operator hold of the target, or of one of its routes
// (`route`: source.schema.table). Exit code: 0 recorded, 1 journal failure,
// 2 usage (no such target or route).
int CmdPause(const Config& config, const std::string& target, const std::string& route, const std::string& actor,
             const std::string& note);

// With `route`: lifts that route's hold. Without: lifts the whole-target hold,
// and asks the running engine to retry an automatic pause now, waiting up to
// `wait_seconds` for the outcome. Exit code: 0 resumed (or not paused), 1
// still paused or no engine took the request, 2 usage.
int CmdResume(const Config& config, const std::string& target, const std::string& route, const std::string& actor,
              int wait_seconds);

// "    paused since ...: ..." for `handoff status` (with a trailing newline),
// or "" when the target is not paused.
std::string PauseStatusText(Journal* journal, const std::string& target);
// The pause as a JSON object for `handoff status --json`, or "null".
std::string PauseStatusJson(Journal* journal, const std::string& target);
// "    PAUSED by operator ..." lines, one per hold, or "".
std::string HoldStatusText(Journal* journal, const std::string& target);
// The holds as a JSON array: [{"route":null|"s.p.t","actor","note","since"}].
std::string HoldStatusJson(Journal* journal, const std::string& target);

}  // namespace handoff
