// Decide: ownership, conflict detection and resolution for one change.
// See decide.h for the rules; this file keeps them in one pass over the
// changed fields, building the next state, the propagation, the corrections
// and the audit/exception records together so they cannot disagree.
#include "handoff/conflict/decide.h"

#include <cinttypes>
#include <cstdio>

#include "handoff/conflict/decimal_text.h"
#include "handoff/engine/civil_date.h"

namespace handoff::conflict {
namespace {

std::string Quote(const std::optional<std::string>& v) {
  return v ? "\"" + *v + "\"" : "empty";
}

// Source commit time as a UTC instant, for reasons ("2026-11-30T17:00:00Z").
std::string Instant(int64_t us) {
  int64_t secs = us >= 0 ? us / 1000000 : -((-us + 999999) / 1000000);
  int64_t days = secs >= 0 ? secs / 86400 : -((-secs + 86399) / 86400);
  int64_t rem = secs - days * 86400;
  const CivilDate date = CivilFromDays(days);
  char buf[64];
  std::snprintf(buf, sizeof buf, "%04" PRId64 "-%02u-%02uT%02" PRId64 ":%02" PRId64 ":%02" PRId64 "Z", date.year,
                date.month, date.day, rem / 3600, rem / 60 % 60, rem % 60);
  return buf;
}

std::string Owners(const std::vector<std::string>& owners) {
  std::string s;
  for (size_t i = 0; i < owners.size(); ++i) s += (i ? (i + 1 == owners.size() ? " or " : ", ") : "") + owners[i];
  return s.empty() ? "any system" : s;
}

// True when the incoming change's version is later than `p` (commit time,
// then the system name sorting first, then journal seq).
bool Newer(const EntityChange& in, const FieldProvenance& p) {
  if (in.commit_time_us != p.source_time_us) return in.commit_time_us > p.source_time_us;
  if (in.system != p.system) return in.system < p.system;
  return in.seq > p.seq;
}

class Decider {
 public:
  Decider(const EntityRules* rules, const EntityState& current, const EntityChange& in)
      : rules_(rules), cur_(current), in_(in) {
    d_.state = current;
    if (d_.state.entity.empty()) d_.state.entity = in.entity;
    if (d_.state.key.empty()) d_.state.key = in.key;
  }

  Decision Run() {
    if (rules_ == nullptr) {
      ParkWhole(NamedCase::kNone, "there are no ownership rules for " + in_.entity +
                                      "; the change from " + in_.system + " needs review");
      return std::move(d_);
    }
    Op op = in_.op == Op::kRead ? Op::kInsert : in_.op;
    if (op == Op::kDelete) {
      DecideDelete();
    } else if (op == Op::kInsert || op == Op::kUpdate) {
      DecideUpsert(op);
    } else {
      ParkWhole(NamedCase::kNone, "a " + in_.entity + " change from " + in_.system +
                                      " is not an insert, update or delete");
    }
    return std::move(d_);
  }

 private:
  FieldProvenance IncomingProvenance() const { return {in_.system, in_.commit_time_us, in_.seq}; }
  std::string Subject() const { return in_.entity + " " + in_.key; }

  void Audit(const std::string& field, Policy policy, FieldOutcome outcome, bool conflict,
             const std::optional<std::string>& current, const std::optional<std::string>& result,
             NamedCase nc, std::string reason) {
    AuditRecord a;
    a.entity = in_.entity;
    a.key = in_.key;
    a.system = in_.system;
    a.seq = in_.seq;
    a.field = field;
    if (!field.empty()) {
      auto b = in_.before.find(field);
      if (in_.has_before && b != in_.before.end()) a.before = b->second;
      auto af = in_.after.find(field);
      if (af != in_.after.end()) a.incoming = af->second;
    }
    a.current = current;
    a.result = result;
    a.policy = policy;
    a.outcome = outcome;
    a.conflict = conflict;
    a.named_case = nc;
    a.reason = std::move(reason);
    d_.audit.push_back(std::move(a));
  }

