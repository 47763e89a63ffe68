// PgCaptureAgentImpl: the agent's outer loop. Each iteration is one
// CaptureSession (Hello, snapshot if needed, stream); any failure ends it,
// resets the engine connection and starts over after a jittered, doubling
// backoff (RetryLoop). The slot resends from its confirmed position and the journal's
// dedup drops what was already durable, so starting over is always safe.
#include "handoff/capture/pg_capture.h"
#include "handoff/capture/slot_watch.h"

#include <fmt/format.h>

#include <algorithm>
#include <mutex>

#include "capture_session.h"
#include "handoff/engine/log.h"
#include "handoff/engine/retry_loop.h"

namespace handoff {
namespace {

using std::chrono::milliseconds;

bool ValidSlotName(const std::string& s) {
  if (s.empty() || s.size() > 63) return false;
  return std::all_of(s.begin(), s.end(), [](char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_'; });
}

// Thread-safety: Run() on one thread; Stop() and counters() from any.
class PgCaptureAgentImpl final : public PgCaptureAgent {
 public:
  PgCaptureAgentImpl(PgCaptureOptions options, std::vector<TableName> tables)
      : options_(std::move(options)),
        loop_([&] {
          RetryLoopOptions o = RetryLoopOptions::For("capture", "source " + options_.source.name,
                                                     options_.min_backoff, options_.max_backoff, &counters_.health);
          o.needs_fix_note = "the source is failed until this is fixed (retried every few seconds)";
          return o;
        }(), &stop_),
        tables_(std::move(tables)) {
    const PostgresSourceConfig& src = options_.source;
    slot_ = SlotNameOf(src);
    publication_ = src.publication.empty() ? "handoff_" + src.name : src.publication;
  }

  const std::string& slot() const { return slot_; }

  // A misconfiguration is failed, anything else retrying; both are retried,
  // so fixing a misconfiguration needs no restart. The log holds the first
  // failure of a cause and a summary per doubling of the tries (RetryLog).
  Status Run() override {
    bool first = true;
    Status st = loop_.Run([&] {
      if (!first) counters_.reconnects.fetch_add(1, std::memory_order_relaxed);
      first = false;
      SessionEnd end;
      bool refused = false;
      end.status = RunSession(&end.progress, &refused);
      // The source's tables cannot be captured as configured (table_checks.h):
      // the publication was left alone, and the source is failed until a
      // person fixes the tables (it is retried, so no restart is needed).
      end.failure = refused || IsSourceMisconfiguration(end.status) ? FailureClass::kNeedsFix : FailureClass::kTransient;
      return end;
    });
    counters_.health.Set(HealthState::kStopped);
    LogInfo("capture", "source {}: stopped", options_.source.name);
    return st;  // OK: none of its failures is fatal
  }

  void Stop() override { stop_.RequestStop(); }

  const CaptureCounters& counters() const override { return counters_; }

 private:
  Status RunSession(bool* progress, bool* refused) {
    if (!client_) {
      // A short Hello timeout keeps Stop() prompt; an unanswered Hello is retried.
      auto client = AgentClient::Connect(options_.context, {options_.intake_endpoint, options_.source.name,
                                                            options_.credit, milliseconds(1000)});
      if (!client.ok()) return client.status();
      client_ = std::move(client).value();
    }
    CaptureSessionContext ctx;
    ctx.options = &options_;
    ctx.slot = slot_;
    ctx.publication = publication_;
    ctx.tables = tables_;
    ctx.counters = &counters_;
    ctx.stop = &stop_.flag();
    ctx.client = client_.get();
    ctx.retry_log = &loop_.retry_log();
    CaptureSession session(std::move(ctx));
    Status st = session.Run();
    *progress = session.made_progress();
    *refused = session.refused();
    if (st.ok() || st.code() == StatusCode::kCancelled) return st;
    // Start the next session from a clean engine connection.
    Status reset = client_->Reset();
    if (!reset.ok()) client_.reset();
    return st;
  }

  PgCaptureOptions options_;
  StopToken stop_;
  RetryLoop loop_;
  std::vector<TableName> tables_;
  std::string slot_;
  std::string publication_;
  std::unique_ptr<AgentClient> client_;
  CaptureCounters counters_;
};

}  // namespace

bool IsSourceMisconfiguration(const Status& st) {
  if (st.ok() || st.code() == StatusCode::kCancelled) return false;
  if (st.code() == StatusCode::kNotFound) return true;  // a missing slot or table
  const std::string& m = st.message();
  for (const char* sqlstate : {"(SQLSTATE 42501)", "(SQLSTATE 42P01)", "(SQLSTATE 42704)", "(SQLSTATE 3F000)",
                               "(SQLSTATE 28000)", "(SQLSTATE 28P01)", "(SQLSTATE 3D000)"})
    if (m.find(sqlstate) != std::string::npos) return true;
  // Refused at connect time, where libpq reports no SQLSTATE.
  for (const char* text : {"must be superuser or replication role", "wal_level", "password authentication failed",
                           "no pg_hba.conf entry", "does not exist", "permission denied", "must be owner"})
    if (m.find(text) != std::string::npos) return true;
  return false;
}

bool CaptureCounters::AddUnrouted(const std::string& table) {
  std::lock_guard<std::mutex> lock(mu_);
  return ++unrouted_[table] == 1;
}

std::vector<std::pair<std::string, uint64_t>> CaptureCounters::Unrouted() const {
  std::lock_guard<std::mutex> lock(mu_);
  return {unrouted_.begin(), unrouted_.end()};
}

void CaptureCounters::SetProgress(const TableProgress& p) {
  std::lock_guard<std::mutex> lock(mu_);
  for (auto& x : progress_) {
    if (x.table == p.table && x.kind == p.kind) {
      x = p;
      return;
    }
  }
  progress_.push_back(p);
}

std::vector<CaptureCounters::TableProgress> CaptureCounters::Progress() const {
  std::lock_guard<std::mutex> lock(mu_);
  return progress_;
}

Result<std::unique_ptr<PgCaptureAgent>> PgCaptureAgent::Create(PgCaptureOptions options) {
  const PostgresSourceConfig& src = options.source;
  if (src.name.empty()) return Status::InvalidArgument("capture: source name is empty");
  if (src.dsn.empty()) return Status::InvalidArgument("capture: source " + src.name + ": dsn is empty");
  if (src.tables.empty()) return Status::InvalidArgument("capture: source " + src.name + ": no tables configured");
  if (!options.context) return Status::InvalidArgument("capture: source " + src.name + ": no transport context");
  if (options.intake_endpoint.empty()) {
    return Status::InvalidArgument("capture: source " + src.name + ": no intake endpoint");
  }
  if (options.max_batch_events == 0 || options.credit == 0) {
    return Status::InvalidArgument("capture: source " + src.name + ": max_batch_events and credit must be > 0");
  }
  std::vector<TableName> tables;
  for (const auto& t : src.tables) {
    auto name = ParseTableName(t);
    if (!name.ok()) return Status::InvalidArgument("capture: source " + src.name + ": " + name.status().message());
    tables.push_back(*name);
  }
  std::string slot = SlotNameOf(src);
  if (!ValidSlotName(slot)) {
    return Status::InvalidArgument("capture: source " + src.name + ": slot name \"" + slot +
                                   "\" must be 1-63 characters of a-z, 0-9 and _");
  }
  if (options.min_backoff.count() <= 0) options.min_backoff = milliseconds(1);
  if (options.max_backoff < options.min_backoff) options.max_backoff = options.min_backoff;
  return std::unique_ptr<PgCaptureAgent>(new PgCaptureAgentImpl(std::move(options), std::move(tables)));
}

}  // namespace handoff
