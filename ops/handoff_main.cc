// The handoff binary: `handoff <verb> --config FILE ...`, and `handoff inspect
// debezium FILE|-`, which needs no configuration.
// Exit codes: 0 success, 1 runtime failure, 2 usage or configuration error.
#include <CLI/CLI.hpp>
#include <httplib.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <iostream>
#include <map>

#include "agent_runner.h"
#include "canonical_cli.h"
#include "cli_suggest.h"
#include "configured_journal.h"
#include "engine_runner.h"
#include "exceptions_cli.h"
#include "pause_cli.h"
#include "source_cli.h"
#include "pipeline_cli.h"
#include "target_factory.h"
#include "handoff/apply/pg_applier.h"
#include "handoff/capture/debezium.h"
#include "handoff/capture/table_checks.h"
#include "handoff/engine/config.h"
#include "handoff/engine/event_json.h"
#include "handoff/engine/journal.h"
#include "handoff/engine/log.h"

namespace handoff {
namespace {

constexpr int kExitOk = 0, kExitFailure = 1, kExitUsage = 2;

// --log-format, when given, wins over the configuration's log.format.
bool g_log_format_flag = false;

// Loads the config or prints why not and exits 2. Applies its `log` section.
Config LoadOrExit(const std::string& path) {
  auto cfg = LoadConfig(path);
  if (!cfg.ok()) {
    std::fprintf(stderr, "handoff: invalid configuration:\n%s\n", cfg.status().message().c_str());
    std::exit(kExitUsage);
  }
  LogFormat format;
  if (!g_log_format_flag && ParseLogFormat(cfg->log_format, &format)) SetLogFormat(format);
  LogLevel level;
  if (ParseLogLevel(cfg->log_level, &level)) SetLogLevel(level);
  return std::move(cfg).value();
}

std::unique_ptr<Journal> OpenJournalOrExit(const Config& cfg) {
  auto j = OpenJournalOrReport(cfg);
  if (!j) std::exit(kExitFailure);
  return j;
}

int CmdValidate(const std::string& path) {
  Config cfg = LoadOrExit(path);
  if (cfg.canonical()) {
    auto c = LoadCanonical(cfg);
    if (!c.ok()) {
      std::fprintf(stderr, "handoff: invalid configuration:\n%s\n", c.status().message().c_str());
      return kExitUsage;
    }
  }
  // The tables of every PostgreSQL source that answers (table_checks.h); one
  // that does not is said so and does not fail the offline checks.
  std::vector<std::string> problems, unchecked;
  size_t checked = 0, postgres = 0;
  for (const auto& source : cfg.sources) {
    if (source.postgres() == nullptr) continue;
    const PostgresSourceConfig s(source);
    ++postgres;
    auto report = CheckSourceTables(s, std::chrono::seconds(3));
    if (!report.ok()) {
      unchecked.push_back(fmt::format("source {}: tables not checked: {}", s.name, report.status().message()));
      continue;
    }
    ++checked;
    for (const auto& p : report->problems) problems.push_back(fmt::format("{}: source {}: {}", path, s.name, p));
    if (!report->ok() || s.partitions != "each") continue;
    for (const auto& r : cfg.routes) {  // a route may name a partition: one that exists
      if (r.from_source != s.name) continue;
      bool found = false;
      for (const auto& rel : report->relations) found |= rel.schema == r.from_schema && rel.table == r.from_table;
      if (!found)
        problems.push_back(fmt::format("{}: route from {}.{}.{}: the source captures no such table or partition",
                                       path, r.from_source, r.from_schema, r.from_table));
    }
  }
  for (const auto& u : unchecked) std::fprintf(stderr, "handoff: %s\n", u.c_str());
  if (!problems.empty()) {
    std::string all;
    for (const auto& p : problems) all += p + "\n";
    std::fprintf(stderr, "handoff: invalid configuration:\n%s", all.c_str());
    return kExitUsage;
  }
  std::printf("%s: valid (%zu sources, %zu targets, %zu routes; tables checked on %zu of %zu PostgreSQL sources)\n",
              path.c_str(), cfg.sources.size(), cfg.targets.size(), cfg.routes.size(), checked, postgres);
  return kExitOk;
}

// Asks a running engine for its live status on admin.listen (/status).
// Returns false when none answers within a second.
bool LiveStatus(const Config& cfg, bool json, std::string* out) {
  if (cfg.admin_listen.empty()) return false;
  auto colon = cfg.admin_listen.rfind(':');
  std::string host = cfg.admin_listen.substr(0, colon);
  if (host.empty() || host == "0.0.0.0" || host == "*") host = "127.0.0.1";
  if (host == "[::]" || host == "::") host = "::1";
  if (host.size() > 2 && host.front() == '[') host = host.substr(1, host.size() - 2);
  httplib::Client client(host, std::atoi(cfg.admin_listen.c_str() + colon + 1));
  client.set_connection_timeout(1, 0);
  client.set_read_timeout(5, 0);
  auto res = client.Get(json ? "/status" : "/status?format=text");
  if (!res || res->status != 200) return false;
  // Another program may own the port: only an answer shaped like ours counts.
  if (json ? res->body.rfind("{\"engine\":", 0) != 0 : res->body.rfind("engine ", 0) != 0) return false;
  *out = res->body;
  return true;
}

int CmdStatus(const std::string& path, bool json) {
  Config cfg = LoadOrExit(path);
  // A running engine answers first: its journal may be on a full disk that
  // another open would refuse.
  std::string live;
  if (LiveStatus(cfg, json, &live)) {
    std::fwrite(live.data(), 1, live.size(), stdout);
    return kExitOk;
  }
  auto journal = OpenJournalOrExit(cfg);
  JournalStats js = journal->Stats();
  auto sources = journal->Sources();
  auto targets = journal->Targets();
  auto open = journal->Exceptions(ExceptionState::kOpen);
  if (!sources.ok() || !targets.ok() || !open.ok()) {
    std::fprintf(stderr, "handoff: cannot read the journal status\n");
    return kExitFailure;
  }
  auto applied_of = [&](const std::string& name) -> uint64_t {
    for (const auto& [n, s] : *targets)
      if (n == name) return s;
    return 0;
  };
  if (json) {
    std::string out = fmt::format(
        "{{\"engine\":{{\"running\":false}},\"journal\":{{\"id\":{},\"path\":{},\"first_seq\":{},\"last_seq\":{},\"entries\":{},"
        "\"used_bytes\":{},\"map_bytes\":{}}},\"sources\":[",
        JsonString(journal->id()), JsonString(cfg.journal_path), js.first_seq, js.last_seq, js.entries, js.used_bytes,
        js.map_size);
    for (size_t i = 0; i < cfg.sources.size(); ++i) {
      SourcePosition pos;
      for (const auto& [n, p] : *sources)
        if (n == cfg.sources[i].name) pos = p;
      out += fmt::format("{}{{\"name\":{},\"durable_position\":{}}}", i ? "," : "", JsonString(cfg.sources[i].name),
                         JsonString(FormatPosition(pos)));
    }
    out += "],\"targets\":[";
    for (size_t i = 0; i < cfg.targets.size(); ++i) {
      uint64_t a = applied_of(cfg.targets[i].name);
      out += fmt::format("{}{{\"name\":{},\"applied_seq\":{},\"lag_events\":{},\"paused\":{},"
                         "\"operator_holds\":{}}}", i ? "," : "", JsonString(cfg.targets[i].name), a,
                         js.last_seq > a ? js.last_seq - a : 0, PauseStatusJson(journal.get(), cfg.targets[i].name),
                         HoldStatusJson(journal.get(), cfg.targets[i].name));
    }
    out += "],\"unconfigured_sources\":" + UnconfiguredSourcesJson(UnconfiguredSources(cfg, journal.get()));
    out += fmt::format(",\"exceptions_open\":{},\"exceptions_by_reason\":{{", open->size());
    std::map<std::string, size_t> by_code;
    for (const auto& r : *open) ++by_code[r.code];
    size_t i = 0;
    for (const auto& [code, n] : by_code) out += fmt::format("{}{}:{}", i++ ? "," : "", JsonString(code), n);
    out += "}}";
    std::printf("%s\n", out.c_str());
    return kExitOk;
  }
  std::printf("engine    not running (%s)\n", cfg.admin_listen.empty() ? "no admin.listen configured to ask"
                                                                    : ("no answer on " + cfg.admin_listen).c_str());
  std::printf("journal   %s (id %s)\n  seq %llu..%llu (%llu entries), %.1f MiB used of %.1f MiB map\n",
              cfg.journal_path.c_str(), journal->id().c_str(), static_cast<unsigned long long>(js.first_seq),
              static_cast<unsigned long long>(js.last_seq), static_cast<unsigned long long>(js.entries),
              js.used_bytes / 1048576.0, js.map_size / 1048576.0);
  std::printf("sources\n");
  for (const auto& s : cfg.sources) {
    SourcePosition pos;
    for (const auto& [n, p] : *sources)
      if (n == s.name) pos = p;
    std::printf("  %-12s durable position %s\n", s.name.c_str(), FormatPosition(pos).c_str());
  }
  std::printf("%s", UnconfiguredSourcesText(UnconfiguredSources(cfg, journal.get())).c_str());
  std::printf("targets\n");
  for (const auto& t : cfg.targets) {
    uint64_t a = applied_of(t.name);
    std::printf("  %-12s applied seq %llu, lag %llu events\n", t.name.c_str(), static_cast<unsigned long long>(a),
                static_cast<unsigned long long>(js.last_seq > a ? js.last_seq - a : 0));
    std::printf("%s", PauseStatusText(journal.get(), t.name).c_str());
    std::printf("%s", HoldStatusText(journal.get(), t.name).c_str());
  }
  std::printf("exceptions open: %zu\n", open->size());
  std::map<std::string, size_t> by_code;
  for (const auto& r : *open) ++by_code[r.code];
  for (const auto& [code, n] : by_code) std::printf("  %-14s %zu\n", code.c_str(), n);
  return kExitOk;
}

int CmdReplay(const std::string& path, const std::string& target, uint64_t from_seq) {
  Config cfg = LoadOrExit(path);
  const TargetConfig* t = cfg.FindTarget(target);
  if (t == nullptr) {
    std::fprintf(stderr, "handoff: --target %s names no configured target\n", target.c_str());
    return kExitUsage;
  }
  auto journal = OpenJournalOrExit(cfg);
  JournalStats js = journal->Stats();
  if (js.first_seq > from_seq && from_seq > 0) {
    std::fprintf(stderr, "handoff: the journal starts at seq %llu; entries before it were removed by retention\n",
                 static_cast<unsigned long long>(js.first_seq));
    return kExitFailure;
  }
  auto applier = MakeTarget(cfg, *t, journal.get(), TargetRun{from_seq, {}, {}, {}, {}});
  if (!applier.ok()) {
    std::fprintf(stderr, "handoff: %s\n", applier.status().ToString().c_str());
    return kExitFailure;
  }
  Status st = (*applier)->Run();
  if (!st.ok()) {
    std::fprintf(stderr, "handoff: replay to %s failed: %s\n", target.c_str(), st.ToString().c_str());
    return kExitFailure;
  }
  std::printf("replayed seq %llu..%llu to %s: %llu rows written, %llu exceptions\n",
              static_cast<unsigned long long>(from_seq), static_cast<unsigned long long>(js.last_seq), target.c_str(),
              static_cast<unsigned long long>((*applier)->counters().rows.load()),
              static_cast<unsigned long long>((*applier)->counters().exceptions.load()));
  return kExitOk;
}

// Output formats of `journal dump`.
enum class DumpFormat : uint8_t { kJson, kDebezium };

// Prints journal entries from from_seq on, at most `limit`, one line each. In
// kDebezium format each event is written by EncodeDebezium (a commit marker
// becomes a transaction END record), with the schema envelope when
// `with_schema`.
int CmdDump(const std::string& path, uint64_t from_seq, uint64_t limit, DumpFormat format, bool with_schema) {
  Config cfg = LoadOrExit(path);
  DebeziumEncodeOptions dbz;
  dbz.include_schema = with_schema;
  auto journal = OpenJournalOrExit(cfg);
  std::vector<JournalEntry> entries;
  uint64_t next = from_seq, printed = 0;
  while (printed < limit) {
    Status st = journal->Read(next, std::min<uint64_t>(1000, limit - printed), &entries);
    if (!st.ok()) {
      std::fprintf(stderr, "handoff: %s\n", st.ToString().c_str());
      return kExitFailure;
    }
    if (entries.empty()) break;
    for (const auto& e : entries) {
      std::string line = format == DumpFormat::kDebezium ? EncodeDebezium(e.event, dbz) : EntryToJson(e);
      if (line.empty()) continue;  // a schema change has no Debezium record
      line.push_back('\n');
      std::fwrite(line.data(), 1, line.size(), stdout);
    }
    printed += entries.size();
    next = entries.back().seq + 1;
  }
  return kExitOk;
}

// Reads all of `file` ("-" = stdin) into *out; on failure prints a sentence
// naming the file and the errno reason and returns false.
bool ReadInput(const std::string& file, std::string* out) {
  const bool is_stdin = file == "-";
  const char* name = is_stdin ? "standard input" : file.c_str();
  FILE* f = is_stdin ? stdin : std::fopen(file.c_str(), "rb");
  if (f == nullptr) {
    std::fprintf(stderr, "handoff: cannot open %s: %s\n", name, std::strerror(errno));
    return false;
  }
  char buf[1 << 16];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof(buf), f)) > 0) out->append(buf, n);
  int err = std::ferror(f) ? (errno != 0 ? errno : EIO) : 0;
  if (!is_stdin) std::fclose(f);
  if (err != 0) {
    std::fprintf(stderr, "handoff: cannot read %s: %s\n", name, std::strerror(err));
    return false;
  }
  return true;
}

