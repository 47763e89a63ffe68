// Crash points for fault-injection tests. HANDOFF_CRASH_AT="name:N" makes
// the Nth pass through CrashPoint("name") kill the process with SIGKILL, as a
// power cut would, at exactly that place. Unset, a crash point costs one
// relaxed load.
// Thread-safety: safe from any thread.
#pragma once

namespace handoff {

void CrashPoint(const char* name);

}  // namespace handoff
