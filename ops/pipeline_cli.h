// `handoff snapshot` (read one table of a running PostgreSQL source again, in
// chunks beside the stream) and `handoff reload` (SIGHUP to the engine that
// holds the journal).
#pragma once

#include <CLI/CLI.hpp>

#include <string>

namespace handoff {

struct PipelineCliArgs {
  std::string* config = nullptr;
  std::string source, table, from, to;
  bool cancel = false;
  int wait_seconds = 30;
  CLI::App* snapshot = nullptr;
  CLI::App* reload = nullptr;
};

// Adds both verbs to `app`; `config` is the shared --config value.
void AddPipelineCommands(CLI::App& app, std::string* config, PipelineCliArgs* args);
// Runs the parsed verb: true (and *rc set) when one of them was given.
bool RunPipelineCommand(const PipelineCliArgs& args, int* rc);

}  // namespace handoff
