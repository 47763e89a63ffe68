// Target pauses. A PostgreSQL target that refuses a change for a reason that
// is not about the change (IsTargetRefusal: a missing table, schema, column,
// function or privilege) refuses every later change the same way, and parking
// them all would bury the review queue under one cause. So its writer pauses:
// nothing from the first held change on is applied or parked, one exception
// record (code kTargetPausedCode, keyed by the seq of the change that failed)
// names the cause and counts the changes held, and meta "pause:<target>"
// carries the same for `handoff status`. A retry with exponential backoff, or
// at once `handoff resume` (meta "resume:<target>", taken by the running
// writer), resumes it: the first target commit past the failed change closes
// the record (state retried) and deletes the meta key. Held changes are then
// applied in journal order by the ordinary loop, under the same
// handoff_applied guarantee, so each arrives exactly once.
//
// Thread-safety: stateless functions; the journal is thread-safe.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "handoff/engine/journal.h"
#include "handoff/engine/status.h"

namespace handoff {

// Exception code of a pause record (handoff_exceptions_open{reason=...}).
inline constexpr const char* kTargetPausedCode = "target_paused";

// Whether `code` (a SQLSTATE, or the applier's own "no_primary_key") means the
// target refuses every change alike: 42P01, 3F000, 42501, 42703, 42883,
// 42704 and no_primary_key (see apply/src/sqlstate.h).
bool IsTargetRefusal(std::string_view code);

struct TargetPause {
  std::string target;
  uint64_t seq = 0;          // the change that failed first: the exception record's seq
  uint64_t held_from = 0;    // first journal seq not applied (the target's position + 1)
  uint64_t held = 0;         // changes routed to the target from held_from on
  uint64_t failed_seq = 0;   // the change the last attempt failed on
  std::string table;         // schema.table it was for
  std::string code;          // SQLSTATE (or no_primary_key)
  std::string message;       // the server's message
  int64_t since_us = 0;      // when the pause began
  int64_t last_try_us = 0;   // last attempt to resume
  uint64_t tries = 0;        // attempts so far, the first included
};

std::string EncodeTargetPause(const TargetPause& p);
bool DecodeTargetPause(std::string_view data, TargetPause* p);

// The pause of `target` as the running writer last recorded it; nullopt when
// it is not paused.
Result<std::optional<TargetPause>> ReadTargetPause(Journal* journal, const std::string& target);

// `handoff resume`: asks the running writer of `target` to retry now.
Status RequestTargetResume(Journal* journal, const std::string& target, const std::string& actor);
// Whether a resume request is still waiting for the writer.
bool TargetResumePending(Journal* journal, const std::string& target);

// Operator holds (`handoff pause`). A hold is one meta record, "hold:<target>"
// for the whole target or "hold:<target>:<from>" for one route (from: the
// route's source.schema.table); the running writer re-reads them at most every
// 200 ms (apply/src/hold_watch.h). A whole-target hold stops the writer at the
// next point where no source transaction is open, after committing what it
// has. A route hold makes a PostgreSQL writer skip that route's changes while
// the other routes go on, and catch the route up when the hold is gone
// (apply/src/pg_applier.cc, "Route holds"); an HTTP writer stops at the
// route's first change instead, so order across routes is kept. Removing the
// record (`handoff resume`) lets the writer go on under the same
// handoff_applied guarantee.
struct OperatorHold {
  std::string route;    // empty: the whole target
  std::string actor;    // who paused it
  std::string note;     // why
  int64_t since_us = 0;
};

std::string TargetHoldKey(const std::string& target, const std::string& route = {});
std::string EncodeOperatorHold(const OperatorHold& h);
bool DecodeOperatorHold(std::string_view data, OperatorHold* h);
// Records a hold (replacing one on the same target and route).
Status PutTargetHold(Journal* journal, const std::string& target, const OperatorHold& hold);
// Removes a hold; *existed says whether there was one.
Status ClearTargetHold(Journal* journal, const std::string& target, const std::string& route, bool* existed);
// Every hold of `target`, the whole-target one first.
Result<std::vector<OperatorHold>> ReadTargetHolds(Journal* journal, const std::string& target);

// Meta keys (the writer's side lives in apply/src/pause_recorder.cc).
std::string TargetPauseKey(const std::string& target);
std::string TargetResumeKey(const std::string& target);

}  // namespace handoff
