#include "target_factory.h"

#include <type_traits>

#include "handoff/apply/http_applier.h"

namespace handoff {
namespace {

// Adapts PgApplier and HttpApplier, which share the shape of TargetWriter.
template <typename Applier>
class Writer final : public TargetWriter {
 public:
  explicit Writer(std::unique_ptr<Applier> a) : a_(std::move(a)) {}
  Status Run() override { return a_->Run(); }
  void Stop() override { a_->Stop(); }
  const ApplyCounters& counters() const override { return a_->counters(); }

 private:
  std::unique_ptr<Applier> a_;
};

template <typename Applier, typename Options>
Result<std::unique_ptr<TargetWriter>> Build(const Config& config, const TargetConfig& target, Journal* journal,
                                            const TargetRun& run) {
  Options o;
  o.target = target;
  o.journal = journal;
  if constexpr (std::is_same_v<Options, PgApplierOptions>) o.origin = config.apply_origin;
  o.replay_from_seq = run.only_seq ? run.only_seq : run.replay_from_seq;
  if (!run.only_seqs.empty()) o.replay_from_seq = *run.only_seqs.begin();
  o.only_seq = run.only_seq;
  o.replacement = run.replacement;
  o.only_seqs = run.only_seqs;
  o.on_parked = run.on_parked;
  for (const auto& r : config.routes)
    if (r.to_target == target.name) o.routes.push_back(r);
  auto a = Applier::Create(std::move(o));
  if (!a.ok()) return a.status();
  return std::unique_ptr<TargetWriter>(new Writer<Applier>(std::move(a).value()));
}

}  // namespace

Result<std::unique_ptr<TargetWriter>> MakeTarget(const Config& config, const TargetConfig& target, Journal* journal,
                                                 const TargetRun& run) {
  if (target.kind == "http") return Build<HttpApplier, HttpApplierOptions>(config, target, journal, run);
  if (target.kind == "postgres") return Build<PgApplier, PgApplierOptions>(config, target, journal, run);
  return Status::InvalidArgument("target " + target.name + ": unknown kind '" + target.kind + "'");
}

}  // namespace handoff
