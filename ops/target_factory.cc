#include "target_factory.h"

#include <type_traits>

#include "handoff/apply/http_applier.h"

namespace handoff {
namespace {

// Adapts PgApplier and HttpApplier, which share the shape of TargetWriter.
template <typename Applier, TargetKind kKind>
class Writer final : public TargetWriter {
 public:
  Writer(std::string name, std::unique_ptr<Applier> a) : name_(std::move(name)), a_(std::move(a)) {}
  Status Run() override { return a_->Run(); }
  void Stop() override { a_->Stop(); }
  const std::string& name() const override { return name_; }
  TargetKind kind() const override { return kKind; }
  const ApplyCounters& counters() const override { return a_->counters(); }

 private:
  const std::string name_;
  std::unique_ptr<Applier> a_;
};

template <typename Applier, typename Options, typename Settings>
Result<std::unique_ptr<TargetWriter>> Build(const Config& config, const TargetConfig& target, Journal* journal,
                                            const TargetRun& run) {
  if (!std::holds_alternative<Settings>(target.settings))
    return Status::InvalidArgument("target " + target.name + ": kind '" + target.kind + "' without its settings (have " +
                                   TargetKindName(target.target_kind()) + ")");
  Options o;
  o.target = TargetOfKind<Settings>(target);
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
  return std::unique_ptr<TargetWriter>(new Writer<Applier, Settings::kKind>(target.name, std::move(a).value()));
}

}  // namespace

const std::vector<TargetKindEntry>& TargetKinds() {
  static const std::vector<TargetKindEntry> kinds = {
      {"postgres", TargetKind::kPostgres, &Build<PgApplier, PgApplierOptions, PostgresTargetSettings>},
      {"http", TargetKind::kHttp, &Build<HttpApplier, HttpApplierOptions, HttpTargetSettings>},
  };
  return kinds;
}

std::string TargetKindList() {
  std::string out;
  for (const auto& k : TargetKinds()) out += (out.empty() ? "" : ", ") + std::string(k.name);
  return out;
}

Result<std::unique_ptr<TargetWriter>> MakeTarget(const Config& config, const TargetConfig& target, Journal* journal,
                                                 const TargetRun& run) {
  for (const auto& k : TargetKinds())
    if (target.kind == k.name) return k.make(config, target, journal, run);
  return Status::InvalidArgument("target " + target.name + ": unknown kind '" + target.kind + "' (known: " +
                                 TargetKindList() + ")");
}

}  // namespace handoff
