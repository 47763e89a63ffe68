#include "exceptions_cli.h"

#include <fmt/format.h>

#include <cstdio>
#include <map>
#include <set>

#include <chrono>
#include <thread>

#include "handoff/canonical/requests.h"
#include "handoff/apply/target_pause.h"
#include "handoff/engine/clock.h"
#include "handoff/engine/event_json.h"
#include "handoff/engine/journal.h"
#include "configured_journal.h"
#include "target_factory.h"

namespace handoff {
namespace {

constexpr int kOk = 0, kFailure = 1, kUsage = 2;

std::string Time(int64_t us) { return UtcSeconds(us); }

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

// A pause record is not a parked change: it closes when the target takes the
// changes it holds. Prints why it is not acted on.
bool RefusePauseRecord(const ExceptionRecord& rec, const char* verb) {
  if (rec.code != kTargetPausedCode) return false;
  std::fprintf(stderr,
               "handoff: %s/%llu records a pause of target %s, not a parked change; it is not %s: it closes by "
               "itself when the target takes the held changes (fix the target, then `handoff resume --target %s`)\n",
               rec.target.c_str(), static_cast<unsigned long long>(rec.seq), rec.target.c_str(), verb,
               rec.target.c_str());
  return true;
}

// Bulk selection: exactly one of --seq, --reason, --all.
bool BulkArgsValid(const ExceptionsArgs& a, const char* verb) {
  const int chosen = (a.seq > 0) + !a.reason.empty() + a.all;
  if (chosen != 1) {
    std::fprintf(stderr, "handoff: exceptions %s needs exactly one of --seq N, --reason CODE or --all\n", verb);
    return false;
  }
  if (a.seq > 0 && a.yes) {
    std::fprintf(stderr, "handoff: --yes confirms a bulk %s (--reason or --all); --seq acts on its own\n", verb);
    return false;
  }
  if (a.seq == 0 && a.state != "open") {
    std::fprintf(stderr, "handoff: a bulk %s acts on open exceptions only (--state open), not '%s'\n", verb,
                 a.state.c_str());
    return false;
  }
  if (a.reason == kTargetPausedCode) {
    std::fprintf(stderr, "handoff: target_paused records close by themselves when the target takes the held "
                         "changes; use `handoff resume --target %s`\n", a.target.c_str());
    return false;
  }
  return true;
}

// The open records a bulk verb acts on; prints how many match. Pause records
// are left out (and counted). nullopt when the queue cannot be read.
std::optional<std::vector<ExceptionRecord>> BulkSelect(Journal* j, const ExceptionsArgs& a, const char* verb) {
  auto list = j->Exceptions(ExceptionState::kOpen);
  if (!list.ok()) {
    std::fprintf(stderr, "handoff: cannot read the exception queue: %s\n", list.status().ToString().c_str());
    return std::nullopt;
  }
  std::vector<ExceptionRecord> out;
  size_t pauses = 0;
  for (ExceptionRecord& r : *list) {
    if (r.target != a.target || (!a.all && r.code != a.reason)) continue;
    if (r.code == kTargetPausedCode) ++pauses;
    else out.push_back(std::move(r));
  }
  const std::string what = a.all ? std::string("all reasons") : "reason " + a.reason;
  std::printf("%zu open exception(s) of target %s match (%s)\n", out.size(), a.target.c_str(), what.c_str());
  if (pauses > 0)
    std::printf("%zu pause record(s) left alone: they close when the target takes the held changes\n", pauses);
  if (!out.empty() && !a.yes)
    std::printf("would %s them; nothing done: add --yes to %s them\n", verb, verb);
  return out;
}

// Retries `seqs` of a non-canonical target in groups (one applier run per
// group); closes each that went through. Stops after a group in which a
// change was refused for a target reason: the rest would meet it too.
int BulkRetryTarget(const Config& cfg, Journal* j, const ExceptionsArgs& a, const std::vector<ExceptionRecord>& recs) {
  const TargetConfig* t = cfg.FindTarget(a.target);
  if (t == nullptr) {
    std::fprintf(stderr, "handoff: target %s is no longer configured\n", a.target.c_str());
    return kFailure;
  }
  ExceptionsArgs closed = a;
  if (closed.actor.empty()) closed.actor = "retry";
  size_t done = 0, applied = 0, again = 0;
  std::string refusal;
  for (size_t group = 1; done < recs.size() && refusal.empty(); group = 500) {  // one first: a cheap probe
    const size_t end = std::min(recs.size(), done + group);
    std::map<uint64_t, std::string> parked;  // seq -> code
    TargetRun run;
    for (size_t i = done; i < end; ++i) run.only_seqs.insert(recs[i].seq);
    run.on_parked = [&parked](uint64_t seq, const std::string& code) { parked[seq] = code; };
    auto w = MakeTarget(cfg, *t, j, run);
    if (!w.ok()) {
      std::fprintf(stderr, "handoff: %s\n", w.status().ToString().c_str());
      return kFailure;
    }
    Status st = (*w)->Run();
    if (!st.ok()) {
      std::fprintf(stderr, "handoff: retrying to %s failed: %s; %zu applied before it\n", a.target.c_str(),
                   st.ToString().c_str(), applied);
      return kFailure;
    }
    for (size_t i = done; i < end; ++i) {
      auto it = parked.find(recs[i].seq);
      if (it != parked.end()) {
        ++again;
        if (IsTargetRefusal(it->second) && refusal.empty()) {
          auto rec = j->GetException(a.target, recs[i].seq);
          refusal = rec.ok() && rec->has_value() ? (*rec)->reason : it->second;
        }
        continue;
      }
      Status c = MarkClosed(j, recs[i], ExceptionState::kRetried, closed);
      if (!c.ok()) {
        std::fprintf(stderr, "handoff: %s/%llu applied, but cannot close the record: %s\n", a.target.c_str(),
                     static_cast<unsigned long long>(recs[i].seq), c.ToString().c_str());
        return kFailure;
      }
      ++applied;
    }
    done = end;
  }
  std::printf("retried %zu of %zu: %zu applied, %zu parked again (still open)\n", done, recs.size(), applied, again);
  if (!refusal.empty())
    std::printf("stopped: the target still refuses changes (%zu not tried): %s\n", recs.size() - done,
                refusal.c_str());
  return applied == recs.size() ? kOk : kFailure;
}

// Canonical exceptions are re-run by the engine's router: queue each, then
// wait for the router to take them all.
int BulkRetryCanonical(Journal* j, const ExceptionsArgs& a, const std::vector<ExceptionRecord>& recs) {
  for (const ExceptionRecord& r : recs) {
    Status st = RequestCanonicalRetry(j, r.seq, a.actor.empty() ? "retry" : a.actor);
    if (!st.ok()) {
      std::fprintf(stderr, "handoff: cannot queue the retry of canonical/%llu: %s\n",
                   static_cast<unsigned long long>(r.seq), st.ToString().c_str());
      return kFailure;
    }
  }
  auto pending = [&] {
    size_t n = 0;
    for (const ExceptionRecord& r : recs) n += CanonicalRetryPending(j, r.seq);
    return n;
  };
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(a.wait_seconds);
  while (pending() > 0 && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  size_t applied = 0;
  for (const ExceptionRecord& r : recs) {
    auto after = j->GetException("canonical", r.seq);
    applied += after.ok() && after->has_value() && (*after)->state == ExceptionState::kRetried;
  }
  const size_t left = pending();
  std::printf("retried %zu of %zu canonical exception(s): %zu applied", recs.size() - left, recs.size(), applied);
  if (left > 0) std::printf("; %zu queued, no running engine took them within %d s", left, a.wait_seconds);
  std::printf("\n");
  return applied == recs.size() ? kOk : kFailure;
}

int BulkRetry(const Config& cfg, const ExceptionsArgs& a) {
  auto j = OpenJournalOrReport(cfg);
  if (!j) return kFailure;
  auto recs = BulkSelect(j.get(), a, "retry");
  if (!recs) return kFailure;
  if (recs->empty()) return kOk;
  if (!a.yes) return kUsage;
  if (a.target == "canonical") return BulkRetryCanonical(j.get(), a, *recs);
  return BulkRetryTarget(cfg, j.get(), a, *recs);
}

int BulkDiscard(const Config& cfg, const ExceptionsArgs& a) {
  auto j = OpenJournalOrReport(cfg);
  if (!j) return kFailure;
  auto recs = BulkSelect(j.get(), a, "discard");
  if (!recs) return kFailure;
  if (recs->empty()) return kOk;
  if (!a.yes) return kUsage;
  size_t n = 0;
  for (const ExceptionRecord& r : *recs) {
    Status st = MarkClosed(j.get(), r, ExceptionState::kDiscarded, a);
    if (!st.ok()) {
      std::fprintf(stderr, "handoff: cannot discard %s/%llu: %s (%zu discarded before it)\n", r.target.c_str(),
                   static_cast<unsigned long long>(r.seq), st.ToString().c_str(), n);
      return kFailure;
    }
    ++n;
  }
  std::printf("discarded %zu exception(s) of target %s by %s: %s\n", n, a.target.c_str(), a.actor.c_str(),
              a.note.c_str());
  return kOk;
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
  if (!BulkArgsValid(a, "retry")) return kUsage;
  if (a.seq == 0) return BulkRetry(cfg, a);
  auto j = OpenJournalOrReport(cfg);
  if (!j) return kFailure;
  auto rec = Find(j.get(), a);
  if (!rec) return kFailure;
  if (RefusePauseRecord(*rec, "retried")) return kUsage;
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
  if (RefusePauseRecord(*rec, "resolved")) return kUsage;
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
  if (!BulkArgsValid(a, "discard")) return kUsage;
  if (a.seq == 0) return BulkDiscard(cfg, a);
  auto j = OpenJournalOrReport(cfg);
  if (!j) return kFailure;
  auto rec = Find(j.get(), a);
  if (!rec) return kFailure;
  if (RefusePauseRecord(*rec, "discarded")) return kUsage;
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
