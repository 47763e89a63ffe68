// `handoff exceptions list|show|retry|resolve|discard`: the human review
// queue. Every verb takes the loaded configuration and returns the process
// exit code (0 done, 1 runtime failure, 2 usage error).
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
};

int ExceptionsList(const Config& config, const ExceptionsArgs& args);
int ExceptionsShow(const Config& config, const ExceptionsArgs& args);
int ExceptionsRetry(const Config& config, const ExceptionsArgs& args);
int ExceptionsResolve(const Config& config, const ExceptionsArgs& args);
int ExceptionsDiscard(const Config& config, const ExceptionsArgs& args);

}  // namespace handoff
