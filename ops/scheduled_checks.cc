#include "scheduled_checks.h"

#include <chrono>
#include <ctime>

#include <fmt/format.h>

#include "engine_runner.h"
#include "handoff/engine/clock.h"
#include "handoff/engine/json_text.h"
#include "handoff/engine/log.h"
#include "reconcile.h"
#include "verify.h"

namespace handoff {
namespace {

constexpr const char* kMetaPrefix = "check:";
constexpr const char* kLinePrefix = "check_line:";

std::string IsoTime(int64_t us) { return UtcSeconds(us, ""); }

// One line in words: what `handoff checks` prints.
std::string SummaryLine(const CheckRunSummary& s) {
  std::string out = fmt::format("{} {}: finished {}", s.kind, s.name, IsoTime(s.finished_us));
  if (s.failed) return out + ", failed: " + s.error;
  if (s.kind == "verify")
    return out + fmt::format(", {} rows checked, {} missing, {} extra, {} different, {} unsettled{}", s.rows_checked,
                             s.missing, s.extra, s.different, s.unsettled,
                             s.repaired ? fmt::format(", {} repaired", s.repaired) : "");
  uint64_t breaks = 0;
  std::string parts;
  for (const auto& [name, c] : s.checks) {
    breaks += c.breaks;
    std::string money;
    for (const auto& [cur, a] : c.break_amount) money += fmt::format(" {} {}", a, cur);
    parts += fmt::format("; {} {} checked, {} ok, {} break(s){}, {} parked, {} waiting", name, c.checked, c.ok,
                         c.breaks, money, c.parked, c.waiting);
  }
  return out + fmt::format(", {} break(s){}", breaks, parts);
}

// "current" and "previous" as the month (UTC) they are now.
std::string PeriodOf(const std::string& selector, int64_t now_us) {
  if (selector != "current" && selector != "previous") return selector;
  using namespace std::chrono;
  const year_month_day today{floor<days>(sys_time<microseconds>(microseconds(now_us)))};
  year_month ym = today.year() / today.month();
  if (selector == "previous") ym -= months(1);
  return fmt::format("{:04}-{:02}", static_cast<int>(ym.year()), static_cast<unsigned>(ym.month()));
}

void Field(std::string* out, const char* name, const std::string& v) {
  *out += ",\"";
  *out += name;
  *out += "\":";
  AppendJsonString(out, v);
}

void Count(std::string* out, const char* name, uint64_t v) {
  *out += ",\"";
  *out += name;
  *out += "\":";
  AppendJsonInt(out, v);
}

std::string SummaryJson(const CheckRunSummary& s) {
  std::string out = "{\"kind\":";
  AppendJsonString(&out, s.kind);
  Field(&out, "name", s.name);
  Field(&out, "started_at", IsoTime(s.started_us));
  Field(&out, "finished_at", IsoTime(s.finished_us));
  out += s.failed ? ",\"failed\":true" : ",\"failed\":false";
  Field(&out, "error", s.error);
  Count(&out, "runs", s.runs);
  Count(&out, "failures", s.failures);
  if (s.kind == "verify") {
    Count(&out, "rows_checked", s.rows_checked);
    Count(&out, "missing", s.missing);
    Count(&out, "extra", s.extra);
    Count(&out, "different", s.different);
    Count(&out, "unsettled", s.unsettled);
    Count(&out, "repaired", s.repaired);
  } else {
    out += ",\"checks\":{";
    bool first = true;
    for (const auto& [name, c] : s.checks) {
      if (!first) out += ",";
      first = false;
      AppendJsonString(&out, name);
      out += ":{\"checked\":";
      AppendJsonInt(&out, c.checked);
      Count(&out, "ok", c.ok);
      Count(&out, "breaks", c.breaks);
      Count(&out, "parked", c.parked);
      Count(&out, "waiting", c.waiting);
      out += ",\"break_amount\":{";
      bool f2 = true;
      for (const auto& [cur, a] : c.break_amount) {
        if (!f2) out += ",";
        f2 = false;
        AppendJsonString(&out, cur);
        out += ":";
        AppendJsonString(&out, a);
      }
      out += "}}";
    }
    out += "}";
  }
  // The command's own report, as it prints it with --json / --format json.
  out += ",\"report\":";
  std::string report = s.report_json;
  while (!report.empty() && (report.back() == '\n' || report.back() == ' ')) report.pop_back();
  out += report.empty() ? "null" : report;
  return out + "}";
}

}  // namespace

std::string ScheduledChecks::MetaKey(const std::string& kind, const std::string& name) {
  return std::string(kMetaPrefix) + kind + ":" + name;
}

std::unique_ptr<ScheduledChecks> ScheduledChecks::Start(const Config& config, Journal* journal) {
  if (config.verify_schedule.empty() && !config.reconcile_schedule) return nullptr;
  std::unique_ptr<ScheduledChecks> c(new ScheduledChecks(config, journal));
  // One thread a check: a slow one (a paced verification of a large table) does not hold the others.
  for (const Config::VerifySchedule& v : c->config_.verify_schedule)
    c->threads_.emplace_back([p = c.get(), &v] { p->Loop(&v, v.every_us, v.first_after_us); });
  if (const auto& r = c->config_.reconcile_schedule)
    c->threads_.emplace_back([p = c.get(), every = r->every_us, first = r->first_after_us] {
      p->Loop(nullptr, every, first);
    });
  LogInfo("checks", "scheduled: {} verification(s){}", c->config_.verify_schedule.size(),
          c->config_.reconcile_schedule ? " and reconciliation" : "");
  return c;
}

ScheduledChecks::ScheduledChecks(const Config& config, Journal* journal) : config_(config), journal_(journal) {}

ScheduledChecks::~ScheduledChecks() { Stop(); }

void ScheduledChecks::Stop() {
  {
    std::lock_guard<std::mutex> lock(wake_mu_);
    stop_.store(true);
  }
  wake_.notify_all();
  for (std::thread& t : threads_)
    if (t.joinable()) t.join();
  threads_.clear();
}

void ScheduledChecks::Loop(const Config::VerifySchedule* verify, int64_t every_us, int64_t first_after_us) {
  using Clock = std::chrono::steady_clock;
  auto due = Clock::now() + std::chrono::microseconds(first_after_us >= 0 ? first_after_us : every_us);
  while (!stop_.load()) {
    {
      std::unique_lock<std::mutex> lock(wake_mu_);
      if (wake_.wait_until(lock, due, [&] { return stop_.load(); })) break;
    }
    if (verify)
      RunVerify(*verify);
    else
      RunReconcile();
    // The next run is one `every` after this one ended: a slow check never piles up.
    due = Clock::now() + std::chrono::microseconds(every_us);
  }
}

void ScheduledChecks::RunVerify(const Config::VerifySchedule& v) {
  VerifyOptions o;
  o.config = &config_;
  o.journal = journal_;
  o.source = v.source;
  o.table = v.table;
  o.chunk_rows = v.chunk_rows;
  o.segment_rows = std::max<uint64_t>(o.segment_rows, v.chunk_rows);
  o.rate = v.rate;
  o.timeout_s = static_cast<double>(v.timeout_us) / 1e6;
  o.repair = v.repair;
  o.cancelled = [this] { return stop_.load(); };
  const int64_t started = NowMicros();
  auto result = VerifyRoutes(o);
  if (stop_.load()) return;  // cancelled by the drain: no result to keep
  if (!result.ok()) {
    CheckRunSummary s;
    s.kind = "verify";
    s.name = v.source + ":" + (v.table.empty() ? "*" : v.table);
    s.started_us = started;
    s.finished_us = NowMicros();
    s.failed = true;
    s.error = result.status().message();
    LogWarn("checks", "verify of {} failed: {}", s.name, s.error);
    Keep(std::move(s));
    return;
  }
  for (const TableVerification& t : *result) {
    CheckRunSummary s;
    s.kind = "verify";
    s.name = t.source + ":" + t.source_table;
    s.started_us = started;
    s.finished_us = NowMicros();
    s.rows_checked = t.rows_checked;
    s.missing = t.missing.size();
    s.extra = t.extra.size();
    s.different = t.different.size();
    s.unsettled = t.unsettled.size();
    s.repaired = t.repaired;
    s.report_json = VerificationJson({t});
    if (t.equal())
      LogInfo("checks", "verify of {}: {} rows, equal", s.name, t.rows_checked);
    else
      LogWarn("checks", "verify of {}: {} rows, {} missing, {} extra, {} different, {} unsettled in {}", s.name,
              t.rows_checked, s.missing, s.extra, s.different, s.unsettled, t.target + ":" + t.target_table);
    Keep(std::move(s));
  }
}

void ScheduledChecks::RunReconcile() {
  auto setup = LoadCanonical(config_);
  for (const std::string& selector : config_.reconcile_schedule->periods) {
    if (stop_.load()) return;
    CheckRunSummary s;
    s.kind = "reconcile";
    s.name = PeriodOf(selector, NowMicros());
    s.started_us = NowMicros();
    Result<ReconcileReport> report = setup.status();
    if (setup.ok()) {
      ReconcileOptions o;
      o.config = &config_;
      o.model = &(*setup)->model;
      o.flows = (*setup)->flows ? &*(*setup)->flows : nullptr;
      o.journal = journal_;
      o.period = s.name;
      report = Reconcile(o);
    }
    s.finished_us = NowMicros();
    if (!report.ok()) {
      s.failed = true;
      s.error = report.status().message();
      LogWarn("checks", "reconcile of {} failed: {}", s.name, s.error);
    } else {
      for (const CheckResult& c : report->checks) {
        CheckRunSummary::Check& k = s.checks[c.name];
        k.checked = c.checked;
        k.ok = c.ok;
        k.breaks = c.Count(FindingState::kBreak);
        k.parked = c.Count(FindingState::kParked);
        k.waiting = c.Count(FindingState::kWaiting);
        k.break_amount = c.break_amount;
      }
      s.report_json = ReconcileJson(*report);
      const uint64_t breaks = report->Breaks();
      if (breaks == 0)
        LogInfo("checks", "reconcile of {}: no breaks", s.name);
      else
        LogWarn("checks", "reconcile of {}: {} break(s); `handoff checks` or /checks has the list", s.name, breaks);
    }
    Keep(std::move(s));
  }
}

void ScheduledChecks::Keep(CheckRunSummary s) {
  const std::string id = s.kind + "/" + s.name;
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = latest_.find(id);
    s.runs = (it == latest_.end() ? 0 : it->second.runs) + 1;
    s.failures = (it == latest_.end() ? 0 : it->second.failures) + (s.failed ? 1 : 0);
    latest_[id] = s;
  }
  Status st = journal_->PutMeta(MetaKey(s.kind, s.name), SummaryJson(s));
  if (st.ok()) st = journal_->PutMeta(kLinePrefix + s.kind + ":" + s.name, SummaryLine(s));
  if (!st.ok()) LogWarn("checks", "cannot keep the result of {} {}: {}", s.kind, s.name, st.ToString());
}

