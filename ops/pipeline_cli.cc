#include "pipeline_cli.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <algorithm>
#include <fstream>
#include <memory>
#include <optional>

#include "configured_journal.h"
#include "handoff/capture/backfill.h"
#include "handoff/engine/config.h"
#include "engine_runner.h"
#include "reconcile.h"
#include "scheduled_checks.h"
#include "verify.h"

namespace handoff {
namespace {

constexpr int kOk = 0, kFailure = 1, kUsage = 2;

// "a,b" -> {"a", "b"}; "\," keeps a comma inside a value.
std::vector<std::string> SplitKey(const std::string& text) {
  std::vector<std::string> out(1);
  for (size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '\\' && i + 1 < text.size()) {
      out.back() += text[++i];
    } else if (text[i] == ',') {
      out.emplace_back();
    } else {
      out.back() += text[i];
    }
  }
  return out;
}

// The configuration, or nullopt after saying what is wrong with it.
std::optional<Config> ConfigOrReport(const std::string& path) {
  auto cfg = LoadConfig(path);
  if (!cfg.ok()) {
    std::fprintf(stderr, "handoff: invalid configuration:\n%s\n", cfg.status().message().c_str());
    return std::nullopt;
  }
  return std::move(*cfg);
}

int CmdSnapshot(const PipelineCliArgs& a) {
  auto cfg = ConfigOrReport(*a.config);
  if (!cfg) return kUsage;
  const SourceConfig* source = nullptr;
  for (const auto& s : cfg->sources)
    if (s.name == a.source) source = &s;
  if (source == nullptr) {
    std::fprintf(stderr, "handoff snapshot: no source named '%s' in %s\n", a.source.c_str(), a.config->c_str());
    return kUsage;
  }
  BackfillRequest r;
  r.table = a.table;
  r.cancel = a.cancel;
  if (!a.from.empty()) r.from_key = SplitKey(a.from);
  if (!a.to.empty()) r.to_key = SplitKey(a.to);
  auto receipt = RequestBackfill(PostgresSourceConfig(*source), r);  // refused unless of kind postgres
  if (!receipt.ok()) {
    std::fprintf(stderr, "handoff snapshot: %s\n", receipt.status().ToString().c_str());
    return receipt.status().code() == StatusCode::kInvalidArgument ? kUsage : kFailure;
  }
  if (a.cancel) {
    std::printf("asked source %s to cancel its backfill of %s (request %s at %s)\n", a.source.c_str(),
                receipt->table.c_str(), receipt->id.c_str(), receipt->lsn.c_str());
  } else {
    std::printf("asked source %s to read %s again (request %s at %s), in chunks by key (%s); progress: `handoff "
                "status --config %s`\n",
                a.source.c_str(), receipt->table.c_str(), receipt->id.c_str(), receipt->lsn.c_str(),
                [&] {
                  std::string k;
                  for (const auto& c : receipt->key_columns) k += (k.empty() ? "" : ", ") + c;
                  return k;
                }()
                    .c_str(),
                a.config->c_str());
  }
  return kOk;
}

int CmdReload(const PipelineCliArgs& a) {
  auto cfg = LoadConfig(*a.config);
  if (!cfg.ok()) {
    // The engine would refuse it too; say so here instead of signalling.
    std::fprintf(stderr, "handoff reload: the configuration is invalid, nothing was reloaded:\n%s\n",
                 cfg.status().message().c_str());
    return kUsage;
  }
  const std::string lock = cfg->journal_path + "/handoff.lock";
  int fd = ::open(lock.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    std::fprintf(stderr, "handoff reload: no engine runs the journal at %s (%s: %s)\n", cfg->journal_path.c_str(),
                 lock.c_str(), std::strerror(errno));
    return kFailure;
  }
  // The engine holds the lock: if we can take it, nobody runs.
  if (::flock(fd, LOCK_SH | LOCK_NB) == 0) {
    ::close(fd);
    std::fprintf(stderr, "handoff reload: no engine runs the journal at %s\n", cfg->journal_path.c_str());
    return kFailure;
  }
  char buf[32] = {0};
  ssize_t n = ::pread(fd, buf, sizeof buf - 1, 0);
  ::close(fd);
  long pid = n > 0 ? std::strtol(buf, nullptr, 10) : 0;
  if (pid <= 0) {
    std::fprintf(stderr, "handoff reload: %s names no engine pid\n", lock.c_str());
    return kFailure;
  }
  if (::kill(static_cast<pid_t>(pid), SIGHUP) != 0) {
    std::fprintf(stderr, "handoff reload: cannot signal engine pid %ld: %s\n", pid, std::strerror(errno));
    return kFailure;
  }
  std::printf("sent SIGHUP to the engine (pid %ld); it reloads %s when valid (see its log)\n", pid,
              a.config->c_str());
  return kOk;
}

int CmdVerify(const PipelineCliArgs& a) {
  auto cfg = ConfigOrReport(*a.config);
  if (!cfg) return kUsage;
  std::unique_ptr<Journal> journal = OpenJournalOrReport(*cfg);
  if (!journal) return kFailure;
  VerifyOptions o;
  o.config = &*cfg;
  o.journal = journal.get();
  o.source = a.source;
  o.table = a.table;
  o.chunk_rows = a.chunk_rows;
  o.segment_rows = std::max<uint64_t>(o.segment_rows, a.chunk_rows);
  o.rate = a.rate;
  o.timeout_s = a.verify_timeout;
  o.repair = a.repair;
  auto result = VerifyRoutes(o);
  if (!result.ok()) {
    std::fprintf(stderr, "handoff verify: %s\n", result.status().message().c_str());
    return result.status().code() == StatusCode::kInvalidArgument ? kUsage : kFailure;
  }
  const std::string text = a.json ? VerificationJson(*result) : VerificationText(*result);
  std::fwrite(text.data(), 1, text.size(), stdout);
  bool equal = true;
  for (const TableVerification& t : *result) equal = equal && (t.equal() || (a.repair && t.repair_verified));
  return equal ? kOk : kFailure;
}

int CmdReconcile(const PipelineCliArgs& a) {
  auto cfg = ConfigOrReport(*a.config);
  if (!cfg) return kUsage;
  if (!cfg->canonical()) {
    std::fprintf(stderr, "handoff reconcile: needs canonical mode (a `canonical:` section in %s)\n", a.config->c_str());
    return kUsage;
  }
  auto setup = LoadCanonical(*cfg);
  if (!setup.ok()) {
    std::fprintf(stderr, "handoff reconcile: %s\n", setup.status().message().c_str());
    return kUsage;
  }
  std::unique_ptr<Journal> journal = OpenJournalOrReport(*cfg);
  if (!journal) return kFailure;
  ReconcileOptions o;
  o.config = &*cfg;
  o.model = &(*setup)->model;
  o.flows = (*setup)->flows ? &*(*setup)->flows : nullptr;
  o.journal = journal.get();
  o.period = a.period;
  auto report = Reconcile(o);
  if (!report.ok()) {
    std::fprintf(stderr, "handoff reconcile: %s\n", report.status().message().c_str());
    return report.status().code() == StatusCode::kInvalidArgument ? kUsage : kFailure;
  }
  const std::string text = a.format == "json"  ? ReconcileJson(*report)
                           : a.format == "csv" ? ReconcileCsv(*report)
                                               : ReconcileText(*report);
  if (a.output.empty()) {
    std::fwrite(text.data(), 1, text.size(), stdout);
  } else {
    std::ofstream out(a.output, std::ios::binary | std::ios::trunc);
    out << text;
    out.close();
    if (!out) {
      std::fprintf(stderr, "handoff reconcile: cannot write %s: %s\n", a.output.c_str(), std::strerror(errno));
      return kFailure;
    }
    std::printf("%s: %llu break(s) in %s; %s report written to %s\n", a.period.c_str(),
                static_cast<unsigned long long>(report->Breaks()), a.period.c_str(), a.format.c_str(), a.output.c_str());
  }
  return report->Breaks() == 0 ? kOk : kFailure;
}

int CmdChecks(const PipelineCliArgs& a) {
  auto cfg = ConfigOrReport(*a.config);
  if (!cfg) return kUsage;
  std::unique_ptr<Journal> journal = OpenJournalOrReport(*cfg);
  if (!journal) return kFailure;
  auto kept = ScheduledChecks::ReadKept(journal.get(), a.json);
  if (!kept.ok()) {
    std::fprintf(stderr, "handoff checks: %s\n", kept.status().ToString().c_str());
    return kFailure;
  }
  if (kept->empty() && !a.json)
    std::printf("no scheduled check has run yet (the `verify:` and `reconcile:` sections of %s schedule them)\n",
                a.config->c_str());
  for (const std::string& line : *kept) std::printf("%s\n", line.c_str());
  return kOk;
}

}  // namespace

