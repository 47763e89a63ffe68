#include "source_factory.h"

#include "handoff/capture/debezium_source.h"
#include "handoff/capture/pg_capture.h"
#include "handoff/capture/webhook_source.h"

namespace handoff {
namespace {

class PgSource final : public SourceAgent {
 public:
  explicit PgSource(std::unique_ptr<PgCaptureAgent> a) : a_(std::move(a)) {}
  Status Run() override { return a_->Run(); }
  void Stop() override { a_->Stop(); }
  SourceAgentStats Stats() const override {
    const auto& c = a_->counters();
    return {c.changes.load() + c.snapshot_rows.load(), 0, c.reconnects.load(), c.confirmed_lsn.load(), c.Unrouted(),
            c.Progress(), c.schema_changes.load()};
  }
  HealthReport Health() const override { return a_->counters().health.Get(); }

 private:
  std::unique_ptr<PgCaptureAgent> a_;
};

class DebeziumSource final : public SourceAgent {
 public:
  explicit DebeziumSource(std::unique_ptr<DebeziumSourceAgent> a) : a_(std::move(a)) {}
  Status Run() override { return a_->Run(); }
  void Stop() override { a_->Stop(); }
  HealthReport Health() const override { return a_->counters().health.Get(); }
  SourceAgentStats Stats() const override {
    const auto& c = a_->counters();
    return {c.changes.load(), c.malformed.load(), 0, 0, {}};
  }

 private:
  std::unique_ptr<DebeziumSourceAgent> a_;
};

class WebhookSource final : public SourceAgent {
 public:
  explicit WebhookSource(std::unique_ptr<WebhookSourceAgent> a) : a_(std::move(a)) {}
  // Streaming while Run() runs; failed with the reason when it ended on an error.
  Status Run() override {
    health_.Set(HealthState::kStreaming);
    Status st = a_->Run();
    health_.Set(st.ok() ? HealthState::kStopped : HealthState::kFailed, st.ok() ? "" : st.message());
    return st;
  }
  void Stop() override { a_->Stop(); }
  HealthReport Health() const override { return health_.Get(); }
  SourceAgentStats Stats() const override {
    const auto& c = a_->counters();
    return {c.changes.load(), c.malformed.load() + c.bad_signature.load(), 0, 0, {}};
  }

 private:
  std::unique_ptr<WebhookSourceAgent> a_;
  HealthCell health_;
};

}  // namespace

Result<std::unique_ptr<SourceAgent>> MakeSource(const SourceConfig& s, std::shared_ptr<TransportContext> ctx,
                                                const std::string& intake_endpoint, const std::string& journal_id) {
  if (s.kind == "debezium") {
    DebeziumSourceOptions o;
    o.source = s;
    o.context = std::move(ctx);
    o.intake_endpoint = intake_endpoint;
    auto a = DebeziumSourceAgent::Create(std::move(o));
    if (!a.ok()) return a.status();
    return std::unique_ptr<SourceAgent>(new DebeziumSource(std::move(a).value()));
  }
  if (s.kind == "webhook") {
    WebhookSourceOptions o;
    o.source = s;
    o.context = std::move(ctx);
    o.intake_endpoint = intake_endpoint;
    auto a = WebhookSourceAgent::Create(std::move(o));
    if (!a.ok()) return a.status();
    return std::unique_ptr<SourceAgent>(new WebhookSource(std::move(a).value()));
  }
  if (s.kind == "postgres") {
    PgCaptureOptions o;
    o.source = s;
    o.journal_id = journal_id;
    o.context = std::move(ctx);
    o.intake_endpoint = intake_endpoint;
    auto a = PgCaptureAgent::Create(std::move(o));
    if (!a.ok()) return a.status();
    return std::unique_ptr<SourceAgent>(new PgSource(std::move(a).value()));
  }
  return Status::InvalidArgument("source " + s.name + ": kind '" + s.kind + "' cannot run here");
}

}  // namespace handoff