  void Park(const std::string& field, const std::optional<std::string>& incoming,
            const std::optional<std::string>& current, NamedCase nc, std::string reason) {
    d_.exceptions.push_back(
        {in_.entity, in_.key, in_.system, in_.seq, field, incoming, current, nc, std::move(reason)});
  }

  // The whole change goes to review (named cases with outcome park, no rules).
  void ParkWhole(NamedCase nc, std::string reason) {
    d_.named_case = nc;
    Audit("", Policy::kManual, FieldOutcome::kParked, false, std::nullopt, std::nullopt, nc, reason);
    Park("", std::nullopt, std::nullopt, nc, std::move(reason));
  }

  void IgnoreWhole(NamedCase nc, std::string reason) {
    d_.named_case = nc;
    Audit("", Policy::kOwnerWins, FieldOutcome::kIgnored, false, std::nullopt, std::nullopt, nc,
          std::move(reason));
  }

  // Applies a named case's outcome; true when the change should proceed.
  bool NamedCaseProceeds(NamedCase nc, const std::string& reason) {
    d_.named_case = nc;
    switch (rules_->OutcomeFor(nc)) {
      case CaseOutcome::kApply: return true;
      case CaseOutcome::kIgnore: IgnoreWhole(nc, reason + "; the change was not applied"); return false;
      case CaseOutcome::kPark: ParkWhole(nc, reason + "; the change needs review"); return false;
    }
    return false;
  }

  void MergeXrefs() {
    for (const Xref& x : in_.xrefs) {
      bool found = false;
      for (Xref& have : d_.state.xrefs) {
        if (have.system == x.system && have.object == x.object) {
          have.id = x.id;
          found = true;
        }
      }
      if (!found) d_.state.xrefs.push_back(x);
    }
  }

  void DecideDelete() {
    if (!cur_.exists || cur_.deleted) {
      NamedCaseProceeds(NamedCase::kDeleteMissing,
                        cur_.exists ? Subject() + " was already deleted when " + in_.system +
                                          " deleted it"
                                    : in_.system + " deleted " + Subject() +
                                          ", which handoff has never seen");
      return;
    }
    if (cur_.locked && rules_->lock && !FieldRule{rules_->lock->owners, {}, {}}.Owns(in_.system)) {
      LockedWhole("deleted");
      return;
    }
    const FieldRule& owner = rules_->default_rule;
    if (!owner.Owns(in_.system)) {
      std::string why = in_.entity + " records are owned by " + Owners(owner.owners) + "; " +
                        in_.system + " deleted " + Subject();
      if (owner.non_owner == NonOwnerAction::kPark) {
        Audit("", owner.policy, FieldOutcome::kParked, false, std::nullopt, std::nullopt,
              NamedCase::kNone, why + " and that needs review");
        Park("", std::nullopt, std::nullopt, NamedCase::kNone, why + " and that needs review");
      } else {
        Audit("", owner.policy, FieldOutcome::kIgnoredNotOwner, false, std::nullopt, std::nullopt,
              NamedCase::kNone, why + "; the record was kept and is restored there");
        for (const auto& [f, s] : cur_.fields) d_.corrections[f] = s.value;
      }
      return;
    }
    d_.state.deleted = true;
    d_.state.deleted_at_us = in_.commit_time_us;
    d_.state.deleted_by = IncomingProvenance();
    d_.action = EntityAction::kDelete;
  }

  void LockedWhole(const std::string& verb) {
    const LockRule& lock = *rules_->lock;
    std::string why = Subject() + " is locked (" + lock.field + " is " +
                      Quote(LockValue()) + "); " + in_.system + " " + verb + " it";
    d_.named_case = NamedCase::kLockedEdit;
    if (lock.non_owner == NonOwnerAction::kPark) {
      ParkWhole(NamedCase::kLockedEdit, why + " and that needs review");
    } else {
      IgnoreWhole(NamedCase::kLockedEdit, why + "; the change was not applied");
    }
  }