// Decodes Debezium JSON from `file` ("-" = stdin) and prints each record as a
// normalized JSON line. On malformed input the records decoded before the bad
// document are printed, then the decoder's reason (with its byte offset) goes
// to stderr and the result is 1.
int CmdInspectDebezium(const std::string& file) {
  std::string input;
  if (!ReadInput(file, &input)) return kExitFailure;
  DebeziumDecoder decoder;
  std::vector<DecodedRecord> records;
  Status st = decoder.DecodeAll(input, &records);
  std::string out;
  for (const auto& r : records) {
    out += DecodedRecordToJson(r);
    out.push_back('\n');
    if (out.size() >= (1 << 16)) {
      std::fwrite(out.data(), 1, out.size(), stdout);
      out.clear();
    }
  }
  std::fwrite(out.data(), 1, out.size(), stdout);
  std::fflush(stdout);
  if (!st.ok()) {
    std::fprintf(stderr, "handoff: %s: %s\n", file == "-" ? "standard input" : file.c_str(), st.message().c_str());
    return kExitFailure;
  }
  if (std::ferror(stdout)) {
    std::fprintf(stderr, "handoff: cannot write to standard output: %s\n", std::strerror(errno));
    return kExitFailure;
  }
  return kExitOk;
}

}  // namespace
}  // namespace handoff

