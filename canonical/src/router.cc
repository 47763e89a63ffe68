// CanonicalRouter: the run loop (read a batch, route it in one pass, commit),
// retry requests and the tombstone sweep. See handoff/canonical/router.h.
#include "handoff/canonical/router.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <chrono>
#include <thread>

#include "handoff/canonical/entity_codec.h"
#include "handoff/canonical/store_keys.h"
#include "handoff/engine/clock.h"
#include "handoff/engine/log.h"
#include "pass.h"

namespace handoff {
namespace {

constexpr size_t kReadBatch = 256;

}  // namespace

std::vector<RouteConfig> CanonicalRoutes(const schemas::Model& model) {
  std::vector<RouteConfig> routes;
  for (const auto& [entity, def] : model.entities()) {
    for (const std::string& system : model.TargetSystems(entity)) {
      const schemas::TargetMapping* t = model.FindTarget(entity, system);
      if (t == nullptr || t->table.empty()) continue;
      RouteConfig r;
      r.from_source = kCanonicalSourcePrefix + system;
      r.from_schema = t->schema.empty() ? "public" : t->schema;
      r.from_table = t->table;
      r.to_target = system;
      r.to_schema = r.from_schema;
      r.to_table = t->table;
      routes.push_back(std::move(r));
    }
  }
  return routes;
}

Result<std::unique_ptr<CanonicalRouter>> CanonicalRouter::Create(CanonicalRouterOptions options) {
  if (options.journal == nullptr || options.model == nullptr || options.rules == nullptr)
    return Status::InvalidArgument("CanonicalRouter needs a journal, a model and ownership rules");
  if (options.systems.empty()) options.systems = options.model->Systems();
  return std::unique_ptr<CanonicalRouter>(new CanonicalRouter(std::move(options)));
}

Result<size_t> CanonicalRouter::SweepTombstones(int64_t now_us) {
  const int64_t cutoff = now_us - opts_.tombstone_retention_us;
  SideWrites side;
  size_t removed = 0;
  const std::set<std::string> systems = opts_.model->Systems();
  Status bad = Status::OK();
  HANDOFF_RETURN_IF_ERROR(opts_.journal->ScanMeta(std::string(canonical_key::kEntity), [&](std::string_view k, std::string_view v) {
    conflict::EntityState s;
    if (!DecodeEntityState(std::string(v), &s)) {
      bad = Status::Internal("undecodable canonical state " + std::string(k));
      return false;
    }
    if (!s.deleted || s.deleted_at_us >= cutoff) return true;
    side.meta_deletes.push_back(std::string(k));
    for (const Xref& x : s.xrefs) side.meta_deletes.push_back(canonical_key::XrefIndex(s.entity, x));
    for (const std::string& sys : systems) side.meta_deletes.push_back(canonical_key::Held(sys, s.key));
    ++removed;
    return true;
  }));
  HANDOFF_RETURN_IF_ERROR(bad);
  if (removed == 0) return removed;
  std::vector<AppendBatch> none;
  HANDOFF_RETURN_IF_ERROR(opts_.journal->AppendWithMeta(none, side, nullptr));
  LogInfo("canonical", "removed {} tombstone(s) older than the retention window", removed);
  return removed;
}

Status CanonicalRouter::Run() {
  LogInfo("canonical", "canonical router running for systems {}", fmt::join(opts_.systems, ", "));
  auto next_sweep = std::chrono::steady_clock::now() + std::chrono::minutes(1);
  while (!stop_.load()) {
    if (std::chrono::steady_clock::now() >= next_sweep) {
      auto swept = SweepTombstones(NowMicros());
      if (!swept.ok()) LogWarn("canonical", "tombstone sweep: {}", swept.status().ToString());
      next_sweep = std::chrono::steady_clock::now() + std::chrono::minutes(10);
    }
    size_t n = 0;
    Status st = RunOnce(&n);
    if (!st.ok()) {
      if (st.IsUnavailable() || st.code() == StatusCode::kResourceExhausted) {
        LogWarn("canonical", "{}; retrying", st.ToString());
        std::this_thread::sleep_for(std::chrono::milliseconds(500));
        continue;
      }
      return st;
    }
    if (n == 0) {
      auto pos = opts_.journal->GetMeta(kCanonicalSeqKey);
      uint64_t next = 1;
      if (pos.ok() && pos->has_value()) next = std::stoull(**pos) + 1;
      opts_.journal->WaitFor(next, std::chrono::milliseconds(200));
    }
  }
  return Status::OK();
}

Status CanonicalRouter::RunOnce(size_t* processed) {
  Journal* j = opts_.journal;
  auto pos = j->GetMeta(kCanonicalSeqKey);
  if (!pos.ok()) return pos.status();
  uint64_t done = 0;
  if (pos->has_value()) done = std::stoull(**pos);
  if (processed) *processed = 0;
  // Retry requests first (handoff exceptions retry canonical/<seq>).
  std::vector<std::pair<std::string, std::string>> requests;
  HANDOFF_RETURN_IF_ERROR(j->ScanMeta(std::string(canonical_key::kRetry), [&](std::string_view k, std::string_view v) {
    requests.emplace_back(std::string(k), std::string(v));
    return requests.size() < 64;
  }));
  for (const auto& [key, actor] : requests) {
    uint64_t seq = canonical_key::SeqAfter(key, canonical_key::kRetry.size());
    std::vector<JournalEntry> e;
    HANDOFF_RETURN_IF_ERROR(j->Read(seq, 1, &e));
    CanonicalPass pass(opts_, done);
    if (e.empty() || e[0].seq != seq || seq > done) {
      LogWarn("canonical", "retry of seq {}: {}", seq, seq > done ? "not routed yet" : "no longer in the journal");
      if (seq <= done) HANDOFF_RETURN_IF_ERROR(j->DeleteMeta(key));
      continue;
    }
    HANDOFF_RETURN_IF_ERROR(pass.Retry(e[0], actor, key));
    HANDOFF_RETURN_IF_ERROR(Commit(&pass, done));
    if (processed) ++*processed;
  }

  std::vector<JournalEntry> entries;
  HANDOFF_RETURN_IF_ERROR(j->Read(done + 1, kReadBatch, &entries));
  if (processed) *processed += entries.size();
  if (entries.empty()) return Status::OK();
  CanonicalPass pass(opts_, done);
  for (const JournalEntry& e : entries) HANDOFF_RETURN_IF_ERROR(pass.Process(e));
  return Commit(&pass, entries.back().seq);
}

Status CanonicalRouter::Commit(CanonicalPass* pass, uint64_t last) {
  HANDOFF_RETURN_IF_ERROR(pass->Commit(last));
  if (!pass->conflict_counts().empty()) {
    std::lock_guard<std::mutex> lock(conflicts_mu_);
    for (const auto& [outcome, n] : pass->conflict_counts()) conflicts_[outcome] += n;
  }
  return Status::OK();
}

std::map<std::string, uint64_t> CanonicalRouter::ConflictCounts() const {
  std::lock_guard<std::mutex> lock(conflicts_mu_);
  return conflicts_;
}

}  // namespace handoff