  std::optional<std::string> LockValue() const {
    auto it = cur_.fields.find(rules_->lock->field);
    return it == cur_.fields.end() ? std::nullopt : it->second.value;
  }

  void DecideUpsert(Op op) {
    bool all_fields = false;  // consider every field of after, not only before != after
    if (!cur_.exists) {
      if (op == Op::kUpdate &&
          !NamedCaseProceeds(NamedCase::kUpdateMissing,
                             in_.system + " updated " + Subject() + ", which handoff has never seen")) {
        return;
      }
      all_fields = true;
    } else if (cur_.deleted) {
      std::string what = in_.system + (op == Op::kInsert ? " inserted " : " updated ") + Subject() +
                         " after it was deleted";
      if (in_.commit_time_us < cur_.deleted_at_us) {
        d_.named_case = NamedCase::kUpdateAfterDelete;
        IgnoreWhole(NamedCase::kUpdateAfterDelete,
                    what + ", but the change is older than the delete (" +
                        Instant(cur_.deleted_at_us) + "); it was not applied");
        return;
      }
      if (!NamedCaseProceeds(NamedCase::kUpdateAfterDelete, what)) return;
      d_.state.deleted = false;
      d_.state.deleted_at_us = 0;
      d_.state.deleted_by = {};
      all_fields = true;
    } else if (op == Op::kInsert) {
      if (!NamedCaseProceeds(NamedCase::kInsertExists,
                             in_.system + " inserted " + Subject() + ", which already exists")) {
        return;
      }
      all_fields = true;
    }
    bool created = !cur_.exists || cur_.deleted;
    d_.state.exists = true;
    d_.fields.reserve(in_.after.size());
    for (const auto& [field, value] : in_.after) {
      if (!all_fields && in_.has_before) {
        auto b = in_.before.find(field);
        if (b != in_.before.end() && b->second == value) continue;  // not changed by the source
      }
      DecideField(field, value);
    }
    MergeXrefs();
    if (rules_->lock && !d_.state.locked) {
      auto it = d_.state.fields.find(rules_->lock->field);
      if (it != d_.state.fields.end() && rules_->MatchesLock(it->second.value)) d_.state.locked = true;
    }
    if (!d_.propagate.empty() || created) {
      d_.action = EntityAction::kUpsert;
    }
  }

  void Apply(const std::string& field, const std::optional<std::string>& value) {
    d_.state.fields.insert_or_assign(field, FieldState{value, IncomingProvenance()});
    // Fields come in name order: each lands at the end of propagate.
    d_.propagate.insert_or_assign(d_.propagate.end(), field, value);
  }

