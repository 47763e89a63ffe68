// The journal a configuration names, opened the same way by every verb.
//
// Thread-safety: plain functions.
#pragma once

#include <memory>

#include "handoff/engine/config.h"
#include "handoff/engine/journal.h"

namespace handoff {

// The journal options of `config` (path, map sizes, retention).
JournalOptions JournalOptionsOf(const Config& config);

// Opens the existing journal of `config` (never creates one, never takes the
// engine's lock); on failure prints one sentence naming the path and the
// reason ("no journal at PATH") to stderr and returns null.
std::unique_ptr<Journal> OpenJournalOrReport(const Config& config);

}  // namespace handoff
