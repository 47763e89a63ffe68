#include "source_factory.h"

#include "handoff/capture/debezium_source.h"
#include "handoff/capture/pg_capture.h"
#include "handoff/capture/webhook_source.h"

namespace handoff {
namespace {

// The parts every adapter shares: the agent, its name and kind.
template <typename Agent, SourceKind kKind>
class AgentSource : public SourceAgent {
 public:
  AgentSource(std::string name, std::unique_ptr<Agent> a) : name_(std::move(name)), a_(std::move(a)) {}
  Status Run() override { return a_->Run(); }
  void Stop() override { a_->Stop(); }
  const std::string& name() const override { return name_; }
  SourceKind kind() const override { return kKind; }

 protected:
  const std::string name_;
  std::unique_ptr<Agent> a_;
};

class PgSource final : public AgentSource<PgCaptureAgent, SourceKind::kPostgres> {
 public:
  using AgentSource::AgentSource;
  SourceAgentStats Stats() const override {
    const auto& c = a_->counters();
    return {c.changes.load() + c.snapshot_rows.load(), 0, c.reconnects.load(), c.confirmed_lsn.load(), c.Unrouted(),
            c.Progress(), c.schema_changes.load(), c.streamed_transactions.load(), c.streamed_aborts.load()};
  }
  HealthReport Health() const override { return a_->counters().health.Get(); }
};

class DebeziumSource final : public AgentSource<DebeziumSourceAgent, SourceKind::kDebezium> {
 public:
  using AgentSource::AgentSource;
  HealthReport Health() const override { return a_->counters().health.Get(); }
  SourceAgentStats Stats() const override {
    const auto& c = a_->counters();
    return {c.changes.load(), c.malformed.load(), 0, 0, {}, {}, 0};
  }
};

class WebhookSource final : public AgentSource<WebhookSourceAgent, SourceKind::kWebhook> {
 public:
  using AgentSource::AgentSource;
  // Streaming while Run() runs; failed with the reason when it ended on an error.
  Status Run() override {
    health_.Set(HealthState::kStreaming);
    Status st = a_->Run();
    health_.Set(st.ok() ? HealthState::kStopped : HealthState::kFailed, st.ok() ? "" : st.message());
    return st;
  }
  HealthReport Health() const override { return health_.Get(); }
  SourceAgentStats Stats() const override {
    const auto& c = a_->counters();
    return {c.changes.load(), c.malformed.load() + c.bad_signature.load(), 0, 0, {}, {}, 0};
  }

 private:
  HealthCell health_;
};

// The settings of `s`'s kind, or an error when the configuration holds another's.
template <typename Settings>
Status CheckSettings(const SourceConfig& s) {
  if (std::holds_alternative<Settings>(s.settings)) return Status::OK();
  return Status::InvalidArgument("source " + s.name + ": kind '" + s.kind + "' without its settings (have " +
                                 SourceKindName(s.source_kind()) + ")");
}

Result<std::unique_ptr<SourceAgent>> MakePostgres(const SourceConfig& s, const SourceEnv& env) {
  HANDOFF_RETURN_IF_ERROR(CheckSettings<PostgresSourceSettings>(s));
  PgCaptureOptions o;
  o.source = PostgresSourceConfig(s);
  o.journal_id = env.journal_id;
  o.context = env.context;
  o.intake_endpoint = env.intake_endpoint;
  auto a = PgCaptureAgent::Create(std::move(o));
  if (!a.ok()) return a.status();
  return std::unique_ptr<SourceAgent>(new PgSource(s.name, std::move(a).value()));
}

Result<std::unique_ptr<SourceAgent>> MakeDebezium(const SourceConfig& s, const SourceEnv& env) {
  HANDOFF_RETURN_IF_ERROR(CheckSettings<DebeziumSourceSettings>(s));
  DebeziumSourceOptions o;
  o.source = DebeziumSourceConfig(s);
  o.context = env.context;
  o.intake_endpoint = env.intake_endpoint;
  auto a = DebeziumSourceAgent::Create(std::move(o));
  if (!a.ok()) return a.status();
  return std::unique_ptr<SourceAgent>(new DebeziumSource(s.name, std::move(a).value()));
}

Result<std::unique_ptr<SourceAgent>> MakeWebhook(const SourceConfig& s, const SourceEnv& env) {
  HANDOFF_RETURN_IF_ERROR(CheckSettings<WebhookSourceSettings>(s));
  WebhookSourceOptions o;
  o.source = WebhookSourceConfig(s);
  o.context = env.context;
  o.intake_endpoint = env.intake_endpoint;
  auto a = WebhookSourceAgent::Create(std::move(o));
  if (!a.ok()) return a.status();
  return std::unique_ptr<SourceAgent>(new WebhookSource(s.name, std::move(a).value()));
}

}  // namespace

const std::vector<SourceKindEntry>& SourceKinds() {
  static const std::vector<SourceKindEntry> kinds = {
      {"postgres", SourceKind::kPostgres, &MakePostgres},
      {"debezium", SourceKind::kDebezium, &MakeDebezium},
      {"webhook", SourceKind::kWebhook, &MakeWebhook},
  };
  return kinds;
}

std::string SourceKindList() {
  std::string out;
  for (const auto& k : SourceKinds()) out += (out.empty() ? "" : ", ") + std::string(k.name);
  return out;
}

Result<std::unique_ptr<SourceAgent>> MakeSource(const SourceConfig& s, std::shared_ptr<TransportContext> ctx,
                                                const std::string& intake_endpoint, const std::string& journal_id) {
  for (const auto& k : SourceKinds())
    if (s.kind == k.name) return k.make(s, SourceEnv{std::move(ctx), intake_endpoint, journal_id});
  return Status::InvalidArgument("source " + s.name + ": unknown kind '" + s.kind + "' (known: " + SourceKindList() +
                                 ")");
}

}  // namespace handoff
