#include "pause_recorder.h"

#include <fmt/format.h>

#include <vector>

#include "handoff/engine/clock.h"
#include "handoff/engine/log.h"

namespace handoff::apply {
namespace {

constexpr size_t kCountBatch = 2000;  // journal entries per read while counting

}  // namespace

void PauseRecorder::Load() {
  (void)journal_->DeleteMeta(TargetResumeKey(target_));
  auto p = ReadTargetPause(journal_, target_);
  if (!p.ok() || !p->has_value()) return;
  pause_ = **p;
  auto rec = journal_->GetException(target_, pause_.seq);
  if (!rec.ok() || !rec->has_value() || (*rec)->state != ExceptionState::kOpen || (*rec)->code != kTargetPausedCode) {
    (void)journal_->DeleteMeta(TargetPauseKey(target_));  // closed meanwhile: nothing to pick up
    return;
  }
  paused_ = true;
  created_us_ = (*rec)->created_us;
  cause_.seq = pause_.failed_seq;
  cause_.table = pause_.table;
  cause_.code = pause_.code;
  cause_.message = pause_.message;
  cause_.new_image = (*rec)->new_image;
  scan_next_ = pause_.held_from;
  pause_.held = 0;
  counters_->paused.store(1);
  counters_->health.Set(HealthState::kPaused, Reason());
  LogInfo("apply", "target {}: still paused since before the restart ([{}] {}); retrying", target_, pause_.code,
          pause_.table);
}

std::string PauseRecorder::Reason() const {
  return fmt::format(
      "target {} is paused: {} refused {} [{}]: {}; {} change(s) held from seq {}, none after seq {} applied or "
      "parked. It resumes by itself once a retry succeeds, or at once on `handoff resume --target {}`",
      target_, cause_.table, cause_.change.empty() ? "a change" : cause_.change, cause_.code, cause_.message,
      pause_.held, pause_.held_from, pause_.held_from > 0 ? pause_.held_from - 1 : 0, target_);
}

ExceptionRecord PauseRecorder::Record(ExceptionState state) const {
  ExceptionRecord r;
  r.target = target_;
  r.seq = pause_.seq;
  r.code = kTargetPausedCode;
  r.reason = Reason();
  r.new_image = cause_.new_image;
  r.state = state;
  r.created_us = created_us_;
  r.updated_us = NowMicros();
  return r;
}

void PauseRecorder::Write() {
  ExceptionRecord r = Record(ExceptionState::kOpen);
  counters_->health.Set(HealthState::kPaused, r.reason);
  Status st = journal_->PutException(r);
  if (st.ok()) st = journal_->PutMeta(TargetPauseKey(target_), EncodeTargetPause(pause_));
  if (!st.ok()) LogWarn("apply", "target {}: cannot record the pause: {}", target_, st.message());
  counters_->held.store(pause_.held);
}

void PauseRecorder::Hold(const HoldCause& cause, uint64_t held_from) {
  const int64_t now = NowMicros();
  if (!paused_) {
    paused_ = true;
    pause_ = TargetPause{};
    pause_.target = target_;
    pause_.seq = cause.seq;
    pause_.held_from = held_from;
    pause_.since_us = created_us_ = now;
    cause_ = cause;
    scan_next_ = held_from;
  }
  const bool changed = cause.seq != cause_.seq || cause.code != cause_.code || cause.table != cause_.table ||
                       cause.message != cause_.message;
  const bool fresh = pause_.tries == 0;
  if (changed) cause_ = cause;
  if (cause_.change.empty()) cause_.change = cause.change;
  pause_.failed_seq = cause_.seq;
  pause_.table = cause_.table;
  pause_.code = cause_.code;
  pause_.message = cause_.message;
  pause_.last_try_us = now;
  ++pause_.tries;
  counters_->paused.store(1);
  CountHeld();
  Write();
  if (fresh) {
    LogError("apply", "target {}: paused at seq {}: {} refuses changes [{}]: {}; holding every later change until "
             "it takes them (retried with backoff, or `handoff resume --target {}`)",
             target_, cause_.seq, cause_.table, cause_.code, cause_.message, target_);
  } else if (changed) {
    LogError("apply", "target {}: still paused, now at seq {}: {} refuses changes [{}]: {}", target_, cause_.seq,
             cause_.table, cause_.code, cause_.message);
  }
}

void PauseRecorder::Tried() {
  if (!paused_) return;
  pause_.last_try_us = NowMicros();
  ++pause_.tries;
  Status st = journal_->PutMeta(TargetPauseKey(target_), EncodeTargetPause(pause_));
  if (!st.ok()) LogWarn("apply", "target {}: cannot record the pause: {}", target_, st.message());
}

void PauseRecorder::CountHeld() {
  if (!paused_) return;
  const uint64_t before = pause_.held;
  std::vector<JournalEntry> entries;
  while (true) {
    entries.clear();
    if (!journal_->Read(scan_next_, kCountBatch, &entries).ok() || entries.empty()) break;
    for (const JournalEntry& e : entries)
      if (e.event.op != Op::kCommit && e.event.op != Op::kMessage && e.event.op != Op::kSchema && routed_(e.event))
        ++pause_.held;
    scan_next_ = entries.back().seq + 1;
    if (entries.size() < kCountBatch) break;
  }
  if (pause_.held != before) Write();
}

void PauseRecorder::Resumed(const std::string& actor) {
  if (!paused_) return;
  CountHeld();
  paused_ = false;
  ExceptionRecord r = Record(ExceptionState::kRetried);
  r.actor = actor.empty() ? "handoff (a retry went through)" : actor;
  r.note = fmt::format("resumed after {} change(s) held", pause_.held);
  Status st = journal_->PutException(r);
  if (st.ok()) st = journal_->DeleteMeta(TargetPauseKey(target_));
  if (!st.ok()) LogWarn("apply", "target {}: cannot close the pause record: {}", target_, st.message());
  counters_->paused.store(0);
  counters_->held.store(0);
  counters_->health.Set(HealthState::kApplying);
  LogInfo("apply", "target {}: resumed at seq {} after {} change(s) held for {} s ({} attempt(s)); the record {}/{} "
          "is closed", target_, pause_.seq, pause_.held, (r.updated_us - pause_.since_us) / 1000000, pause_.tries,
          target_, pause_.seq);
}

bool PauseRecorder::TakeResumeRequest(std::string* actor) {
  auto v = journal_->GetMeta(TargetResumeKey(target_));
  if (!v.ok() || !v->has_value()) return false;
  *actor = **v;
  (void)journal_->DeleteMeta(TargetResumeKey(target_));
  return true;
}

}  // namespace handoff::apply
