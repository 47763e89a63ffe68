// Service manager notifications (the sd_notify protocol, without libsystemd):
// one datagram such as "READY=1" to the unix socket named by $NOTIFY_SOCKET.
// Does nothing when the variable is unset (not started by systemd with
// Type=notify).
//
// Thread-safety: safe from any thread.
#pragma once

#include <string_view>

namespace handoff {

// Sends `state` (e.g. "READY=1", "STOPPING=1", "STATUS=..."); returns whether
// a notification was delivered.
bool NotifyServiceManager(std::string_view state);

}  // namespace handoff
