#include "engine_status.h"

#include <fmt/format.h>
#include <unistd.h>

#include <map>
#include <optional>
#include <vector>

#include "handoff/engine/clock.h"
#include "pause_cli.h"
#include "source_cli.h"
#include "read_progress.h"
#include "handoff/engine/event_json.h"

namespace handoff {
namespace {

struct NotReady {
  std::string component, name, state, reason;
};

struct SourceView {
  std::string name;
  HealthReport health;
  SourcePosition durable;
  uint64_t changes = 0;
  std::optional<SlotReading> slot;
  TableReads reads;
};

struct TargetView {
  std::string name;
  HealthReport health;
  uint64_t applied = 0, lag_changes = 0, changes_applied = 0;
  double lag_seconds = 0;
};

// One consistent look at the engine, rendered as JSON or text.
struct EngineView {
  std::vector<NotReady> not_ready;
  JournalStats journal;
  bool holding = false;
  std::vector<SourceView> sources;
  std::vector<TargetView> targets;
  std::vector<OrphanSlot> orphans;  // present ones only
  std::vector<std::pair<std::string, SourcePosition>> unconfigured;
};

// "journal full (disk): no space left on device at ...; intake holds", from
// the journal's refusal (journal_space.h).
std::string HoldReason(const std::string& refusal) {
  constexpr std::string_view kFull = "journal full: ";
  if (refusal.rfind(kFull, 0) != 0) return "the journal refuses writes: " + refusal + "; intake holds";
  const bool disk = refusal.find("no space left on device") != std::string::npos;
  return std::string(disk ? "journal full (disk): " : "journal full (map): ") + refusal.substr(kFull.size()) +
         "; intake holds (nothing is acknowledged upstream)";
}

std::vector<NotReady> NotReadyReasons(const EngineComponents& c, const EngineFlags& flags) {
  std::vector<NotReady> out;
  if (flags.fatal && flags.fatal->load()) out.push_back({"engine", "handoff", "failed", "a component stopped on a fatal error"});
  if (flags.draining && flags.draining->load()) out.push_back({"engine", "handoff", "draining", "stopping (SIGTERM)"});
  if (flags.reloading && flags.reloading->load())
    out.push_back({"engine", "handoff", "reloading", "reloading the configuration (SIGHUP)"});
  if (c.intake && c.intake->counters().holding.load())
    out.push_back({"journal", "journal", "holding", HoldReason(c.intake->counters().HoldReason())});
  for (const auto& [name, a] : c.agents) {
    HealthReport h = a->Health();
    if (h.state == HealthState::kFailed) out.push_back({"source", name, HealthStateName(h.state), h.reason});
  }
  for (const auto& [name, t] : c.targets) {
    HealthReport h = t->counters().health.Get();
    if (h.state == HealthState::kFailed) out.push_back({"target", name, HealthStateName(h.state), h.reason});
  }
  return out;
}

std::string ReasonsJson(const std::vector<NotReady>& reasons) {
  std::string out = "[";
  for (const auto& r : reasons)
    out += fmt::format("{}{{\"component\":\"{}\",\"name\":{},\"state\":{},\"reason\":{}}}", out.size() > 1 ? "," : "",
                       r.component, JsonString(r.name), JsonString(r.state), JsonString(r.reason));
  return out + "]";
}

EngineView Look(const EngineComponents& c, const EngineFlags& flags) {
  EngineView v;
  v.not_ready = NotReadyReasons(c, flags);
  v.journal = c.journal->Stats();
  v.holding = c.intake && c.intake->counters().holding.load();
  std::vector<SlotReading> slots;
  if (c.slots) slots = c.slots->Readings();
  if (c.slots)
    for (const auto& o : c.slots->Orphans())
      if (o.present) v.orphans.push_back(o);
  v.unconfigured = UnconfiguredSources(c.configured_sources, c.journal);
  auto positions = c.journal->Sources();
  for (const auto& [name, a] : c.agents) {
    SourceView s;
    s.name = name;
    s.health = a->Health();
    SourceAgentStats stats = a->Stats();
    s.changes = stats.changes;
    s.reads = std::move(stats.reads);
    if (positions.ok())
      for (const auto& [n, p] : *positions)
        if (n == name) s.durable = p;
    for (const auto& r : slots)
      if (r.source == name) s.slot = r;
    v.sources.push_back(std::move(s));
  }
  const int64_t now = NowMicros();
  for (const auto& [name, t] : c.targets) {
    TargetView tv;
    tv.name = name;
    tv.health = t->counters().health.Get();
    tv.applied = t->counters().applied_seq.load();
    if (tv.applied == 0) {
      auto copy = c.journal->TargetApplied(name);
      if (copy.ok()) tv.applied = *copy;
    }
    tv.lag_changes = v.journal.last_seq > tv.applied ? v.journal.last_seq - tv.applied : 0;
    tv.lag_seconds = ApplyLagSeconds(c.journal, tv.applied, v.journal.last_seq, now);
    tv.changes_applied = t->counters().rows.load();
    v.targets.push_back(std::move(tv));
  }
  return v;
}

std::string HealthJson(const HealthReport& h) {
  return fmt::format("\"state\":{},\"reason\":{},\"since_us\":{},\"failures\":{},\"last_error\":{}",
                     JsonString(HealthStateName(h.state)), JsonString(h.reason), h.since_us, h.failures, JsonString(h.last_error));
}

std::string Describe(const HealthReport& h) {
  std::string s = HealthStateName(h.state);
  if (!h.reason.empty()) s += ": " + h.reason;
  if (h.failures > 1) s += fmt::format(" ({} tries)", h.failures);
  return s;
}

}  // namespace

Readiness EngineReadiness(const EngineComponents& c, const EngineFlags& flags) {
  std::vector<NotReady> reasons = NotReadyReasons(c, flags);
  Readiness r;
  r.ready = reasons.empty();
  r.json = fmt::format("{{\"ready\":{},\"reasons\":{}}}", r.ready ? "true" : "false", ReasonsJson(reasons));
  return r;
}

std::string EngineStatusJson(const EngineComponents& c, const EngineFlags& flags) {
  EngineView v = Look(c, flags);
  const JournalStats& js = v.journal;
  std::string out = fmt::format(
      "{{\"engine\":{{\"running\":true,\"pid\":{}}},\"ready\":{},\"reasons\":{},\"journal\":{{\"id\":{},"
      "\"first_seq\":{},\"last_seq\":{},\"entries\":{},\"used_bytes\":{},\"map_bytes\":{},\"holding\":{}}},"
      "\"sources\":[",
      ::getpid(), v.not_ready.empty() ? "true" : "false", ReasonsJson(v.not_ready), JsonString(c.journal->id()),
      js.first_seq, js.last_seq, js.entries, js.used_bytes, js.map_size, v.holding ? "true" : "false");
  for (size_t i = 0; i < v.sources.size(); ++i) {
    const SourceView& s = v.sources[i];
    out += fmt::format("{}{{\"name\":{},{},\"durable_position\":{},\"changes\":{}", i ? "," : "", JsonString(s.name),
                       HealthJson(s.health), JsonString(FormatPosition(s.durable)), s.changes);
    out += ",\"reads\":" + ReadsJson(s.reads, NowMicros());
    if (s.slot)
      out += fmt::format(",\"slot\":{},\"slot_exists\":{},\"slot_active\":{},\"lag_bytes\":{},\"retained_wal_bytes\":{}",
                         JsonString(s.slot->slot), s.slot->known ? "true" : "false", s.slot->active ? "true" : "false",
                         s.slot->unconfirmed_bytes, s.slot->retained_bytes);
    out += "}";
  }
  out += "],\"unconfigured_sources\":" + UnconfiguredSourcesJson(v.unconfigured) + ",\"orphan_slots\":[";
  for (size_t i = 0; i < v.orphans.size(); ++i)
    out += fmt::format("{}{{\"slot\":{},\"database\":{},\"retained_wal_bytes\":{}}}", i ? "," : "",
                       JsonString(v.orphans[i].slot), JsonString(v.orphans[i].database), v.orphans[i].retained_bytes);
  out += "],\"targets\":[";
  for (size_t i = 0; i < v.targets.size(); ++i) {
    const TargetView& t = v.targets[i];
    out += fmt::format("{}{{\"name\":{},{},\"applied_seq\":{},\"lag_changes\":{},\"lag_seconds\":{:.3f},"
                       "\"changes_applied\":{},\"paused\":{},\"operator_holds\":{}}}",
                       i ? "," : "", JsonString(t.name), HealthJson(t.health), t.applied, t.lag_changes, t.lag_seconds,
                       t.changes_applied, PauseStatusJson(c.journal, t.name), HoldStatusJson(c.journal, t.name));
  }
  out += "],\"exceptions_by_reason\":{";
  auto open = c.journal->Exceptions(ExceptionState::kOpen);
  std::map<std::string, size_t> by_code;
  size_t n_open = 0;
  if (open.ok()) {
    n_open = open->size();
    for (const auto& r : *open) ++by_code[r.code];
  }
  size_t k = 0;
  for (const auto& [code, n] : by_code) out += fmt::format("{}{}:{}", k++ ? "," : "", JsonString(code), n);
  return out + fmt::format("}},\"exceptions_open\":{}}}", n_open);
}

std::string EngineStatusText(const EngineComponents& c, const EngineFlags& flags) {
  EngineView v = Look(c, flags);
  const JournalStats& js = v.journal;
  std::string out = fmt::format("engine    running (pid {}), {}\n", ::getpid(),
                                v.not_ready.empty() ? "ready" : "NOT READY");
  for (const auto& r : v.not_ready) out += fmt::format("  {} {}: {}: {}\n", r.component, r.name, r.state, r.reason);
  out += fmt::format("journal   id {}\n  seq {}..{} ({} entries), {:.1f} MiB used of {:.1f} MiB map{}\n",
                     c.journal->id(), js.first_seq, js.last_seq, js.entries, js.used_bytes / 1048576.0,
                     js.map_size / 1048576.0, v.holding ? ", HOLDING (full)" : "");
  out += "sources\n";
  for (const auto& s : v.sources) {
    out += fmt::format("  {:<12} {}\n    durable position {}, {} changes captured", s.name, Describe(s.health),
                       FormatPosition(s.durable), s.changes);
    if (s.slot) {
      if (s.slot->known)
        out += fmt::format(", slot {} {}, lag {} bytes, retains {} bytes", s.slot->slot,
                           s.slot->active ? "active" : "inactive", s.slot->unconfirmed_bytes, s.slot->retained_bytes);
      else
        out += fmt::format(", slot {} MISSING (or not read yet)", s.slot->slot);
    }
    out += "\n";
    out += ReadsText(s.reads, NowMicros());
    if (!s.health.last_error.empty() && s.health.last_error != s.health.reason)
      out += "    last error: " + s.health.last_error + "\n";
  }
  out += UnconfiguredSourcesText(v.unconfigured);
  for (const auto& o : v.orphans)
    out += fmt::format("  ORPHAN slot {} (database {}) retains {} bytes: no configured source uses it; "
                       "`handoff source drop --source {} --dsn ...`\n",
                       o.slot, o.database, o.retained_bytes, o.slot.substr(8));
  out += "targets\n";
  for (const auto& t : v.targets) {
    out += fmt::format("  {:<12} {}\n    applied seq {}, lag {} changes, {:.1f} s\n", t.name, Describe(t.health),
                       t.applied, t.lag_changes, t.lag_seconds);
    out += PauseStatusText(c.journal, t.name);
    out += HoldStatusText(c.journal, t.name);
    if (!t.health.last_error.empty() && t.health.last_error != t.health.reason)
      out += "    last error: " + t.health.last_error + "\n";
  }
  auto open = c.journal->Exceptions(ExceptionState::kOpen);
  if (open.ok()) {
    std::map<std::string, size_t> by_code;
    for (const auto& r : *open) ++by_code[r.code];
    out += fmt::format("exceptions open: {}\n", open->size());
    for (const auto& [code, n] : by_code) out += fmt::format("  {:<14} {}\n", code, n);
  }
  return out;
}

}  // namespace handoff