void ScheduledChecks::RenderMetrics(MetricsText* m) const {
  std::lock_guard<std::mutex> lock(mu_);
  auto verify_family = [&](const char* name, const char* type, const char* help, auto value) {
    m->Family(name, type, help);
    for (const auto& [id, s] : latest_) {
      if (s.kind != "verify") continue;
      const size_t colon = s.name.find(':');
      const std::string source = s.name.substr(0, colon), table = colon == std::string::npos ? "" : s.name.substr(colon + 1);
      value(source, table, s);
    }
  };
  verify_family("handoff_verify_runs_total", "counter", "Scheduled verifications of a source table, by result.",
                [&](const std::string& src, const std::string& table, const CheckRunSummary& s) {
                  m->Sample({{"source", src}, {"table", table}, {"result", "finished"}}, s.runs - s.failures);
                  m->Sample({{"source", src}, {"table", table}, {"result", "failed"}}, s.failures);
                });
  verify_family("handoff_verify_rows_checked", "gauge", "Source rows compared by the latest scheduled verification.",
                [&](const std::string& src, const std::string& table, const CheckRunSummary& s) {
                  m->Sample({{"source", src}, {"table", table}}, s.rows_checked);
                });
  verify_family("handoff_verify_drift_rows", "gauge",
                "Rows the latest scheduled verification found missing, extra, different or unsettled in the target.",
                [&](const std::string& src, const std::string& table, const CheckRunSummary& s) {
                  m->Sample({{"source", src}, {"table", table}, {"kind", "missing"}}, s.missing);
                  m->Sample({{"source", src}, {"table", table}, {"kind", "extra"}}, s.extra);
                  m->Sample({{"source", src}, {"table", table}, {"kind", "different"}}, s.different);
                  m->Sample({{"source", src}, {"table", table}, {"kind", "unsettled"}}, s.unsettled);
                });
  verify_family("handoff_verify_last_run_timestamp_seconds", "gauge",
                "When the latest scheduled verification of a source table finished (Unix time).",
                [&](const std::string& src, const std::string& table, const CheckRunSummary& s) {
                  m->Sample({{"source", src}, {"table", table}}, static_cast<double>(s.finished_us) / 1e6);
                });
  auto reconcile_family = [&](const char* name, const char* type, const char* help, auto value) {
    m->Family(name, type, help);
    for (const auto& [id, s] : latest_)
      if (s.kind == "reconcile") value(s);
  };
  reconcile_family("handoff_reconcile_runs_total", "counter", "Scheduled reconciliations of a period, by result.",
                   [&](const CheckRunSummary& s) {
                     m->Sample({{"period", s.name}, {"result", "finished"}}, s.runs - s.failures);
                     m->Sample({{"period", s.name}, {"result", "failed"}}, s.failures);
                   });
  reconcile_family("handoff_reconcile_findings", "gauge",
                   "Findings of the latest reconciliation of a period, by check and state (break, parked, waiting).",
                   [&](const CheckRunSummary& s) {
                     for (const auto& [check, c] : s.checks) {
                       m->Sample({{"period", s.name}, {"check", check}, {"state", "break"}}, c.breaks);
                       m->Sample({{"period", s.name}, {"check", check}, {"state", "parked"}}, c.parked);
                       m->Sample({{"period", s.name}, {"check", check}, {"state", "waiting"}}, c.waiting);
                     }
                   });
  reconcile_family("handoff_reconcile_checked", "gauge", "Items the latest reconciliation of a period checked, by check.",
                   [&](const CheckRunSummary& s) {
                     for (const auto& [check, c] : s.checks) m->Sample({{"period", s.name}, {"check", check}}, c.checked);
                   });
  reconcile_family("handoff_reconcile_unreconciled_amount", "gauge",
                   "Money of the breaks of the latest reconciliation of a period, by check and currency.",
                   [&](const CheckRunSummary& s) {
                     for (const auto& [check, c] : s.checks)
                       for (const auto& [currency, amount] : c.break_amount)
                         m->Sample({{"period", s.name}, {"check", check}, {"currency", currency}},
                                   std::strtod(amount.c_str(), nullptr));
                   });
  reconcile_family("handoff_reconcile_last_run_timestamp_seconds", "gauge",
                   "When the latest reconciliation of a period finished (Unix time).", [&](const CheckRunSummary& s) {
                     m->Sample({{"period", s.name}}, static_cast<double>(s.finished_us) / 1e6);
                   });
}

std::string ScheduledChecks::Json() const {
  std::lock_guard<std::mutex> lock(mu_);
  std::string out = "{\"checks\":[";
  bool first = true;
  for (const auto& [id, s] : latest_) {
    if (!first) out += ",";
    first = false;
    out += SummaryJson(s);
  }
  return out + "]}\n";
}

Result<std::vector<std::string>> ScheduledChecks::ReadKept(Journal* journal, bool json) {
  std::vector<std::string> out;
  HANDOFF_RETURN_IF_ERROR(journal->ScanMeta(json ? kMetaPrefix : kLinePrefix, [&](std::string_view, std::string_view value) {
    out.emplace_back(value);
    return true;
  }));
  return out;
}

}  // namespace handoff
