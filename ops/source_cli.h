// `handoff source drop`: removes what a source left behind (its replication
// slot, the publication handoff created for it, its position in the
// journal), and the status lines about sources the journal still knows but
// the configuration no longer names.
//
// Thread-safety: called from main (the status helpers also from the admin
// server's thread); nothing shared.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "handoff/engine/config.h"
#include "handoff/engine/journal.h"

namespace handoff {

struct SourceDropArgs {
  std::string source;
  std::string dsn;          // the server, when the source is no longer configured (wins over the config's)
  std::string slot;         // default: the configured one, else handoff_<source>
  std::string publication;  // default: the configured one, else handoff_<source>
  bool yes = false;
};

// Exit code: 0 dropped, 1 refused (an engine runs the journal, the slot is
// active) or failed, 2 usage, or the plan printed without --yes.
int CmdSourceDrop(const Config& config, const SourceDropArgs& args);

// Sources with a position in the journal that the configuration does not name.
std::vector<std::pair<std::string, SourcePosition>> UnconfiguredSources(const Config& config, Journal* journal);
std::vector<std::pair<std::string, SourcePosition>> UnconfiguredSources(
    const std::vector<std::string>& configured, Journal* journal);
// "  source X is in the journal but not configured; ..." lines, or "".
std::string UnconfiguredSourcesText(const std::vector<std::pair<std::string, SourcePosition>>& sources);
// [{"name":..,"durable_position":..}, ...]
std::string UnconfiguredSourcesJson(const std::vector<std::pair<std::string, SourcePosition>>& sources);

}  // namespace handoff
