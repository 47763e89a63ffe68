// PgApplierImpl (pg_applier_impl.h): holds.
//
// Operator holds (`handoff pause`, HoldWatch). The running writer checks them
// before each entry where no source transaction is open: on a whole-target
// hold it commits what it consumed (position: the entry before) and waits
// until the hold is gone; the next session starts from handoff_applied + 1.
//
// Route holds. A held route R is left behind while the target's other routes
// go on. At R's first change S the writer starts skipping R's changes and
// records R's catch-up point, S - 1, as a second handoff_applied row (journal
// id "<journal id>/route:<R's from>") in the same target transaction as the
// data around it: R's changes up to the row's seq are applied, those after it
// up to the main position are not. The row never moves while R is held. Once
// the hold is gone the writer, at the next point where no source transaction
// is open, commits what it consumed and catches R up: it reads the journal
// from the row's seq + 1 to the main position, applies only R's changes, and
// moves the row with each commit of that data; the commit that reaches the
// main position deletes the row. Only then does it read on, so R's changes
// keep their order. Every step commits the row with the data it covers, so a
// restart (at any point: the rows are read back with the position) neither
// loses nor repeats a change. A source transaction that touched R and other
// routes is applied in two parts then; that is what pausing a route means.
// While a route is behind, the journal keeps everything from its catch-up
// point (the applied seq published for retention and lag is the lower one).
// Replays and retries of parked entries ignore holds (they are operator
// actions themselves).
#include "pg_applier_impl.h"

namespace handoff::apply {

bool PgApplierImpl::TargetHeldHere() {
  if (!pausing() || !only_.empty() || !open_sources_.empty() || !truncates_.empty()) return false;
  holds_.Refresh();
  return holds_.target_hold() != nullptr;
}

Status PgApplierImpl::StopForHold(const OperatorHold& hold, bool commit) {
  held_by_ = hold;
  if (commit && (last_seq_ > committed_seq_ || !chunk_.empty())) HANDOFF_RETURN_IF_ERROR(Commit());
  return Status::Unavailable("held: " + apply::HoldWatch::Describe(hold));
}

bool PgApplierImpl::RouteSkipped(uint64_t seq, const RouteConfig& route) {
  if (!pausing() || !only_.empty() || catching_up_) return false;
  if (behind_.empty() && !holds_.any_route_held()) return false;
  const std::string from = apply::RouteFrom(route);
  if (behind_.count(from)) return true;
  const OperatorHold* h = holds_.route_hold(from);
  if (h == nullptr) return false;
  behind_[from] = seq - 1;
  LogInfo("apply", "target {}: {}; its changes from seq {} on wait, the other routes go on", opts_.target.name,
          apply::HoldWatch::Describe(*h, true), seq);
  return true;
}

void PgApplierImpl::NoteRouteHolds() {
  if (!pausing() || !only_.empty() || pauses_.paused()) return;
  holds_.Refresh();
  std::string reason;
  for (const OperatorHold& h : holds_.route_holds())
    reason += (reason.empty() ? "" : "; ") + apply::HoldWatch::Describe(h, true);
  if (!reason.empty()) reason += "; the other routes go on";
  counters_.health.Set(HealthState::kApplying, reason);
}

bool PgApplierImpl::RouteCatchUpDue() {
  if (behind_.empty() || !pausing() || !only_.empty() || !open_sources_.empty() || !truncates_.empty()) return false;
  holds_.Refresh();
  for (const auto& [from, seq] : behind_)
    if (holds_.route_hold(from) == nullptr) return true;
  return false;
}

Status PgApplierImpl::CatchUpRoutes() {
  if (last_seq_ > committed_seq_ || !chunk_.empty()) HANDOFF_RETURN_IF_ERROR(Commit());
  std::vector<std::string> due;
  for (const auto& [from, seq] : behind_)
    if (holds_.route_hold(from) == nullptr) due.push_back(from);
  for (const std::string& from : due) {
    if (stopping()) break;
    HANDOFF_RETURN_IF_ERROR(CatchUp(from));
  }
  return Status::OK();
}

// REQUIRES: nothing consumed is uncommitted (last_seq_ == committed_seq_).
// The main position stays where it is; only the route's row moves.
Status PgApplierImpl::CatchUp(const std::string& from) {
  const std::string& name = opts_.target.name;
  const uint64_t end = committed_seq_;
  uint64_t next = behind_[from] + 1;
  LogInfo("apply", "target {}: route {} resumed; catching up its changes from seq {} through seq {}", name, from,
          next, end);
  catching_up_ = true;
  std::set<std::string> open;  // source transactions open at the catch-up's cursor
  std::vector<JournalEntry> entries;
  while (next <= end && !stopping()) {
    entries.clear();
    HANDOFF_RETURN_IF_ERROR(opts_.journal->Read(next, kReadBatch, &entries));
    if (entries.empty() || entries.front().seq != next)
      return Status::Permanent(fmt::format("route {} cannot catch up: the journal no longer has seq {}", from, next));
    for (JournalEntry& e : entries) {
      if (e.seq > end || stopping()) break;
      next = e.seq + 1;
      ChangeEvent& ev = e.event;
      if (ev.op == Op::kCommit) {
        open.erase(ev.source);
      } else if (ev.op != Op::kMessage) {
        auto it = routes_.find({ev.source, ev.schema, ev.table});
        if (it != routes_.end() && apply::RouteFrom(it->second) == from) {
          if (IsTransactional(ev)) open.insert(ev.source);
          // A member of a multi-table truncate goes on its own: the other
          // tables' members were applied when the route was held.
          if (ev.op == Op::kSchema) {
            HANDOFF_RETURN_IF_ERROR(FollowSchema(e.seq, false, it->second, ev));
            if (route_parked_) {  // still lacking its new column: behind from here again
              route_parked_ = false;
              catching_up_ = false;
              HANDOFF_RETURN_IF_ERROR(Commit());
              LogInfo("apply", "target {}: route {} held again at seq {}", name, from, e.seq);
              return Status::OK();
            }
          } else {
            HANDOFF_RETURN_IF_ERROR(AddChange(e.seq, false, it->second, std::move(ev)));
          }
        }
      }
      behind_[from] = e.seq;
      if (!open.empty()) continue;
      if (txn_rows_ + chunk_.size() >= opts_.target.batch_rows) {
        HANDOFF_RETURN_IF_ERROR(Commit());
        holds_.Refresh();
        if (holds_.route_hold(from) != nullptr) {  // held again: it stays behind from here
          catching_up_ = false;
          LogInfo("apply", "target {}: route {} held again at seq {}", name, from, e.seq);
          return Status::OK();
        }
      }
    }
  }
  if (stopping()) return Status::OK();  // Run() rolls back; the row says where to go on
  // Through the main position: the route is whole again; its row goes with the last of its data.
  behind_.erase(from);
  HANDOFF_RETURN_IF_ERROR(Commit());
  catching_up_ = false;
  LogInfo("apply", "target {}: route {} caught up through seq {}", name, from, end);
  return Status::OK();
}

uint64_t PgApplierImpl::AppliedFloor() const {
  uint64_t floor = db_applied_;
  for (const auto& [from, seq] : behind_committed_) floor = std::min(floor, seq);
  return floor;
}

}  // namespace handoff::apply