  void DecideField(const std::string& field, const std::optional<std::string>& incoming) {
    bool locked = cur_.locked && rules_->lock;
    std::optional<FieldRule> locked_rule;  // a copy only when the lock changes who owns it
    if (locked) {
      locked_rule = rules_->ForField(field);
      locked_rule->owners = rules_->lock->owners;
      locked_rule->non_owner = rules_->lock->non_owner;
    }
    const FieldRule& rule = locked_rule ? *locked_rule : rules_->ForField(field);
    auto cit = cur_.fields.find(field);
    const FieldState* cur = cit == cur_.fields.end() ? nullptr : &cit->second;
    static const std::optional<std::string> kNever;
    const std::optional<std::string>& cur_value = cur ? cur->value : kNever;
    FieldDecision fd{field, FieldOutcome::kApplied, rule.policy, false};

    if (!rule.Owns(in_.system)) {
      if (cur && cur->value == incoming) {
        fd.outcome = FieldOutcome::kUnchanged;
      } else if (locked) {
        d_.named_case = NamedCase::kLockedEdit;
        std::string why = Subject() + " is locked (" + rules_->lock->field + " is " +
                          Quote(LockValue()) + "); " + in_.system + " changed " + field + " from " +
                          Quote(cur_value) + " to " + Quote(incoming);
        fd.conflict = true;
        if (rule.non_owner == NonOwnerAction::kPark) {
          fd.outcome = FieldOutcome::kParked;
          Audit(field, rule.policy, fd.outcome, true, cur_value, cur_value, NamedCase::kLockedEdit,
                why + "; this needs review");
          Park(field, incoming, cur_value, NamedCase::kLockedEdit, why + "; this needs review");
        } else {
          fd.outcome = FieldOutcome::kIgnoredNotOwner;
          Audit(field, rule.policy, fd.outcome, true, cur_value, cur_value, NamedCase::kLockedEdit,
                why + "; the change was not applied");
          if (cur) d_.corrections[field] = cur_value;
        }
      } else {
        std::string why = field + " is owned by " + Owners(rule.owners) + "; the change from " +
                          in_.system + " (" + Quote(incoming) + ")";
        if (rule.non_owner == NonOwnerAction::kPark) {
          fd.outcome = FieldOutcome::kParked;
          why += " needs review before it can replace " + Quote(cur_value);
          Audit(field, rule.policy, fd.outcome, false, cur_value, cur_value, NamedCase::kNone, why);
          Park(field, incoming, cur_value, NamedCase::kNone, why);
        } else {
          fd.outcome = FieldOutcome::kIgnoredNotOwner;
          why += " was not applied; " + Quote(cur_value) + " stands";
          Audit(field, rule.policy, fd.outcome, false, cur_value, cur_value, NamedCase::kNone, why);
          if (cur) d_.corrections[field] = cur_value;
        }
      }
      d_.fields.push_back(fd);
      return;
    }

    if (cur == nullptr) {  // never set: nothing to conflict with
      Apply(field, incoming);
      d_.fields.push_back(fd);
      return;
    }
    bool newer = Newer(in_, cur->provenance);
    bool other = cur->provenance.system != in_.system;
    auto b = in_.before.find(field);
    bool has_b = in_.has_before && b != in_.before.end();
    bool conflict = other && (has_b ? b->second != cur->value
                                    : cur->provenance.source_time_us > in_.commit_time_us);
    if (rule.policy == Policy::kDelta) {  // additive: equal values may still carry an amount
      DecideDelta(field, incoming, *cur, has_b ? &b->second : nullptr, conflict, &fd);
      d_.fields.push_back(fd);
      return;
    }
    if (cur->value == incoming) {
      // Same value: nothing to write, but a later version advances the provenance
      // so that last-writer order does not depend on arrival order.
      if (newer) d_.state.fields[field].provenance = IncomingProvenance();
      fd.outcome = FieldOutcome::kUnchanged;
      d_.fields.push_back(fd);
      return;
    }
    const std::string& by = cur->provenance.system.empty() ? std::string("an earlier load")
                                                           : cur->provenance.system;
    std::string setby = by + " at " + Instant(cur->provenance.source_time_us);
    std::string change = in_.system + " changed " + field + " to " + Quote(incoming) + " at " +
                         Instant(in_.commit_time_us);

    auto keep = [&](bool is_conflict, const std::string& why) {
      fd.outcome = FieldOutcome::kKeptCurrent;
      fd.conflict = true;
      Audit(field, rule.policy, fd.outcome, is_conflict, cur_value, cur_value, NamedCase::kNone, why);
      d_.corrections[field] = cur_value;
    };
    auto apply = [&](const std::string& why) {
      Apply(field, incoming);
      fd.conflict = conflict;
      if (conflict) {
        Audit(field, rule.policy, FieldOutcome::kApplied, true, cur_value, incoming, NamedCase::kNone, why);
      }
    };
    auto stale_why = [&]() {
      return change + ", but " + Quote(cur_value) + " was set later (" + setby +
             "); the later value stands";
    };

    switch (rule.policy) {
      case Policy::kOwnerWins:
        if (!newer && rule.Owns(cur->provenance.system)) {
          keep(conflict, stale_why());
        } else {
          apply(change + " while " + Quote(cur_value) + " (set by " + setby + ") was held; " +
                in_.system + " owns " + field + " and its value stands");
        }
        break;
      case Policy::kLastWriterWins:
        if (newer) {
          apply(change + ", later than " + Quote(cur_value) + " (" + setby +
                "); the later change stands");
        } else {
          keep(true, stale_why());
        }
        break;
      case Policy::kFirstWriterWins:
        if (conflict) {
          keep(true, change + ", but " + Quote(cur_value) + " was set first (" + setby +
                         "); the first value stands");
        } else if (!newer && !other) {
          keep(true, stale_why());
        } else {
          apply("");
        }
        break;
      case Policy::kManual:
        if (conflict) {
          fd.outcome = FieldOutcome::kParked;
          fd.conflict = true;
          std::string why = change + " while " + Quote(cur_value) + " was set by " + setby +
                            "; which value is right needs review";
          Audit(field, rule.policy, fd.outcome, true, cur_value, cur_value, NamedCase::kNone, why);
          Park(field, incoming, cur_value, NamedCase::kNone, why);
        } else if (!newer && !other) {
          keep(true, stale_why());
        } else {
          apply("");
        }
        break;
      case Policy::kDelta:  // handled above
        break;
    }
    d_.fields.push_back(fd);
  }