int main(int argc, char** argv) {
  using namespace handoff;
  CLI::App app{"handoff: change-data-capture sync between CRM, PSA and ERP systems"};
  app.require_subcommand(1);
  app.fallthrough();  // global options may follow the verb
  app.set_version_flag("--version", "handoff " HANDOFF_VERSION, "print the version and exit");
  std::string config = "handoff.yaml";
  std::string log_format;
  app.add_option("--log-format", log_format, "log lines as text or json (one JSON object per line); overrides log.format")
      ->check(CLI::IsMember({"text", "json"}));

  auto* run = app.add_subcommand("run", "run the engine until SIGTERM/SIGINT");
  run->add_option("--config", config, "configuration file")->required();

  std::string agent_source;
  auto* agent = app.add_subcommand("agent", "run one capture agent as its own process, sending to engine.intake");
  // Not required by the parser so that `agent keygen` needs neither; checked below.
  auto* agent_config_opt = agent->add_option("--config", config, "configuration file (required)");
  auto* agent_source_opt = agent->add_option("--source", agent_source, "source name (required)");
  auto* keygen = agent->add_subcommand("keygen", "print a new CURVE key pair (Z85) for the intake's engine.intake_* keys");

  bool json = false;
  auto* status = app.add_subcommand("status", "show sources, journal, targets and open exceptions");
  status->add_option("--config", config, "configuration file")->required();
  status->add_flag("--json", json, "print JSON");

  std::string target;
  uint64_t from_seq = 1;
  auto* replay = app.add_subcommand("replay", "re-apply journal entries to one target");
  replay->add_option("--config", config, "configuration file")->required();
  replay->add_option("--target", target, "target name")->required();
  replay->add_option("--from-seq", from_seq, "first journal seq to apply")->required();

  auto* journal = app.add_subcommand("journal", "journal tools");
  journal->require_subcommand(1);
  uint64_t limit = UINT64_MAX;
  std::string format = "json";
  auto* dump = journal->add_subcommand("dump", "print journal entries as JSON lines");
  dump->add_option("--config", config, "configuration file")->required();
  dump->add_option("--from-seq", from_seq, "first seq to print");
  dump->add_option("--limit", limit, "at most this many entries");
  bool with_schema = false;
  dump->add_option("--format", format, "output format: json, or debezium (Debezium PostgreSQL connector values)")
      ->check(CLI::IsMember({"json", "debezium"}));
  dump->add_flag("--with-schema", with_schema, "debezium format: include the {schema, payload} envelope");

  auto* inspect = app.add_subcommand("inspect", "decode external formats");
  inspect->require_subcommand(1);
  std::string inspect_file;
  auto* inspect_dbz = inspect->add_subcommand(
      "debezium", "decode Debezium JSON (one document, an array, or one per line) and print normalized JSON lines");
  inspect_dbz->add_option("FILE", inspect_file, "input file, or - for standard input")->required();

  ExceptionsArgs ex;
  auto* exc = app.add_subcommand("exceptions", "the human review queue of changes a target could not take");
  exc->require_subcommand(1);
  auto* ex_list = exc->add_subcommand("list", "list exceptions with their reasons and counts per reason");
  ex_list->add_option("--config", config, "configuration file")->required();
  ex_list->add_option("--state", ex.state, "open (default), retried, resolved, discarded or all");
  ex_list->add_option("--target", ex.target, "only this target");
  ex_list->add_flag("--json", ex.json, "print JSON lines");
  auto add_id = [&](CLI::App* c, bool bulk = false) {
    c->add_option("--config", config, "configuration file")->required();
    c->add_option("--target", ex.target, "target of the exception")->required();
    auto* seq = c->add_option("--seq", ex.seq, "journal seq of the exception");
    if (!bulk) seq->required();
    if (!bulk) return;
    c->add_option("--reason", ex.reason, "instead of --seq: every open exception of the target with this code");
    c->add_flag("--all", ex.all, "instead of --seq: every open exception of the target");
    c->add_option("--state", ex.state, "bulk: open (the only state acted on)");
    c->add_flag("--yes", ex.yes, "bulk: act (without it: print the count, do nothing, exit 2)");
  };
  auto* ex_show = exc->add_subcommand("show", "show one exception: reason, old, new and current images, the change");
  add_id(ex_show);
  ex_show->add_flag("--json", ex.json, "print JSON");
  auto* ex_retry = exc->add_subcommand("retry", "apply the change again (after the data was fixed)");
  add_id(ex_retry, true);
  ex_retry->add_option("--actor", ex.actor, "who retried");
  auto* ex_resolve = exc->add_subcommand("resolve", "apply the change with operator-chosen values");
  add_id(ex_resolve);
  ex_resolve->add_option("--set", ex.set, "column=value (repeatable)");
  ex_resolve->add_option("--set-null", ex.set_null, "column to set NULL (repeatable)");
  ex_resolve->add_option("--actor", ex.actor, "who decided")->required();
  ex_resolve->add_option("--note", ex.note, "why");
  auto* ex_discard = exc->add_subcommand("discard", "close the exception without applying, recording who and why");
  add_id(ex_discard, true);
  ex_discard->add_option("--actor", ex.actor, "who decided")->required();
  ex_discard->add_option("--note", ex.note, "why")->required();

  ex_retry->add_option("--wait", ex.wait_seconds, "canonical exceptions: seconds to wait for the engine (default 60)");

  std::string resume_actor;
  int resume_wait = 60;
  std::string pause_route, pause_note;
  auto* pause = app.add_subcommand("pause", "hold a target (or one route) until `handoff resume`; the journal goes on");
  pause->add_option("--config", config, "configuration file")->required();
  pause->add_option("--target", target, "the target to hold")->required();
  pause->add_option("--route", pause_route, "only this route (its from: source.schema.table)");
  pause->add_option("--actor", resume_actor, "who pauses it (default: $USER)");
  pause->add_option("--note", pause_note, "why");
  auto* resume = app.add_subcommand("resume", "lift an operator pause, or retry a paused target now");
  resume->add_option("--config", config, "configuration file")->required();
  resume->add_option("--target", target, "the paused target")->required();
  resume->add_option("--route", pause_route, "lift only this route's pause");
  resume->add_option("--actor", resume_actor, "who asked");
  resume->add_option("--wait", resume_wait, "seconds to wait for the engine's retry (default 60)");

  std::string trace_ref;
  auto* trace = app.add_subcommand("trace", "show the path of an engagement: decisions, derived changes, rows written");
  trace->add_option("--config", config, "configuration file")->required();
  trace->add_option("KEY", trace_ref, "crm:opportunities:42, or a canonical key such as engagement:crm:42")->required();
  trace->add_flag("--json", json, "print JSON");
  bool brief = false;
  trace->add_flag("--brief", brief, "leave out routine decisions (every field applied, no conflict)");

  auto* billing = app.add_subcommand("billing", "billing tools (canonical mode)");
  billing->require_subcommand(1);
  std::string period;
  int billing_wait = 60;
  auto* close = billing->add_subcommand("close", "draft the invoices of a billing period (idempotent)");
  close->add_option("--config", config, "configuration file")->required();
  close->add_option("--period", period, "YYYY-MM")->required();
  close->add_option("--wait", billing_wait, "seconds to wait for the engine to draft them (default 60)");

  SourceDropArgs drop_args;
  auto* source_cmd = app.add_subcommand("source", "source lifecycle tools");
  source_cmd->require_subcommand(1);
  auto* source_drop = source_cmd->add_subcommand(
      "drop", "drop a source's replication slot, the publication handoff created and its journal position");
  source_drop->add_option("--config", config, "configuration file")->required();
  source_drop->add_option("--source", drop_args.source, "source name (configured or not)")->required();
  source_drop->add_option("--dsn", drop_args.dsn, "its server, when the source is no longer configured");
  source_drop->add_option("--slot", drop_args.slot, "slot name (default: the configured one, else handoff_<source>)");
  source_drop->add_option("--publication", drop_args.publication,
                          "publication name (default: the configured one, else handoff_<source>)");
  source_drop->add_flag("--yes", drop_args.yes, "act (without it: print what would be dropped, exit 2)");

  auto* cfgcmd = app.add_subcommand("config", "configuration tools");
  cfgcmd->require_subcommand(1);
  auto* validate = cfgcmd->add_subcommand("validate", "check a configuration file and list every problem");
  validate->add_option("--config", config, "configuration file")->required();

  PipelineCliArgs pipeline;
  AddPipelineCommands(app, &config, &pipeline);

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    if (e.get_exit_code() != 0) {
      std::string unknown = UnknownVerbMessage(app, std::vector<std::string>(argv + 1, argv + argc));
      if (!unknown.empty()) {
        std::fprintf(stderr, "handoff: %s\n", unknown.c_str());
        return 2;
      }
    }
    int rc = app.exit(e);
    return rc == 0 ? 0 : 2;
  }
  if (!log_format.empty()) {
    LogFormat format = LogFormat::kText;
    ParseLogFormat(log_format, &format);
    SetLogFormat(format);
    g_log_format_flag = true;
  }
  if (run->parsed()) return RunEngine(LoadOrExit(config), config);
  if (int rc = 0; RunPipelineCommand(pipeline, &rc)) return rc;
  if (keygen->parsed()) return RunAgentKeygen();
  if (agent->parsed()) {
    if (agent_config_opt->count() == 0 || agent_source_opt->count() == 0) {
      std::fprintf(stderr, "handoff agent: --config and --source are required\n");
      return 2;
    }
    return RunAgent(LoadOrExit(config), agent_source);
  }
  if (status->parsed()) return CmdStatus(config, json);
  if (replay->parsed()) return CmdReplay(config, target, from_seq);
  if (dump->parsed()) {
    if (with_schema && format != "debezium") {
      std::fprintf(stderr, "handoff: --with-schema applies only to --format debezium\n");
      return kExitUsage;
    }
    return CmdDump(config, from_seq, limit, format == "debezium" ? DumpFormat::kDebezium : DumpFormat::kJson,
                   with_schema);
  }
  if (inspect_dbz->parsed()) return CmdInspectDebezium(inspect_file);
  if (validate->parsed()) return CmdValidate(config);
  if (ex_list->parsed()) return ExceptionsList(LoadOrExit(config), ex);
  if (ex_show->parsed()) return ExceptionsShow(LoadOrExit(config), ex);
  if (ex_retry->parsed()) return ExceptionsRetry(LoadOrExit(config), ex);
  if (ex_resolve->parsed()) return ExceptionsResolve(LoadOrExit(config), ex);
  if (ex_discard->parsed()) return ExceptionsDiscard(LoadOrExit(config), ex);
  if (pause->parsed()) return CmdPause(LoadOrExit(config), target, pause_route, resume_actor, pause_note);
  if (resume->parsed()) return CmdResume(LoadOrExit(config), target, pause_route, resume_actor, resume_wait);
  if (trace->parsed()) return CmdTrace(LoadOrExit(config), trace_ref, json, brief);
  if (close->parsed()) return CmdBillingClose(LoadOrExit(config), period, billing_wait);
  if (source_drop->parsed()) return CmdSourceDrop(LoadOrExit(config), drop_args);
  return 2;
}
