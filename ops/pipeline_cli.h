// `handoff snapshot` (read one table of a running PostgreSQL source again, in
// chunks beside the stream), `handoff verify` (compare a route's source and
// target tables while both change; verify.h) and `handoff reload` (SIGHUP to
// the engine that holds the journal) and `handoff reconcile` (finance's checks
// of one billing period, read from the systems; reconcile.h).
#pragma once

#include <CLI/CLI.hpp>

#include <string>

namespace handoff {

struct PipelineCliArgs {
  std::string* config = nullptr;
  std::string source, table, from, to;
  bool cancel = false;
  int wait_seconds = 30;
  // verify
  uint64_t chunk_rows = 1000, rate = 0;
  double verify_timeout = 120;
  bool json = false, repair = false;
  CLI::App* verify = nullptr;
  CLI::App* snapshot = nullptr;
  CLI::App* reload = nullptr;
  // reconcile
  std::string period, format = "table", output;
  CLI::App* reconcile = nullptr;
  CLI::App* checks = nullptr;
};

// Adds the verbs to `app`; `config` is the shared --config value.
void AddPipelineCommands(CLI::App& app, std::string* config, PipelineCliArgs* args);
// Runs the parsed verb: true (and *rc set) when one of them was given.
bool RunPipelineCommand(const PipelineCliArgs& args, int* rc);

}  // namespace handoff
