#include "engine_runner.h"

#include <csignal>
#include <pthread.h>

#include <algorithm>
#include <atomic>
#include <fmt/format.h>
#include <fstream>
#include <sstream>
#include <thread>
#include <vector>

#include "admin_server.h"
#include "engine_metrics.h"
#include "engine_status.h"
#include "sd_notify.h"
#include "handoff/apply/canonical_router.h"
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
  }
  if (!problems.empty()) {
    problems.pop_back();
    return Status::InvalidArgument(problems);
  }
  return setup;
}

int RunEngine(const Config& base_config) {
  Config config = base_config;
  std::unique_ptr<CanonicalSetup> canonical;
  if (config.canonical()) {
    auto c = LoadCanonical(config);
    if (!c.ok()) {
      LogError("engine", "canonical: {}", c.status().ToString());
      return 1;
    }
    canonical = std::move(c).value();
    // Implicit routes: derived changes for system S go to the target named S.
    for (RouteConfig& r : CanonicalRoutes(canonical->model))
      if (config.FindTarget(r.to_target) != nullptr) config.routes.push_back(std::move(r));
  }
  // Signals are taken by the main thread only.
  sigset_t sigs;
  sigemptyset(&sigs);
  sigaddset(&sigs, SIGTERM);
  sigaddset(&sigs, SIGINT);
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

  std::atomic<int> exit_code{0};
  std::atomic<bool> fatal{false};
  auto run_component = [&](std::string what, auto* component) {
    return std::thread([&, what, component] {
      Status st = component->Run();
      if (!st.ok()) {
        LogError("engine", "{} stopped: {}", what, st.ToString());
        exit_code.store(1);
        fatal.store(true);
      }
    });
  };


  std::vector<std::unique_ptr<SourceAgent>> agents;
  std::vector<std::pair<std::string, SourceAgent*>> agent_refs;
  for (const auto& s : config.sources) {
    if (s.external) continue;  // runs as `handoff agent` and connects to engine.intake
    auto a = MakeSource(s, ctx, kInprocIntake, (*journal)->id());
    if (!a.ok()) {
      LogError("engine", "source {}: {}", s.name, a.status().ToString());
      return 1;
    }
    agent_refs.emplace_back(s.name, a->get());
    agents.push_back(std::move(a).value());
  }
  std::vector<std::unique_ptr<TargetWriter>> appliers;
  std::vector<std::pair<std::string, TargetWriter*>> applier_refs;
  std::vector<std::string> target_names;
  for (const auto& t : config.targets) {
    auto a = MakeTarget(config, t, journal->get());
    if (!a.ok()) {
      LogError("engine", "target {}: {}", t.name, a.status().ToString());
      return 1;
    }
    applier_refs.emplace_back(t.name, a->get());
    target_names.push_back(t.name);
    appliers.push_back(std::move(a).value());
  }

  std::unique_ptr<CanonicalRouter> router;
  if (canonical) {
    CanonicalRouterOptions ro;
    ro.journal = journal->get();
    ro.model = &canonical->model;
    ro.rules = &canonical->rules;
    if (canonical->flows) ro.flows = &*canonical->flows;
    ro.tombstone_retention_us = config.canonical_tombstone_days * 24 * 3600 * 1000000;
    for (const auto& s : config.sources) ro.systems.insert(s.name);
    auto r = CanonicalRouter::Create(std::move(ro));
    if (!r.ok()) {
      LogError("engine", "canonical router: {}", r.status().ToString());
      return 1;
    }
    router = std::move(r).value();
    target_names.push_back("canonical");  // retention keeps what the router has not read
  }

  std::unique_ptr<ChangeFeedPublisher> feed;
  if (!config.feed_publish.empty()) {
    ChangeFeedOptions fo;
    fo.endpoint = config.feed_publish;
    fo.journal = journal->get();
    DebeziumEncodeOptions eo;
    eo.include_schema = false;
    fo.encode = [eo](const ChangeEvent& e) { return EncodeDebezium(e, eo); };
    auto f = ChangeFeedPublisher::Create(ctx, std::move(fo));
    if (!f.ok()) {
      LogError("engine", "feed: {}", f.status().ToString());
      return 1;
    }
    feed = std::move(f).value();
  }

  SlotWatchOptions so;
  so.sources = config.sources;
  so.interval = std::chrono::milliseconds(config.slot_check_interval_us / 1000);
  so.warn_bytes = config.slot_wal_warn_bytes;
  auto slot_watch = SlotWatch::Create(std::move(so));
  if (!slot_watch.ok()) {
    LogError("engine", "slot watch: {}", slot_watch.status().ToString());
    return 1;
  }

  // Sources first, then targets, then the feed.
  // Every component exists before the first thread starts, so a failure
  // above returns without threads to stop.
  std::thread intake_thread = run_component("intake", intake->get());
  std::vector<std::thread> threads;
  for (auto& [name, a] : agent_refs) threads.push_back(run_component("source " + name, a));
  const size_t n_sources = threads.size();
  std::thread router_thread;
  if (router) router_thread = run_component("canonical router", router.get());
  for (size_t i = 0; i < appliers.size(); ++i)
    threads.push_back(run_component("target " + config.targets[i].name, appliers[i].get()));
  if (feed) threads.push_back(run_component("feed", feed.get()));
  threads.push_back(run_component("slot watch", slot_watch->get()));

  EngineComponents components;
  components.journal = journal->get();
  components.intake = intake->get();
  components.agents = agent_refs;
  components.targets = applier_refs;
  components.feed = feed.get();
  components.router = router.get();
  components.slots = slot_watch->get();
  for (const auto& s : config.sources) components.configured_sources.push_back(s.name);
  std::atomic<bool> draining{false};
  std::unique_ptr<AdminServer> admin;
  if (!config.admin_listen.empty()) {
    // Ready: running, not draining, the journal takes writes, and no source
    // or target failed on a misconfiguration.
    EngineFlags flags{&fatal, &draining};
    AdminHandlers h;
    h.metrics = [&components] { return RenderEngineMetrics(components); };
    h.ready = [&components, flags] { return EngineReadiness(components, flags); };
    h.status = [&components, flags](bool text) {
      return text ? EngineStatusText(components, flags) : EngineStatusJson(components, flags);
    };
    auto a = AdminServer::Start(config.admin_listen, std::move(h), config.admin_http);
    if (!a.ok()) {
      LogWarn("engine", "{}; continuing without admin endpoints", a.status().ToString());
    } else {
      admin = std::move(a).value();
    }
  }
  LogInfo("engine", "running: {} sources, {} targets, journal at {}", n_sources, appliers.size(),
          config.journal_path);
  NotifyServiceManager("READY=1");

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
    const auto now = std::chrono::steady_clock::now();
    if ((*intake)->counters().holding.load()) next_retention = std::min(next_retention, now + kRetentionWhileHolding);
    if (now >= next_retention) {
      auto trimmed = (*journal)->ApplyRetention(target_names, NowMicros());
      if (trimmed.ok() && *trimmed > 0) LogInfo("engine", "retention removed {} journal entries", *trimmed);
      if (!trimmed.ok()) LogWarn("engine", "retention: {}", trimmed.status().ToString());
      next_retention = std::chrono::steady_clock::now() + kRetentionEvery;
    }
  }
  // Drain: stop capture first (nothing new arrives), then intake, then apply.
  draining.store(true);
  NotifyServiceManager("STOPPING=1");
  for (auto& a : agents) a->Stop();
  for (size_t i = 0; i < n_sources; ++i) threads[i].join();
  (*intake)->Stop();
  intake_thread.join();
  if (router) {
    router->Stop();
    router_thread.join();
  }
  for (auto& a : appliers) a->Stop();
  if (feed) feed->Stop();
  (*slot_watch)->Stop();
  for (size_t i = n_sources; i < threads.size(); ++i) threads[i].join();
  if (admin) admin->Stop();
  JournalStats js = (*journal)->Stats();
  LogInfo("engine", "stopped: journal at seq {}, {} events journaled and {} rows applied by this run",
          js.last_seq, (*intake)->counters().events.load(), [&] {
            uint64_t rows = 0;
            for (const auto& a : appliers) rows += a->counters().rows.load();
            return rows;
          }());
  return exit_code.load();
}

}  // namespace handoff
