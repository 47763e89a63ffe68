#include "engine_runner.h"

#include <csignal>
#include <pthread.h>

#include <algorithm>
#include <atomic>
#include <fmt/format.h>
#include <fstream>
#include <shared_mutex>
#include <sstream>
#include <thread>
#include <vector>

#include "admin_server.h"
#include "engine_pipeline.h"
#include "engine_metrics.h"
#include "engine_status.h"
#include "sd_notify.h"
#include "handoff/canonical/router.h"
#include "handoff/apply/pg_applier.h"
#include "handoff/capture/debezium.h"
#include "handoff/capture/slot_watch.h"
#include "handoff/engine/change_feed.h"
#include "handoff/engine/clock.h"
#include "handoff/engine/journal.h"
#include "handoff/engine/log.h"
#include "handoff/engine/transport.h"
#include "configured_journal.h"
#include "source_factory.h"
#include "target_factory.h"

namespace handoff {
namespace {

constexpr const char* kInprocIntake = "inproc://handoff-intake";

}  // namespace

Result<std::unique_ptr<CanonicalSetup>> LoadCanonical(const Config& config) {
  auto setup = std::make_unique<CanonicalSetup>();
  std::string problems;
  auto model = schemas::LoadModel(config.canonical_schemas);
  if (!model.ok()) {
    problems += "canonical.schemas: " + config.canonical_schemas + ": " + model.status().message() + "\n";
  } else {
    setup->model = std::move(model).value();
  }
  std::ifstream in(config.canonical_ownership);
  if (!in) {
    problems += "canonical.ownership: " + config.canonical_ownership + ": cannot read the file\n";
  } else {
    std::stringstream ss;
    ss << in.rdbuf();
    // Entities are the pack's: an entity added by YAML may have ownership rules.
    std::vector<std::string> entities;
    for (const auto& [name, def] : setup->model.entities()) entities.push_back(name);
    auto rules = entities.empty() ? conflict::ParseOwnershipRules(ss.str(), config.canonical_ownership)
                                  : conflict::ParseOwnershipRules(ss.str(), config.canonical_ownership, entities);
    if (!rules.ok()) {
      problems += "canonical.ownership: " + rules.status().message() + "\n";
    } else {
      setup->rules = std::move(rules).value();
    }
  }
  if (!config.canonical_flows.empty()) {
    auto flows = schemas::LoadFlows(config.canonical_flows);
    if (!flows.ok()) problems += "canonical.flows: " + flows.status().message() + "\n";
    else setup->flows = std::move(flows).value();
    // The flows' bindings name the pack's entities and fields: check them against it.
    if (flows.ok() && model.ok()) {
      Status bound = schemas::CheckFlows(*setup->flows, setup->model);
      if (!bound.ok()) problems += "canonical.flows: " + config.canonical_flows + ": " + bound.message() + "\n";
    }
  }
  if (!problems.empty()) {
    problems.pop_back();
    return Status::InvalidArgument(problems);
  }
  return setup;
}

namespace {

// What the admin endpoints read; the pipeline part is swapped by a reload.
struct LiveComponents {
  mutable std::shared_mutex mu;
  EngineComponents c;
};

// Parts a reload cannot change: they are kept, and the operator is told.
void KeepFixedParts(const Config& running, Config* next) {
  auto keep = [](const char* what, auto& next_value, const auto& running_value) {
    if (next_value == running_value) return;
    LogWarn("engine", "reload: {} changed; that takes effect on the next restart (keeping the running value)", what);
    next_value = running_value;
  };
  keep("journal.path", next->journal_path, running.journal_path);
  keep("engine.intake", next->intake_endpoint, running.intake_endpoint);
  keep("engine.intake_max_message", next->intake_max_message_bytes, running.intake_max_message_bytes);
  keep("engine.intake_curve", next->intake_curve.public_key, running.intake_curve.public_key);
  keep("admin.listen", next->admin_listen, running.admin_listen);
}

}  // namespace

int RunEngine(const Config& base_config, const std::string& config_path) {
  Config config = base_config;
  {
    std::unique_ptr<CanonicalSetup> canonical;
    auto effective = EffectiveConfig(config, &canonical);
    if (!effective.ok()) {
      LogError("engine", "{}", effective.status().ToString());
      return 1;
    }
  }
  // Signals are taken by the main thread only.
  sigset_t sigs;
  sigemptyset(&sigs);
  sigaddset(&sigs, SIGTERM);
  sigaddset(&sigs, SIGINT);
  sigaddset(&sigs, SIGHUP);
  pthread_sigmask(SIG_BLOCK, &sigs, nullptr);

  JournalOptions jo = JournalOptionsOf(config);
  jo.exclusive = true;  // one engine per journal
  auto journal = Journal::Open(jo);
  if (!journal.ok()) {
    LogError("engine", "cannot open the journal: {}", journal.status().ToString());
    return 1;
  }
  LogInfo("engine", "journal {} at {}", (*journal)->id(), config.journal_path);
  auto ctx = TransportContext::Create();
  IntakeOptions io;
  io.endpoints = {kInprocIntake};
  if (!config.intake_endpoint.empty()) io.endpoints.push_back(config.intake_endpoint);
  io.max_message_bytes = config.intake_max_message_bytes;
  if (!config.intake_curve.public_key.empty()) {
    auto secret = ReadCurveSecret(config.intake_curve.secret_key_file);
    if (config.intake_curve.secret_key_file.empty() || !secret.ok()) {
      LogError("engine", "engine.intake_curve: {}",
               config.intake_curve.secret_key_file.empty() ? std::string("secret_key_file is required to run the engine")
                                                           : secret.status().ToString());
      return 2;
    }
    io.curve = {config.intake_curve.public_key, *secret};
    for (const auto& c : config.intake_clients) io.clients.push_back({c.public_key, c.sources});
  }
  auto intake = IntakeServer::Create(ctx, journal->get(), io);
  if (!intake.ok()) {
    LogError("engine", "cannot start intake: {}", intake.status().ToString());
    return 1;
  }
  auto pipeline = EnginePipeline::Build(config, journal->get(), ctx, kInprocIntake);
  if (!pipeline.ok()) {
    LogError("engine", "{}", pipeline.status().ToString());
    return 1;
  }

  std::atomic<int> exit_code{0};
  std::atomic<bool> fatal{false};
  auto on_fatal = [&](const std::string& what, const Status& st) {
    LogError("engine", "{} stopped: {}", what, st.ToString());
    exit_code.store(1);
    fatal.store(true);
  };
  // Every component exists before the first thread starts, so a failure
  // above returns without threads to stop.
  std::thread intake_thread([&] {
    Status st = (*intake)->Run();
    if (!st.ok()) on_fatal("intake", st);
  });
  (*pipeline)->Start(on_fatal);
  std::unique_ptr<ScheduledChecks> checks = ScheduledChecks::Start(config, journal->get());

  LiveComponents live;
  live.c.journal = journal->get();
  live.c.intake = intake->get();
  (*pipeline)->Fill(&live.c);
  for (const auto& s : config.sources) live.c.configured_sources.push_back(s.name);
  live.c.checks = checks.get();
  std::atomic<bool> draining{false}, reloading{false};
  std::unique_ptr<AdminServer> admin;
  if (!config.admin_listen.empty()) {
    // Ready: running, not draining, the journal takes writes, and no source
    // or target failed on a misconfiguration.
    EngineFlags flags{&fatal, &draining, &reloading};
    AdminHandlers h;
    h.metrics = [&live] {
      std::shared_lock<std::shared_mutex> lock(live.mu);
      return RenderEngineMetrics(live.c);
    };
    h.ready = [&live, flags] {
      std::shared_lock<std::shared_mutex> lock(live.mu);
      return EngineReadiness(live.c, flags);
    };
    h.status = [&live, flags](bool text) {
      std::shared_lock<std::shared_mutex> lock(live.mu);
      return text ? EngineStatusText(live.c, flags) : EngineStatusJson(live.c, flags);
    };
    h.checks = [&live] {
      std::shared_lock<std::shared_mutex> lock(live.mu);
      return live.c.checks ? live.c.checks->Json() : std::string("{\"checks\":[]}\n");
    };
    auto a = AdminServer::Start(config.admin_listen, std::move(h), config.admin_http);
    if (!a.ok()) {
      LogWarn("engine", "{}; continuing without admin endpoints", a.status().ToString());
    } else {
      admin = std::move(a).value();
    }
  }
  LogInfo("engine", "running: {} sources, {} targets, journal at {}", (*pipeline)->sources(), (*pipeline)->targets(),
          config.journal_path);
  NotifyServiceManager("READY=1");

  // Reload (SIGHUP): the configuration is read again and, when valid, the
  // pipeline is drained and rebuilt from it while the journal and the intake
  // stay up (external agents keep their connections). An invalid file
  // changes nothing. Sources resume from their journaled positions and
  // states, so a table added to a source is read by itself (a chunked
  // snapshot beside the stream) and the other tables are not read again.
  std::unique_ptr<EnginePipeline> running = std::move(pipeline).value();
  auto reload = [&] {
    if (config_path.empty()) {
      LogWarn("engine", "SIGHUP ignored: the engine was not started from a configuration file");
      return;
    }
    auto next = LoadConfig(config_path);
    if (!next.ok()) {
      LogError("engine", "reload refused, the running configuration stays: {}", next.status().message());
      return;
    }
    KeepFixedParts(config, &*next);
    std::unique_ptr<CanonicalSetup> canonical;
    if (auto e = EffectiveConfig(*next, &canonical); !e.ok()) {
      LogError("engine", "reload refused, the running configuration stays: {}", e.status().message());
      return;
    }
    NotifyServiceManager("RELOADING=1");
    reloading.store(true);
    {
      std::unique_lock<std::shared_mutex> lock(live.mu);
      EngineComponents none;
      none.journal = live.c.journal;
      none.intake = live.c.intake;
      live.c = none;
    }
    if (checks) checks->Stop();
    checks.reset();
    running->Stop();
    running.reset();
    auto built = EnginePipeline::Build(*next, journal->get(), ctx, kInprocIntake);
    if (!built.ok()) {
      // Parts of the new file were only found wrong while building: go back.
      LogError("engine", "reload failed ({}); going back to the running configuration", built.status().ToString());
      built = EnginePipeline::Build(config, journal->get(), ctx, kInprocIntake);
      if (!built.ok()) {
        on_fatal("reload", built.status());
        reloading.store(false);
        return;
      }
    } else {
      config = *next;
    }
    running = std::move(built).value();
    running->Start(on_fatal);
    checks = ScheduledChecks::Start(config, journal->get());
    {
      std::unique_lock<std::shared_mutex> lock(live.mu);
      running->Fill(&live.c);
      live.c.checks = checks.get();
      live.c.configured_sources.clear();
      for (const auto& s : config.sources) live.c.configured_sources.push_back(s.name);
    }
    reloading.store(false);
    NotifyServiceManager("READY=1");
    LogInfo("engine", "reloaded {}: {} sources, {} targets, {} routes", config_path, running->sources(),
            running->targets(), config.routes.size());
  };

  // Retention runs every 30 s, and every second while intake holds because
  // the journal is full: trimming applied entries is what frees the map, and
  // what the targets apply meanwhile should become room without waiting out
  // the 30 s (the hold is noticed on the next tick, not at the next pass).
  constexpr auto kRetentionEvery = std::chrono::seconds(30);
  constexpr auto kRetentionWhileHolding = std::chrono::seconds(1);
  auto next_retention = std::chrono::steady_clock::now() + kRetentionEvery;
  while (!fatal.load()) {
    timespec ts{0, 200 * 1000 * 1000};
    int sig = sigtimedwait(&sigs, nullptr, &ts);
    if (sig == SIGTERM || sig == SIGINT) {
      LogInfo("engine", "received {}, draining: capture stops, intake finishes its commit, apply finishes its "
                        "transaction", sig == SIGTERM ? "SIGTERM" : "SIGINT");
      break;
    }
    if (sig == SIGHUP) {
      LogInfo("engine", "received SIGHUP: reloading {}", config_path);
      reload();
      continue;
    }
    const auto now = std::chrono::steady_clock::now();
    if ((*intake)->counters().holding.load()) next_retention = std::min(next_retention, now + kRetentionWhileHolding);
    if (now >= next_retention) {
      auto trimmed = (*journal)->ApplyRetention(running->retention_targets(), NowMicros());
      if (trimmed.ok() && *trimmed > 0) LogInfo("engine", "retention removed {} journal entries", *trimmed);
      if (!trimmed.ok()) LogWarn("engine", "retention: {}", trimmed.status().ToString());
      next_retention = std::chrono::steady_clock::now() + kRetentionEvery;
    }
  }
  // Drain: stop capture first (nothing new arrives), then intake, then apply.
  draining.store(true);
  NotifyServiceManager("STOPPING=1");
  if (checks) {
    std::unique_lock<std::shared_mutex> lock(live.mu);
    live.c.checks = nullptr;
  }
  if (checks) checks->Stop();  // a verification in progress is cancelled
  running->StopSources();
  (*intake)->Stop();
  intake_thread.join();
  running->Stop();
  if (admin) admin->Stop();
  JournalStats js = (*journal)->Stats();
  LogInfo("engine", "stopped: journal at seq {}, {} events journaled and {} rows applied by this run",
          js.last_seq, (*intake)->counters().events.load(), running->RowsApplied());
  return exit_code.load();
}

}  // namespace handoff
