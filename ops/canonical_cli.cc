#include "canonical_cli.h"

#include <fmt/format.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <regex>
#include <thread>

#include "configured_journal.h"
#include "engine_runner.h"
#include "handoff/canonical/store.h"
#include "handoff/canonical/requests.h"
#include "handoff/canonical/router.h"
#include "handoff/canonical/trace.h"
#include "handoff/engine/event_json.h"

namespace handoff {
namespace {

constexpr int kOk = 0, kFailure = 1, kUsage = 2;

std::string Clock(int64_t us) {
  std::time_t s = static_cast<std::time_t>(us / 1000000);
  std::tm tm{};
  gmtime_r(&s, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%d %H:%M:%S", &tm);
  return fmt::format("{}.{:03}Z", buf, (us / 1000) % 1000);
}

void Field(std::string* j, const char* name, const std::string& v) {
  *j += fmt::format(",\"{}\":", name);
  AppendJsonString(j, v);
}

std::string LineJson(const TraceLine& l) {
  std::string j = fmt::format("{{\"seq\":{},\"at\":", l.seq);
  AppendJsonString(&j, Clock(l.at_us));
  Field(&j, "step", l.step);
  Field(&j, "entity", l.entity);
  Field(&j, "key", l.key);
  Field(&j, "system", l.system);
  Field(&j, "detail", l.detail);
  if (l.step == "derived") {
    j += fmt::format(",\"derived_seq\":{}", l.derived_seq);
    Field(&j, "target", l.target);
    Field(&j, "table", l.table);
    Field(&j, "row", l.row);
    Field(&j, "state", l.state);
  }
  return j + "}";
}

}  // namespace

int CmdTrace(const Config& config, const std::string& ref, bool json, bool brief) {
  if (!config.canonical()) {
    std::fprintf(stderr, "handoff: trace needs canonical mode (a `canonical:` section in the configuration)\n");
    return kUsage;
  }
  auto setup = LoadCanonical(config);
  if (!setup.ok()) {
    std::fprintf(stderr, "handoff: %s\n", setup.status().ToString().c_str());
    return kFailure;
  }
  auto j = OpenJournalOrReport(config);
  if (!j) return kFailure;
  auto report = ReadTrace(j.get(), (*setup)->model, (*setup)->rules, ref);
  if (!report.ok()) {
    std::fprintf(stderr, "handoff: trace %s: %s\n", ref.c_str(), report.status().message().c_str());
    return kFailure;
  }
  if (json) {
    std::string out = "{\"ref\":";
    AppendJsonString(&out, ref);
    Field(&out, "key", report->key);
    Field(&out, "root", report->root);
    out += ",\"steps\":[";
    for (size_t i = 0; i < report->lines.size(); ++i) out += (i ? "," : "") + LineJson(report->lines[i]);
    std::printf("%s]}\n", out.c_str());
    return kOk;
  }
  std::printf("trace of %s (%s), filed under %s: %zu step(s)\n", ref.c_str(), report->key.c_str(),
              report->root.c_str(), report->lines.size());
  uint64_t last_seq = 0;
  for (const TraceLine& l : report->lines) {
    // --brief: routine decisions (every field applied) are left out.
    if (brief && l.step == "decided" && l.detail.find(" 0 kept, 0 ignored, 0 parked") != std::string::npos &&
        l.detail.find("conflict") == std::string::npos)
      continue;
    if (l.seq != last_seq) {
      std::printf("\n  journal seq %llu  %s\n", static_cast<unsigned long long>(l.seq), Clock(l.at_us).c_str());
      last_seq = l.seq;
    }
    if (l.step == "derived") {
      std::printf("    -> %-4s %s (%s) seq %llu: %s\n", l.target.c_str(), l.table.c_str(), l.row.c_str(),
                  static_cast<unsigned long long>(l.derived_seq), l.state.c_str());
    } else {
      std::printf("    %-9s %s: %s\n", l.step.c_str(), l.key.c_str(), l.detail.c_str());
    }
  }
  return kOk;
}

int CmdBillingClose(const Config& config, const std::string& period, int wait_seconds) {
  if (!std::regex_match(period, std::regex("[0-9]{4}-(0[1-9]|1[0-2])"))) {
    std::fprintf(stderr, "handoff: --period must be YYYY-MM, not '%s'\n", period.c_str());
    return kUsage;
  }
  if (!config.canonical() || config.canonical_flows.empty()) {
    std::fprintf(stderr, "handoff: billing close needs canonical mode with flows (canonical.flows)\n");
    return kUsage;
  }
  auto j = OpenJournalOrReport(config);
  if (!j) return kFailure;
  auto seq = RequestBillingClose(j.get(), period);
  if (!seq.ok()) {
    std::fprintf(stderr, "handoff: billing close %s: %s\n", period.c_str(), seq.status().ToString().c_str());
    return kFailure;
  }
  std::printf("billing close %s requested (journal seq %llu)\n", period.c_str(),
              static_cast<unsigned long long>(*seq));
  CanonicalStore store(j.get());
  auto routed = [&] {
    auto at = store.RouterPosition();
    return at.ok() && *at >= *seq;
  };
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(wait_seconds);
  while (!routed() && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  if (!routed()) {
    std::printf("no running engine took it within %d s; it will when the engine runs\n", wait_seconds);
    return kFailure;
  }
  const std::string first = period + "-01";
  int n = 0;
  Status st = store.ScanEntities("invoice", [&](const conflict::EntityState& s) {
    if (!s.live()) return true;
    auto f = [&](const char* name) {
      auto it = s.fields.find(name);
      return it != s.fields.end() && it->second.value ? *it->second.value : std::string("-");
    };
    if (f("period_start") != first) return true;
    std::printf("  %-28s %-8s %-14s total %s %s\n", f("number").c_str(), f("status").c_str(), f("project").c_str(),
                f("total").c_str(), f("currency").c_str());
    ++n;
    return true;
  });
  if (!st.ok()) {
    std::fprintf(stderr, "handoff: %s\n", st.ToString().c_str());
    return kFailure;
  }
  std::printf("%d invoice(s) for %s\n", n, period.c_str());
  return kOk;
}

}  // namespace handoff
