#include "exceptions_cli.h"

#include <fmt/format.h>

#include <cstdio>
#include <map>

#include <chrono>
#include <thread>

#include "handoff/apply/canonical_router.h"
#include "handoff/engine/clock.h"
#include "handoff/engine/event_json.h"
#include "handoff/engine/journal.h"
#include "configured_journal.h"
#include "target_factory.h"

namespace handoff {
namespace {

constexpr int kOk = 0, kFailure = 1, kUsage = 2;

std::string Time(int64_t us) {
  if (us <= 0) return "-";
  time_t s = static_cast<time_t>(us / 1000000);
  struct tm tm;
  gmtime_r(&s, &tm);
  char buf[32];
  strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

std::string RecordJson(const ExceptionRecord& r) {
  std::string out = "{\"target\":";
  AppendJsonString(&out, r.target);
  out += fmt::format(",\"seq\":{},\"state\":\"{}\",\"code\":", r.seq, ExceptionStateName(r.state));
  AppendJsonString(&out, r.code);
  out += ",\"reason\":";
  AppendJsonString(&out, r.reason);
  auto image = [&out](const char* name, const std::string& json) {
    out += fmt::format(",\"{}\":{}", name, json.empty() ? "null" : json);
  };
  image("old_image", r.old_image);
  image("new_image", r.new_image);
  image("current_image", r.current_image);
  out += ",\"actor\":";
  AppendJsonString(&out, r.actor);
  out += ",\"note\":";
  AppendJsonString(&out, r.note);
  out += fmt::format(",\"created\":\"{}\",\"updated\":\"{}\"}}", Time(r.created_us), Time(r.updated_us));
  return out;
}

// Finds the record or prints why not.
std::optional<ExceptionRecord> Find(Journal* j, const ExceptionsArgs& a) {
  auto r = j->GetException(a.target, a.seq);
  if (!r.ok()) {
    std::fprintf(stderr, "handoff: cannot read exception %s/%llu: %s\n", a.target.c_str(),
                 static_cast<unsigned long long>(a.seq), r.status().ToString().c_str());
    return std::nullopt;
  }
  if (!r->has_value()) {
    std::fprintf(stderr, "handoff: no exception for target %s at seq %llu (see `handoff exceptions list`)\n",
                 a.target.c_str(), static_cast<unsigned long long>(a.seq));
    return std::nullopt;
  }
  return **r;
}

// Applies the exception's journal entry (or `replacement`) to its target
// once. Returns kOk when it went through, kFailure when it was parked again
// or could not run.
int ApplyOnce(const Config& cfg, Journal* j, const ExceptionRecord& rec, std::optional<ChangeEvent> replacement) {
  const TargetConfig* t = cfg.FindTarget(rec.target);
  if (t == nullptr) {
    std::fprintf(stderr, "handoff: target %s is no longer configured\n", rec.target.c_str());
    return kFailure;
  }
  TargetRun run;
  run.only_seq = rec.seq;
  run.replacement = std::move(replacement);
  auto w = MakeTarget(cfg, *t, j, run);
  if (!w.ok()) {
    std::fprintf(stderr, "handoff: %s\n", w.status().ToString().c_str());
    return kFailure;
  }
  Status st = (*w)->Run();
  if (!st.ok()) {
    std::fprintf(stderr, "handoff: applying seq %llu to %s failed: %s\n", static_cast<unsigned long long>(rec.seq),
                 rec.target.c_str(), st.ToString().c_str());
    return kFailure;
  }
  if ((*w)->counters().exceptions.load() > 0) return kFailure;  // parked again: the record says why
  return kOk;
}

Status MarkClosed(Journal* j, ExceptionRecord rec, ExceptionState state, const ExceptionsArgs& a) {
  rec.state = state;
  rec.actor = a.actor;
  rec.note = a.note;
  rec.updated_us = NowMicros();
  return j->PutException(rec);
}

}  // namespace

int ExceptionsList(const Config& cfg, const ExceptionsArgs& a) {
  std::optional<ExceptionState> filter;
  if (a.state == "open") filter = ExceptionState::kOpen;
  else if (a.state == "retried") filter = ExceptionState::kRetried;
  else if (a.state == "resolved") filter = ExceptionState::kResolved;
  else if (a.state == "discarded") filter = ExceptionState::kDiscarded;
  else if (a.state != "all") {
    std::fprintf(stderr, "handoff: --state must be open, retried, resolved, discarded or all, not '%s'\n",
                 a.state.c_str());
    return kUsage;
  }
  auto j = OpenJournalOrReport(cfg);
  if (!j) return kFailure;
  auto list = j->Exceptions(filter);
  if (!list.ok()) {
    std::fprintf(stderr, "handoff: cannot read the exception queue: %s\n", list.status().ToString().c_str());
    return kFailure;
  }
  std::map<std::string, size_t> by_code;
  for (const ExceptionRecord& r : *list) {
    if (!a.target.empty() && r.target != a.target) continue;
    ++by_code[r.code];
    if (a.json) {
      std::printf("%s\n", RecordJson(r).c_str());
    } else {
      std::printf("%-10s %8llu  %-9s %-14s %s\n", r.target.c_str(), static_cast<unsigned long long>(r.seq),
                  ExceptionStateName(r.state), r.code.c_str(), r.reason.c_str());
    }
  }
  if (!a.json) {
    size_t total = 0;
    for (const auto& [code, n] : by_code) total += n;
    std::printf("%zu %s exception(s)", total, a.state.c_str());
    for (const auto& [code, n] : by_code) std::printf("; %s: %zu", code.c_str(), n);
    std::printf("\n");
  }
  return kOk;
}

int ExceptionsShow(const Config& cfg, const ExceptionsArgs& a) {
  auto j = OpenJournalOrReport(cfg);
  if (!j) return kFailure;
  auto rec = Find(j.get(), a);
  if (!rec) return kFailure;
  if (a.json) {
    std::printf("%s\n", RecordJson(*rec).c_str());
    return kOk;
  }
  std::printf("exception %s/%llu (%s)\n", rec->target.c_str(), static_cast<unsigned long long>(rec->seq),
              ExceptionStateName(rec->state));
  std::printf("  reason:  %s\n  code:    %s\n", rec->reason.c_str(), rec->code.c_str());
  std::printf("  old:     %s\n  new:     %s\n  current: %s\n", rec->old_image.empty() ? "-" : rec->old_image.c_str(),
              rec->new_image.empty() ? "-" : rec->new_image.c_str(),
              rec->current_image.empty() ? "-" : rec->current_image.c_str());
  std::printf("  created: %s  updated: %s\n", Time(rec->created_us).c_str(), Time(rec->updated_us).c_str());
  if (!rec->actor.empty() || !rec->note.empty())
    std::printf("  by:      %s  note: %s\n", rec->actor.c_str(), rec->note.c_str());
  std::vector<JournalEntry> e;
  if (j->Read(rec->seq, 1, &e).ok() && !e.empty() && e[0].seq == rec->seq)
    std::printf("  change:  %s\n", EntryToJson(e[0]).c_str());
  return kOk;
}

// A canonical exception is re-run by the engine's router (the only writer of
// entity state): the request is stored in the journal and this waits for it.
int RetryCanonical(Journal* j, const ExceptionRecord& rec, const ExceptionsArgs& a) {
  Status st = RequestCanonicalRetry(j, rec.seq, a.actor.empty() ? "retry" : a.actor);
  if (!st.ok()) {
    std::fprintf(stderr, "handoff: cannot queue the retry: %s\n", st.ToString().c_str());
    return kFailure;
  }
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(a.wait_seconds);
  while (CanonicalRetryPending(j, rec.seq) && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  if (CanonicalRetryPending(j, rec.seq)) {
    std::printf("retry of canonical/%llu is queued; no running engine took it within %d s (it will when it runs)\n",
                static_cast<unsigned long long>(rec.seq), a.wait_seconds);
    return kFailure;
  }
  auto after = j->GetException("canonical", rec.seq);
  if (after.ok() && after->has_value() && (*after)->state == ExceptionState::kRetried) {
    std::printf("retried canonical/%llu: applied\n", static_cast<unsigned long long>(rec.seq));
    return kOk;
  }
  std::fprintf(stderr, "handoff: retry of canonical/%llu did not go through: %s\n",
               static_cast<unsigned long long>(rec.seq),
               after.ok() && after->has_value() ? (*after)->reason.c_str() : "see the log");
  return kFailure;
}

int ExceptionsRetry(const Config& cfg, const ExceptionsArgs& a) {
  auto j = OpenJournalOrReport(cfg);
  if (!j) return kFailure;
  auto rec = Find(j.get(), a);
  if (!rec) return kFailure;
  if (rec->state != ExceptionState::kOpen) {
    std::fprintf(stderr, "handoff: exception %s/%llu is %s, not open\n", a.target.c_str(),
                 static_cast<unsigned long long>(a.seq), ExceptionStateName(rec->state));
    return kFailure;
  }
  if (a.target == "canonical") return RetryCanonical(j.get(), *rec, a);
  int rc = ApplyOnce(cfg, j.get(), *rec, std::nullopt);
  if (rc != kOk) {
    auto again = Find(j.get(), a);
    std::fprintf(stderr, "handoff: retry of %s/%llu did not go through: %s\n", a.target.c_str(),
                 static_cast<unsigned long long>(a.seq), again ? again->reason.c_str() : "see the log");
    return kFailure;
  }
  ExceptionsArgs closed = a;
  if (closed.actor.empty()) closed.actor = "retry";
  Status st = MarkClosed(j.get(), *rec, ExceptionState::kRetried, closed);
  if (!st.ok()) {
    std::fprintf(stderr, "handoff: applied, but cannot close the record: %s\n", st.ToString().c_str());
    return kFailure;
  }
  std::printf("retried %s/%llu: applied\n", a.target.c_str(), static_cast<unsigned long long>(a.seq));
  return kOk;
}

int ExceptionsResolve(const Config& cfg, const ExceptionsArgs& a) {
  if (a.actor.empty()) {
    std::fprintf(stderr, "handoff: resolve needs --actor (who decided)\n");
    return kUsage;
  }
  if (a.target == "canonical") {
    std::fprintf(stderr,
                 "handoff: a canonical exception names no target row to write; fix the data in the system of "
                 "record and use retry, or discard it\n");
    return kUsage;
  }
  auto j = OpenJournalOrReport(cfg);
  if (!j) return kFailure;
  auto rec = Find(j.get(), a);
  if (!rec) return kFailure;
  if (rec->state != ExceptionState::kOpen) {
    std::fprintf(stderr, "handoff: exception %s/%llu is %s, not open\n", a.target.c_str(),
                 static_cast<unsigned long long>(a.seq), ExceptionStateName(rec->state));
    return kFailure;
  }
  std::vector<JournalEntry> e;
  if (!j->Read(rec->seq, 1, &e).ok() || e.empty() || e[0].seq != rec->seq) {
    std::fprintf(stderr, "handoff: journal entry %llu is gone (retention); it cannot be resolved by value\n",
                 static_cast<unsigned long long>(rec->seq));
    return kFailure;
  }
  ChangeEvent ev = e[0].event;
  if (ev.op != Op::kInsert && ev.op != Op::kUpdate && ev.op != Op::kRead) {
    std::fprintf(stderr, "handoff: a %s has no values to choose; use retry or discard\n", OpName(ev.op));
    return kUsage;
  }
  auto column = [&ev](const std::string& name) -> Column* {
    for (Column& c : ev.after)
      if (c.name == name) return &c;
    return nullptr;
  };
  for (const std::string& s : a.set) {
    size_t eq = s.find('=');
    Column* c = eq == std::string::npos ? nullptr : column(s.substr(0, eq));
    if (c == nullptr) {
      std::fprintf(stderr, "handoff: --set %s: expected column=value naming a column of the change\n", s.c_str());
      return kUsage;
    }
    c->kind = Column::Kind::kText;
    c->data = s.substr(eq + 1);
  }
  for (const std::string& name : a.set_null) {
    Column* c = column(name);
    if (c == nullptr) {
      std::fprintf(stderr, "handoff: --set-null %s names no column of the change\n", name.c_str());
      return kUsage;
    }
    c->kind = Column::Kind::kNull;
    c->data.clear();
  }
  if (ApplyOnce(cfg, j.get(), *rec, ev) != kOk) {
    auto again = Find(j.get(), a);
    std::fprintf(stderr, "handoff: the chosen values were refused too: %s\n", again ? again->reason.c_str() : "");
    return kFailure;
  }
  ExceptionRecord closed = *rec;
  closed.new_image = ImageToJson(ev.after);  // what was finally written
  Status st = MarkClosed(j.get(), closed, ExceptionState::kResolved, a);
  if (!st.ok()) {
    std::fprintf(stderr, "handoff: applied, but cannot close the record: %s\n", st.ToString().c_str());
    return kFailure;
  }
  std::printf("resolved %s/%llu by %s: applied %s\n", a.target.c_str(), static_cast<unsigned long long>(a.seq),
              a.actor.c_str(), closed.new_image.c_str());
  return kOk;
}

int ExceptionsDiscard(const Config& cfg, const ExceptionsArgs& a) {
  if (a.actor.empty() || a.note.empty()) {
    std::fprintf(stderr, "handoff: discard needs --actor (who) and --note (why)\n");
    return kUsage;
  }
  auto j = OpenJournalOrReport(cfg);
  if (!j) return kFailure;
  auto rec = Find(j.get(), a);
  if (!rec) return kFailure;
  Status st = MarkClosed(j.get(), *rec, ExceptionState::kDiscarded, a);
  if (!st.ok()) {
    std::fprintf(stderr, "handoff: cannot discard: %s\n", st.ToString().c_str());
    return kFailure;
  }
  std::printf("discarded %s/%llu by %s: %s\n", a.target.c_str(), static_cast<unsigned long long>(a.seq),
              a.actor.c_str(), a.note.c_str());
  return kOk;
}

}  // namespace handoff
