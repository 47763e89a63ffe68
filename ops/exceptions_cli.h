// `handoff exceptions list|show|retry|resolve|discard`: the human review
// queue. Every verb takes the loaded configuration and returns the process
// exit code (0 done, 1 runtime failure, 2 usage error). retry and discard
// also work in bulk (--reason CODE or --all instead of --seq): they print how
// many open records match and act only with --yes; without it nothing is
// done and the exit code is 2, so a script cannot take the preview for the
// action. Pause records (code target_paused) are never acted on in bulk nor
// one by one: they close when the target takes the held changes.
//
// Thread-safety: called from main only.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "handoff/engine/config.h"

namespace handoff {

struct ExceptionsArgs {
  std::string target;           // show/retry/resolve/discard: the exception's target
  uint64_t seq = 0;             // ... and journal seq
  std::string state = "open";   // list: open, retried, resolved, discarded or all
  bool json = false;
  std::vector<std::string> set;       // resolve: column=value
  std::vector<std::string> set_null;  // resolve: column
  std::string actor;                  // resolve/discard: who
  std::string note;                   // resolve/discard: why
  int wait_seconds = 60;              // retry of a canonical exception: how long to wait for the engine
  // Bulk retry/discard (instead of --seq): every open exception of the target
  // with this code, or all of them; acts only with `yes`.
  std::string reason;
  bool all = false;
  bool yes = false;
};

int ExceptionsList(const Config& config, const ExceptionsArgs& args);
int ExceptionsShow(const Config& config, const ExceptionsArgs& args);
int ExceptionsRetry(const Config& config, const ExceptionsArgs& args);
int ExceptionsResolve(const Config& config, const ExceptionsArgs& args);
int ExceptionsDiscard(const Config& config, const ExceptionsArgs& args);

}  // namespace handoff
