#include "engine_metrics.h"
#include "read_progress.h"

#include <map>

#include "handoff/apply/target_pause.h"
#include "handoff/engine/clock.h"
#include "metrics_text.h"

namespace handoff {
namespace {

void JournalSeries(const EngineComponents& c, const JournalStats& js, MetricsText* m) {
  const IntakeCounters& ic = c.intake->counters();
  m->Single("handoff_journal_events_total", "counter", "Events written to the journal.", ic.events.load());
  m->Single("handoff_journal_duplicates_total", "counter", "Events dropped as already journaled.",
            ic.duplicates.load());
  m->Single("handoff_journal_commits_total", "counter", "Journal write transactions (group commits).",
            ic.commits.load());
  m->Single("handoff_journal_full_total", "counter",
            "Appends refused because the journal is full (map at its limit, or no space on the disk).",
            ic.map_full.load());
  m->Single("handoff_journal_holding", "gauge",
            "1 while intake holds batches unacknowledged because the journal refuses writes.",
            ic.holding.load() ? 1 : 0);
  m->Single("handoff_journal_last_seq", "gauge", "Highest journal sequence number.", js.last_seq);
  m->Single("handoff_journal_entries", "gauge", "Events held in the journal.", js.entries);
  m->Single("handoff_journal_size_bytes", "gauge", "Bytes of the journal map in use.", js.used_bytes);
  m->Single("handoff_journal_bytes", "gauge", "Bytes of the journal map in use (older name).", js.used_bytes);
  m->Single("handoff_journal_map_size_bytes", "gauge", "Size of the journal map (journal.max_map_size caps it).",
            js.map_size);
  m->Single("handoff_journal_map_bytes", "gauge", "Size of the journal map (older name).", js.map_size);
  m->Family("handoff_changes_journaled_total", "counter", "Changes journaled since start, per source.");
  for (const auto& [source, n] : c.intake->JournaledBySource()) m->Sample({{"source", source}}, n);
}

void CaptureSeries(const EngineComponents& c, MetricsText* m) {
  std::vector<std::pair<std::string, SourceAgentStats>> stats;
  for (const auto& [name, a] : c.agents) stats.emplace_back(name, a->Stats());
  auto per_source = [&](const char* name, const char* help, auto field) {
    m->Family(name, "counter", help);
    for (const auto& [source, st] : stats) m->Sample({{"source", source}}, field(st));
  };
  per_source("handoff_changes_captured_total", "Changes captured and sent to intake, per in-process source.",
             [](const SourceAgentStats& s) { return s.changes; });
  per_source("handoff_captured_changes_total", "Changes captured (older name of handoff_changes_captured_total).",
             [](const SourceAgentStats& s) { return s.changes; });
  per_source("handoff_capture_malformed_total", "Malformed inputs seen by a source.",
             [](const SourceAgentStats& s) { return s.malformed; });
  per_source("handoff_capture_reconnects_total", "Capture sessions restarted after a failure.",
             [](const SourceAgentStats& s) { return s.reconnects; });
  per_source("handoff_capture_schema_changes_total",
             "Schema changes journaled: a captured table's columns were added, dropped or retyped.",
             [](const SourceAgentStats& s) { return s.schema_changes; });
  per_source("handoff_capture_streamed_transactions_total",
             "Transactions the source streamed while they ran (pgoutput protocol 2) that committed with changes.",
             [](const SourceAgentStats& s) { return s.streamed_transactions; });
  per_source("handoff_capture_streamed_aborts_total",
             "Transactions the source streamed while they ran that aborted (their staged changes were dropped).",
             [](const SourceAgentStats& s) { return s.streamed_aborts; });
  m->Family("handoff_capture_unrouted_total", "counter",
            "Changes the source's stream carried for a relation that is no configured table (not captured).");
  for (const auto& [source, st] : stats)
    for (const auto& [table, n] : st.unrouted) m->Sample({{"source", source}, {"table", table}}, n);
  std::vector<std::pair<std::string, TableReads>> reads;
  for (const auto& [source, st] : stats) reads.emplace_back(source, st.reads);
  ReadsMetrics(reads, m);
  m->Family("handoff_capture_confirmed_lsn", "gauge", "Last flush LSN confirmed to the source server.");
  for (const auto& [source, st] : stats) m->Sample({{"source", source}}, st.confirmed_lsn);
  m->Family("handoff_source_up", "gauge",
            "1 while the source snapshots or streams; 0 while it retries, has failed or is stopped.");
  for (const auto& [name, a] : c.agents) m->Sample({{"source", name}}, uint64_t{a->Health().state == HealthState::kSnapshotting || a->Health().state == HealthState::kStreaming ? 1u : 0u});
  if (c.slots == nullptr) return;
  std::vector<SlotReading> readings = c.slots->Readings();
  m->Family("handoff_replication_slot_retained_wal_bytes", "gauge",
            "WAL the source server keeps for the slot (current LSN - restart_lsn).");
  // A slot that is missing (or not read yet) keeps its series, at 0, so an
  // alert on it fires instead of clearing.
  for (const auto& r : readings) m->Sample({{"source", r.source}, {"slot", r.slot}}, r.retained_bytes);
  m->Family("handoff_capture_lag_bytes", "gauge",
            "WAL written on the source and not yet confirmed as journaled (current LSN - confirmed_flush_lsn).");
  for (const auto& r : readings) m->Sample({{"source", r.source}, {"slot", r.slot}}, r.unconfirmed_bytes);
  m->Family("handoff_replication_slot_active", "gauge", "1 while a capture session streams from the slot.");
  for (const auto& r : readings) m->Sample({{"source", r.source}, {"slot", r.slot}}, uint64_t{r.active ? 1u : 0u});
  m->Family("handoff_replication_slot_exists", "gauge", "1 when the source server has the slot, 0 when it is missing.");
  for (const auto& r : readings) m->Sample({{"source", r.source}, {"slot", r.slot}}, uint64_t{r.known ? 1u : 0u});
  // Orphans (slot_watch.h): one that went stays at 0 until the engine restarts.
  std::vector<OrphanSlot> orphans = c.slots->Orphans();
  m->Family("handoff_orphan_slot_retained_bytes", "gauge",
            "WAL kept by an inactive handoff_* slot that no configured source uses (0 once it went).");
  for (const auto& o : orphans) m->Sample({{"slot", o.slot}, {"database", o.database}}, o.retained_bytes);
  m->Family("handoff_orphan_slot_present", "gauge", "1 while the orphan slot exists unused, 0 once it went.");
  for (const auto& o : orphans) m->Sample({{"slot", o.slot}, {"database", o.database}}, uint64_t{o.present ? 1u : 0u});
}

void ApplySeries(const EngineComponents& c, const JournalStats& js, MetricsText* m) {
  struct TargetView {
    std::string_view name;
    const ApplyCounters* counters;
    uint64_t applied;
  };
  std::vector<TargetView> targets;
  for (const auto& [name, t] : c.targets) {
    uint64_t applied = t->counters().applied_seq.load();
    if (applied == 0) {  // not loaded yet: the journal's copy
      auto copy = c.journal->TargetApplied(name);
      if (copy.ok()) applied = *copy;
    }
    targets.push_back({name, &t->counters(), applied});
  }
  auto per_target = [&](const char* name, const char* type, const char* help, auto value) {
    m->Family(name, type, help);
    for (const auto& t : targets) m->Sample({{"target", t.name}}, value(t));
  };
  per_target("handoff_changes_applied_total", "counter", "Row changes written to the target since start.",
             [](const TargetView& t) { return t.counters->rows.load(); });
  per_target("handoff_applied_rows_total", "counter", "Row changes written (older name).",
             [](const TargetView& t) { return t.counters->rows.load(); });
  per_target("handoff_target_up", "gauge", "1 while the target is applied to; 0 while it retries, is paused or failed.",
             [](const TargetView& t) { return uint64_t{t.counters->health.Get().state == HealthState::kApplying ? 1u : 0u}; });
  per_target("handoff_apply_retries_total", "counter", "Transient apply failures retried.",
             [](const TargetView& t) { return t.counters->retries.load(); });
  per_target("handoff_apply_exceptions_total", "counter", "Changes parked in the exception queue since start.",
             [](const TargetView& t) { return t.counters->exceptions.load(); });
  per_target("handoff_apply_lag_changes", "gauge", "Journal entries not yet applied to the target.",
             [&](const TargetView& t) { return js.last_seq > t.applied ? js.last_seq - t.applied : 0; });
  per_target("handoff_apply_lag_events", "gauge", "Journal entries not yet applied (older name).",
             [&](const TargetView& t) { return js.last_seq > t.applied ? js.last_seq - t.applied : 0; });
  per_target("handoff_target_paused", "gauge",
             "1 while the target is paused because it refuses changes for a reason not about the change "
             "(missing table, privilege, ...); with by=\"operator\": 1 while `handoff pause` holds it "
             "(route=\"\": the whole target, else that route); see handoff status.",
             [](const TargetView& t) { return t.counters->paused.load(); });
  // Operator holds (`handoff pause`) in the same family: route "" is the
  // whole target; 1 while the hold is recorded.
  for (const auto& t : targets) {
    auto holds = ReadTargetHolds(c.journal, std::string(t.name));
    if (!holds.ok()) continue;
    const bool whole = !holds->empty() && holds->front().route.empty();
    m->Sample({{"target", t.name}, {"route", ""}, {"by", "operator"}}, uint64_t{whole ? 1u : 0u});
    for (const OperatorHold& h : *holds)
      if (!h.route.empty()) m->Sample({{"target", t.name}, {"route", h.route}, {"by", "operator"}}, uint64_t{1});
  }
  per_target("handoff_target_held_changes", "gauge", "Changes held while the target is paused.",
             [](const TargetView& t) { return t.counters->held.load(); });
  m->Family("handoff_schema_columns_total", "counter",
            "Source columns added by schema changes that the target table lacked: added to it (on_new_column: "
            "add) or left out (ignore, counted per schema change).");
  for (const auto& t : targets) {
    m->Sample({{"target", t.name}, {"action", "added"}}, t.counters->columns_added.load());
    m->Sample({{"target", t.name}, {"action", "ignored"}}, t.counters->columns_ignored.load());
  }
  const int64_t now = NowMicros();
  per_target("handoff_apply_lag_seconds", "gauge",
             "Seconds the oldest change not yet applied to the target has waited since it was journaled.",
             [&](const TargetView& t) { return ApplyLagSeconds(c.journal, t.applied, js.last_seq, now); });
}

void ExceptionAndConflictSeries(const EngineComponents& c, MetricsText* m) {
  m->Family("handoff_exceptions_open", "gauge", "Open exceptions in the review queue, by reason code.");
  auto open = c.journal->Exceptions(ExceptionState::kOpen);
  if (open.ok()) {
    std::map<std::string, uint64_t> by_reason;
    for (const auto& r : *open) ++by_reason[r.code];
    for (const auto& [reason, n] : by_reason) m->Sample({{"reason", reason}}, n);
  }
  if (c.router == nullptr) return;
  m->Family("handoff_conflicts_total", "counter", "Field conflicts decided by the canonical router, by outcome.");
  for (const auto& [type, n] : c.router->ConflictCounts()) m->Sample({{"type", type}}, n);
}

void RetrySeries(const EngineComponents& c, MetricsText* m) {
  m->Family("handoff_retries_total", "counter",
            "Retries after transient failures: apply (per target), capture reconnects (per source), and "
            "journal appends intake held and retried.");
  for (const auto& [name, t] : c.targets) m->Sample({{"stage", "apply"}, {"name", name}}, t->counters().retries.load());
  for (const auto& [name, a] : c.agents) m->Sample({{"stage", "capture"}, {"name", name}}, a->Stats().reconnects);
  m->Sample({{"stage", "intake"}, {"name", "journal"}}, c.intake->counters().append_retries.load());
}

}  // namespace

// Seconds the oldest change not yet applied to a target has waited since it
// was journaled; 0 when the target is caught up.
double ApplyLagSeconds(Journal* journal, uint64_t applied, uint64_t last_seq, int64_t now_us) {
  if (applied >= last_seq) return 0;
  std::vector<JournalEntry> next;
  if (!journal->Read(applied + 1, 1, &next).ok() || next.empty()) return 0;
  int64_t waited = now_us - next.front().journaled_at_us;
  return waited > 0 ? waited / 1e6 : 0.0;
}

std::string RenderEngineMetrics(const EngineComponents& c) {
  MetricsText m;
  JournalStats js = c.journal->Stats();
  JournalSeries(c, js, &m);
  CaptureSeries(c, &m);
  ApplySeries(c, js, &m);
  ExceptionAndConflictSeries(c, &m);
  RetrySeries(c, &m);
  if (c.checks != nullptr) c.checks->RenderMetrics(&m);
  if (c.feed != nullptr)
    m.Single("handoff_feed_published_total", "counter", "Changes published on the change feed.",
             c.feed->counters().published.load());
  return m.text();
}

}  // namespace handoff
