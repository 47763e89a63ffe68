// PauseRecorder: the writer's side of a target pause (handoff/apply/target_pause.h).
// It keeps the pause's one exception record and meta "pause:<target>" up to
// date, counts the changes held, takes `handoff resume` requests and writes
// one log line per change of state: paused, cause changed, resumed.
//
// Journal write failures are logged and otherwise ignored: the pause itself
// lives in the writer, and the next update writes the whole record again.
//
// Thread-safety: not thread-safe; owned by the apply thread.
#pragma once

#include <cstdint>
#include <functional>
#include <string>

#include "handoff/apply/pg_applier.h"  // ApplyCounters
#include "handoff/apply/target_pause.h"
#include "handoff/engine/journal.h"

namespace handoff::apply {

// What stopped the writer: the change it could not apply and why.
struct HoldCause {
  uint64_t seq = 0;
  bool boundary = false;   // no source transaction was open before it: seq - 1 may be committed
  std::string table, code, message;
  std::string change;      // "the insert of public.t key (id)=(1) (source s at 0/16B3F28)"
  std::string new_image;   // JSON of the change's new image, when it has one
};

class PauseRecorder {
 public:
  // `routed` tells whether a journal event is for this target (held-count).
  PauseRecorder(Journal* journal, std::string target, ApplyCounters* counters,
                std::function<bool(const ChangeEvent&)> routed)
      : journal_(journal), target_(std::move(target)), counters_(counters), routed_(std::move(routed)) {}

  // Picks up a pause recorded before a restart; drops a stale resume request.
  void Load();
  bool paused() const { return paused_; }
  // The seq of the change the pause began on.
  uint64_t seq() const { return pause_.seq; }

  // An attempt ended on `cause`; nothing from `held_from` on is applied.
  // Opens the pause, or records the attempt (and a new cause) on the open one.
  void Hold(const HoldCause& cause, uint64_t held_from);
  // An attempt while paused failed for another (transient) reason.
  void Tried();
  // Recounts the changes held (reads only what was journaled since the last count).
  void CountHeld();
  // The target committed past the failed change: closes the record.
  void Resumed(const std::string& actor);
  // Takes a pending `handoff resume` request; its actor goes to *actor.
  bool TakeResumeRequest(std::string* actor);

 private:
  void Write();
  // The pause's one exception record as it stands, in `state`.
  ExceptionRecord Record(ExceptionState state) const;
  std::string Reason() const;

  Journal* journal_;
  const std::string target_;
  ApplyCounters* counters_;
  std::function<bool(const ChangeEvent&)> routed_;
  bool paused_ = false;
  TargetPause pause_;
  HoldCause cause_;
  int64_t created_us_ = 0;
  uint64_t scan_next_ = 0;  // next journal seq CountHeld reads
};

}  // namespace handoff::apply
