#include "engine_pipeline.h"

#include "handoff/capture/debezium.h"
#include "handoff/engine/log.h"

namespace handoff {

Result<Config> EffectiveConfig(const Config& base, std::unique_ptr<CanonicalSetup>* canonical) {
  Config config = base;
  canonical->reset();
  if (!config.canonical()) return config;
  auto c = LoadCanonical(config);
  if (!c.ok()) return Status::InvalidArgument("canonical: " + c.status().message());
  *canonical = std::move(c).value();
  // Implicit routes: derived changes for system S go to the target named S.
  for (RouteConfig& r : CanonicalRoutes((*canonical)->model))
    if (config.FindTarget(r.to_target) != nullptr) config.routes.push_back(std::move(r));
  return config;
}

Result<std::unique_ptr<EnginePipeline>> EnginePipeline::Build(const Config& base, Journal* journal,
                                                              std::shared_ptr<TransportContext> ctx,
                                                              const std::string& intake_endpoint) {
  std::unique_ptr<EnginePipeline> p(new EnginePipeline());
  auto effective = EffectiveConfig(base, &p->canonical_);
  if (!effective.ok()) return effective.status();
  const Config& config = *effective;
  for (const auto& s : config.sources) {
    if (s.external) continue;  // runs as `handoff agent` and connects to engine.intake
    auto a = MakeSource(s, ctx, intake_endpoint, journal->id());
    if (!a.ok()) return Status(a.status().code(), "source " + s.name + ": " + a.status().message());
    p->agent_refs_.emplace_back(s.name, a->get());
    p->agents_.push_back(std::move(a).value());
  }
  for (const auto& t : config.targets) {
    auto a = MakeTarget(config, t, journal);
    if (!a.ok()) return Status(a.status().code(), "target " + t.name + ": " + a.status().message());
    p->applier_refs_.emplace_back(t.name, a->get());
    p->retention_targets_.push_back(t.name);
    p->appliers_.push_back(std::move(a).value());
  }
  if (p->canonical_) {
    CanonicalRouterOptions ro;
    ro.journal = journal;
    ro.model = &p->canonical_->model;
    ro.rules = &p->canonical_->rules;
    if (p->canonical_->flows) ro.flows = &*p->canonical_->flows;
    ro.tombstone_retention_us = config.canonical_tombstone_days * 24 * 3600 * 1000000;
    for (const auto& s : config.sources) ro.systems.insert(s.name);
    auto r = CanonicalRouter::Create(std::move(ro));
    if (!r.ok()) return Status(r.status().code(), "canonical router: " + r.status().message());
    p->router_ = std::move(r).value();
    p->retention_targets_.push_back("canonical");  // retention keeps what the router has not read
  }
  if (!config.feed_publish.empty()) {
    ChangeFeedOptions fo;
    fo.endpoint = config.feed_publish;
    fo.journal = journal;
    DebeziumEncodeOptions eo;
    eo.include_schema = false;
    fo.encode = [eo](const ChangeEvent& e) { return EncodeDebezium(e, eo); };
    auto f = ChangeFeedPublisher::Create(ctx, std::move(fo));
    if (!f.ok()) return Status(f.status().code(), "feed: " + f.status().message());
    p->feed_ = std::move(f).value();
  }
  SlotWatchOptions so;
  for (const SourceConfig& s : config.sources)
    if (s.postgres() != nullptr) so.sources.emplace_back(s);
  so.interval = std::chrono::milliseconds(config.slot_check_interval_us / 1000);
  so.warn_bytes = config.slot_wal_warn_bytes;
  auto slot_watch = SlotWatch::Create(std::move(so));
  if (!slot_watch.ok()) return Status(slot_watch.status().code(), "slot watch: " + slot_watch.status().message());
  p->slot_watch_ = std::move(slot_watch).value();
  return p;
}

EnginePipeline::~EnginePipeline() { Stop(); }

void EnginePipeline::Start(std::function<void(const std::string&, const Status&)> on_fatal) {
  started_ = true;
  auto run = [on_fatal](std::string what, auto* component) {
    return std::thread([on_fatal, what, component] {
      Status st = component->Run();
      if (!st.ok()) on_fatal(what, st);
    });
  };
  // Sources first, then targets, then the feed.
  for (auto& [name, a] : agent_refs_) source_threads_.push_back(run("source " + name, a));
  if (router_) router_thread_ = run("canonical router", router_.get());
  for (auto& [name, a] : applier_refs_) other_threads_.push_back(run("target " + name, a));
  if (feed_) other_threads_.push_back(run("feed", feed_.get()));
  other_threads_.push_back(run("slot watch", slot_watch_.get()));
}

void EnginePipeline::StopSources() {
  if (sources_stopped_) return;
  sources_stopped_ = true;
  for (auto& a : agents_) a->Stop();
  for (auto& t : source_threads_)
    if (t.joinable()) t.join();
}

void EnginePipeline::Stop() {
  if (stopped_) return;
  stopped_ = true;
  StopSources();
  if (router_) {
    router_->Stop();
    if (router_thread_.joinable()) router_thread_.join();
  }
  for (auto& a : appliers_) a->Stop();
  if (feed_) feed_->Stop();
  if (slot_watch_) slot_watch_->Stop();
  for (auto& t : other_threads_)
    if (t.joinable()) t.join();
}

void EnginePipeline::Fill(EngineComponents* c) const {
  c->agents = agent_refs_;
  c->targets = applier_refs_;
  c->feed = feed_.get();
  c->router = router_.get();
  c->slots = slot_watch_.get();
}

uint64_t EnginePipeline::RowsApplied() const {
  uint64_t rows = 0;
  for (const auto& a : appliers_) rows += a->counters().rows.load();
  return rows;
}

}  // namespace handoff
