// CanonicalRouter: the run loop (read a batch, route it in one pass, commit),
// retry requests and the tombstone sweep. See handoff/canonical/router.h.
#include "handoff/canonical/router.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <charconv>
#include <chrono>
#include <thread>

#include "handoff/canonical/entity_codec.h"
#include "handoff/canonical/store_keys.h"
#include "handoff/engine/clock.h"
#include "handoff/engine/log.h"
#include "pass.h"
#include "trace_record.h"

namespace handoff {
namespace {

// Entries per pass: one journal transaction (and fsync) each.
constexpr size_t kReadBatch = 512;

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
    // Its routine trace steps outlive it, filed as a record of their own.
    if (!s.trace_tail.empty())
      side.meta_puts.emplace_back(canonical_key::TraceStep(s.key, FirstFoldedSeq(s.trace_tail), 0),
                                  FoldedRecord(s.trace_tail));
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

CanonicalRouter::CanonicalRouter(CanonicalRouterOptions o) : opts_(std::move(o)) {}

CanonicalRouter::~CanonicalRouter() {
  if (ahead_.valid()) ahead_.wait();
  Status st = Drain();
  if (!st.ok()) LogWarn("canonical", "last pass not committed: {}", st.ToString());
}

Status CanonicalRouter::Run() {
  LogInfo("canonical", "canonical router running for systems {}", fmt::join(opts_.systems, ", "));
  auto next_sweep = std::chrono::steady_clock::now() + std::chrono::minutes(1);
  while (!stop_.load()) {
    if (std::chrono::steady_clock::now() >= next_sweep) {
      Status drained = Drain();
      auto swept = drained.ok() ? SweepTombstones(NowMicros()) : Result<size_t>(drained);
      if (!swept.ok()) LogWarn("canonical", "tombstone sweep: {}", swept.status().ToString());
      next_sweep = std::chrono::steady_clock::now() + std::chrono::minutes(10);
    }
    size_t n = 0;
    Status st = Step(/*pipelined=*/true, &n);
    if (!st.ok()) {
      if (st.IsUnavailable() || st.code() == StatusCode::kResourceExhausted) {
        LogWarn("canonical", "{}; retrying", st.ToString());
        std::this_thread::sleep_for(std::chrono::milliseconds(500));
        continue;
      }
      return st;
    }
    if (n == 0) {
      // Nothing new: make what is in flight durable, then wait for the journal.
      HANDOFF_RETURN_IF_ERROR(Drain());
      opts_.journal->WaitFor(done_ + 1, std::chrono::milliseconds(200));
    }
  }
  return Drain();
}

Status CanonicalRouter::RunOnce(size_t* processed) {
  return Step(/*pipelined=*/false, processed);
}

Status CanonicalRouter::Drain() {
  if (!inflight_) return Status::OK();
  Status st = inflight_done_.get();
  if (st.ok() && !inflight_->conflict_counts().empty()) {
    std::lock_guard<std::mutex> lock(conflicts_mu_);
    for (const auto& [outcome, n] : inflight_->conflict_counts()) conflicts_[outcome] += n;
  }
  retired_ = std::move(inflight_);
  if (!st.ok()) position_known_ = false;  // routed past what is durable: start again from the journal
  return st;
}

Status CanonicalRouter::Step(bool pipelined, size_t* processed) {
  Journal* j = opts_.journal;
  if (processed) *processed = 0;
  if (!position_known_) {
    auto pos = j->GetMeta(kCanonicalSeqKey);
    if (!pos.ok()) return pos.status();
    done_ = 0;
    if (pos->has_value()) {
      auto [end, ec] = std::from_chars((*pos)->data(), (*pos)->data() + (*pos)->size(), done_);
      if (ec != std::errc() || end != (*pos)->data() + (*pos)->size())
        return Status::Corruption("router position " + **pos + " is not a journal seq");
    }
    position_known_ = true;
  }
  // Retry requests first (handoff exceptions retry canonical/<seq>), each in
  // its own pass once everything before it is durable.
  std::vector<std::pair<std::string, std::string>> requests;
  HANDOFF_RETURN_IF_ERROR(j->ScanMeta(std::string(canonical_key::kRetry), [&](std::string_view k, std::string_view v) {
    requests.emplace_back(std::string(k), std::string(v));
    return requests.size() < 64;
  }));
  if (!requests.empty()) HANDOFF_RETURN_IF_ERROR(Drain());
  for (const auto& [key, actor] : requests) {
    uint64_t seq = canonical_key::SeqAfter(key, canonical_key::kRetry.size());
    std::vector<JournalEntry> e;
    HANDOFF_RETURN_IF_ERROR(j->Read(seq, 1, &e));
    if (e.empty() || e[0].seq != seq || seq > done_) {
      LogWarn("canonical", "retry of seq {}: {}", seq, seq > done_ ? "not routed yet" : "no longer in the journal");
      if (seq <= done_) HANDOFF_RETURN_IF_ERROR(j->DeleteMeta(key));
      continue;
    }
    auto pass = std::make_unique<CanonicalPass>(opts_, done_);
    HANDOFF_RETURN_IF_ERROR(pass->Retry(e[0], actor, key));
    pass->Seal(done_);
    HANDOFF_RETURN_IF_ERROR(Hand(std::move(pass), /*pipelined=*/false));
    if (processed) ++*processed;
  }

  std::vector<JournalEntry> entries;
  std::vector<Premapped> mapped;
  if (ahead_.valid()) {
    ReadAhead a = ahead_.get();
    if (ahead_from_ == done_ + 1 && a.status.ok()) {
      entries = std::move(a.entries);
      mapped = std::move(a.mapped);
    }
  }
  if (entries.empty()) HANDOFF_RETURN_IF_ERROR(j->Read(done_ + 1, kReadBatch, &entries));
  if (processed) *processed += entries.size();
  if (entries.empty()) return pipelined ? Status::OK() : Drain();
  if (pipelined) {
    ahead_from_ = entries.back().seq + 1;
    ahead_ = std::async(std::launch::async, &CanonicalRouter::ReadAndMap, std::cref(opts_), ahead_from_);
  }
  auto pass = std::make_unique<CanonicalPass>(opts_, done_, inflight_.get());
  for (size_t i = 0; i < entries.size(); ++i) {
    const JournalEntry& e = entries[i];
    Status st = pass->Process(e, i < mapped.size() ? &mapped[i] : nullptr);
    if (!st.ok()) {
      pass->EndReads();
      Status drained = Drain();
      position_known_ = false;
      return drained.ok() ? st : drained;
    }
  }
  pass->Seal(entries.back().seq);
  done_ = entries.back().seq;
  return Hand(std::move(pass), pipelined);
}

CanonicalRouter::ReadAhead CanonicalRouter::ReadAndMap(const CanonicalRouterOptions& o, uint64_t from) {
  ReadAhead a;
  a.status = o.journal->Read(from, kReadBatch, &a.entries);
  if (!a.status.ok()) return a;
  a.mapped.resize(a.entries.size());
  for (size_t i = 0; i < a.entries.size(); ++i) {
    const ChangeEvent& ev = a.entries[i].event;
    if (!CanonicalPass::Routed(o, ev)) continue;
    bool asked = false;
    schemas::LookupFn ask = [&asked](const std::string&, const Xref&) -> std::optional<schemas::EntityRecord> {
      asked = true;
      return std::nullopt;
    };
    auto m = o.model->MapSource(ev, ev.source, ask);
    if (!asked) a.mapped[i].emplace(std::move(m));
  }
  return a;
}

Status CanonicalRouter::Hand(std::unique_ptr<CanonicalPass> pass, bool pipelined) {
  // One pass commits at a time, in order: the one before must be durable first.
  HANDOFF_RETURN_IF_ERROR(Drain());
  inflight_ = std::move(pass);
  CanonicalPass* p = inflight_.get();
  inflight_done_ = std::async(std::launch::async, [p, old = std::move(retired_)]() mutable {
    Status st = p->Commit();
    old.reset();
    return st;
  });
  return pipelined ? Status::OK() : Drain();
}

std::map<std::string, uint64_t> CanonicalRouter::ConflictCounts() const {
  std::lock_guard<std::mutex> lock(conflicts_mu_);
  return conflicts_;
}

}  // namespace handoff
