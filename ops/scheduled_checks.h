// ScheduledChecks: the `verify:` and `reconcile:` sections of the
// configuration, run by the engine on their schedules (`every`, the first run
// after `first_after`). Each run is what `handoff verify` / `handoff reconcile`
// does, each scheduled check on a thread of its own. The latest result of
// each check is kept in memory (metrics, the admin /checks endpoint) and in
// the journal's meta store under `check:verify:<source>:<table>` and
// `check:reconcile:<period>` (JSON) and `check_line:<kind>:<name>` (a line of
// text); `handoff checks` reads them, with or without a running engine.
//
// Thread-safety: Start/Stop from one thread; RenderMetrics and Json from any.
#pragma once

#include <atomic>
#include <condition_variable>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "handoff/engine/config.h"
#include "handoff/engine/journal.h"
#include "metrics_text.h"

namespace handoff {

// The latest run of one scheduled check.
struct CheckRunSummary {
  std::string kind;    // "verify" or "reconcile"
  std::string name;    // verify: "<source>:<schema.table>"; reconcile: the period
  int64_t started_us = 0, finished_us = 0;
  bool failed = false;  // could not finish
  std::string error;
  uint64_t runs = 0, failures = 0;  // since the engine started
  // verify
  uint64_t rows_checked = 0, missing = 0, extra = 0, different = 0, unsettled = 0, repaired = 0;
  // reconcile: per check, findings per state, and break amounts per currency
  struct Check {
    uint64_t checked = 0, ok = 0, breaks = 0, parked = 0, waiting = 0;
    std::map<std::string, std::string> break_amount;
  };
  std::map<std::string, Check> checks;
  std::string report_json;  // the command's JSON report
};

class ScheduledChecks {
 public:
  // Null when the configuration schedules nothing.
  static std::unique_ptr<ScheduledChecks> Start(const Config& config, Journal* journal);
  ~ScheduledChecks();
  // Stops the thread; a check that runs is cancelled (verify) or finished (reconcile).
  void Stop();

  void RenderMetrics(MetricsText* m) const;
  // {"checks":[{kind, name, started_at, finished_at, failed, error, runs, failures, ...}]}
  std::string Json() const;

  // The meta key a result is kept under.
  static std::string MetaKey(const std::string& kind, const std::string& name);
  // Every kept result, one JSON object or one line of text each (`handoff checks`).
  static Result<std::vector<std::string>> ReadKept(Journal* journal, bool json);

 private:
  ScheduledChecks(const Config& config, Journal* journal);
  void Loop(const Config::VerifySchedule* verify, int64_t every_us, int64_t first_after_us);
  void RunVerify(const Config::VerifySchedule& v);
  void RunReconcile();
  void Keep(CheckRunSummary s);

  Config config_;
  Journal* journal_;
  std::atomic<bool> stop_{false};
  std::mutex wake_mu_;
  std::condition_variable wake_;
  mutable std::mutex mu_;
  std::map<std::string, CheckRunSummary> latest_;  // kind + "/" + name
  std::vector<std::thread> threads_;
};

}  // namespace handoff