void AddPipelineCommands(CLI::App& app, std::string* config, PipelineCliArgs* a) {
  a->config = config;
  a->snapshot = app.add_subcommand(
      "snapshot", "read one table of a running PostgreSQL source again, in chunks beside the stream (a backfill)");
  a->snapshot->add_option("--config", *config, "configuration file")->required();
  a->snapshot->add_option("--source", a->source, "the PostgreSQL source")->required();
  a->snapshot->add_option("--table", a->table, "schema.table, one of the source's tables")->required();
  a->snapshot->add_option("--from", a->from, "first key to read (comma-separated per key column)");
  a->snapshot->add_option("--to", a->to, "last key to read (comma-separated per key column)");
  a->snapshot->add_flag("--cancel", a->cancel, "cancel the running backfill of the table");
  a->verify = app.add_subcommand(
      "verify", "compare a source's tables with the target tables its routes write, while both change");
  a->verify->add_option("--config", *config, "configuration file")->required();
  a->verify->add_option("--route", a->source, "the PostgreSQL source whose routes are verified")->required();
  a->verify->add_option("--table", a->table, "schema.table of the source: only its route");
  a->verify->add_option("--chunk-rows", a->chunk_rows, "rows per compared key range (default 1000)")
      ->check(CLI::Range(uint64_t{1}, uint64_t{1000000}));
  a->verify->add_option("--rate", a->rate, "at most this many source rows read per second (default: unpaced)");
  a->verify->add_option("--timeout", a->verify_timeout, "seconds to wait for the target to reach a watermark (default 120)")
      ->check(CLI::PositiveNumber);
  a->verify->add_flag("--json", a->json, "print JSON");
  a->verify->add_flag("--repair", a->repair,
                      "re-read the missing and different rows through the source's chunked snapshot, then check them");
  a->reconcile = app.add_subcommand(
      "reconcile", "finance's checks of one period, read from the systems: time posted at its rate, billed once, "
                   "invoice totals, won deals provisioned");
  a->reconcile->add_option("--config", *config, "configuration file")->required();
  a->reconcile->add_option("--period", a->period, "the billing period, YYYY-MM")->required();
  a->reconcile->add_option("--format", a->format, "table (default), json or csv")
      ->check(CLI::IsMember({"table", "json", "csv"}));
  a->reconcile->add_option("--output", a->output, "write the report to this file instead of standard output");
  a->checks = app.add_subcommand("checks", "the latest results of the scheduled verify and reconcile checks");
  a->checks->add_option("--config", *config, "configuration file")->required();
  a->checks->add_flag("--json", a->json, "one JSON object a line, with each check's full report");
  a->reload = app.add_subcommand("reload", "make the running engine read its configuration again (SIGHUP)");
  a->reload->add_option("--config", *config, "configuration file")->required();
}

bool RunPipelineCommand(const PipelineCliArgs& a, int* rc) {
  if (a.snapshot && a.snapshot->parsed()) {
    *rc = CmdSnapshot(a);
    return true;
  }
  if (a.verify && a.verify->parsed()) {
    *rc = CmdVerify(a);
    return true;
  }
  if (a.reconcile && a.reconcile->parsed()) {
    *rc = CmdReconcile(a);
    return true;
  }
  if (a.checks && a.checks->parsed()) {
    *rc = CmdChecks(a);
    return true;
  }
  if (a.reload && a.reload->parsed()) {
    *rc = CmdReload(a);
    return true;
  }
  return false;
}

}  // namespace handoff