  void DecideDelta(const std::string& field, const std::optional<std::string>& incoming,
                   const FieldState& cur, const std::optional<std::string>* before, bool conflict,
                   FieldDecision* fd) {
    auto park = [&](const std::string& why) {
      fd->outcome = FieldOutcome::kParked;
      Audit(field, Policy::kDelta, fd->outcome, conflict, cur.value, cur.value, NamedCase::kNone, why);
      Park(field, incoming, cur.value, NamedCase::kNone, why);
    };
    if (before == nullptr && incoming == cur.value) {
      fd->outcome = FieldOutcome::kUnchanged;
      return;
    }
    if (before == nullptr) {
      park(in_.system + " changed " + field + " to " + Quote(incoming) +
           " without saying what it was before, so the amount added cannot be merged with " +
           Quote(cur.value) + "; this needs review");
      return;
    }
    if (!conflict && *before == cur.value) {  // a plain sequential change
      Apply(field, incoming);
      return;
    }
    Result<std::string> delta = SubtractDecimalText(incoming.value_or("0"), before->value_or("0"));
    Result<std::string> sum =
        delta.ok() ? AddDecimalText(cur.value.value_or("0"), *delta) : Result<std::string>(delta.status());
    if (!sum.ok()) {
      park(field + " must be a number to be merged (" + sum.status().message() + "); this needs review");
      return;
    }
    fd->conflict = conflict;
    fd->outcome = FieldOutcome::kMerged;
    Apply(field, *sum);
    d_.corrections[field] = *sum;
    Audit(field, Policy::kDelta, fd->outcome, conflict, cur.value, *sum, NamedCase::kNone,
          in_.system + " changed " + field + " from " + Quote(*before) + " to " + Quote(incoming) +
              " while handoff held " + Quote(cur.value) + "; the difference " + *delta +
              " was added, giving " + Quote(*sum));
  }

  const EntityRules* rules_;
  const EntityState& cur_;
  const EntityChange& in_;
  Decision d_;
};

}  // namespace

Decision Decide(const OwnershipRules& rules, const EntityState& current, const EntityChange& incoming) {
  Decision d = Decider(rules.Find(incoming.entity), current, incoming).Run();
  for (const FieldDecision& f : d.fields) d.conflicts += f.conflict ? 1 : 0;
  return d;
}

}  // namespace handoff::conflict
