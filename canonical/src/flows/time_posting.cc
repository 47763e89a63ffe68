// Time posting: an approved time entry is checked (task active, project open,
// budget) and posted to the ERP labor ledger at its effective-dated rate.
#include <fmt/format.h>

#include "flow_util.h"
#include "handoff/canonical/store_keys.h"
#include "handoff/engine/log.h"

namespace handoff {

using namespace flows;

Status CanonicalPass::PostTime(const EntityChange& change, conflict::Decision* d, std::set<std::string>* suppress) {
  EntityState& s = d->state;
  if (!s.live() || F(s, "status") != flows()->time_posting->status || !F(s, "posted_at").empty()) return Status::OK();
  std::vector<std::string> problems, waits;
  auto task = Load(F(s, "task"));
  HANDOFF_RETURN_IF_ERROR(task.status());
  if (task->has_value() && F(**task, "active") != "true")
    problems.push_back("task " + F(**task, "code") + " is inactive");
  auto project = Load(F(s, "project"));
  HANDOFF_RETURN_IF_ERROR(project.status());
  std::optional<EntityState> eng;
  std::string code = F(s, "project");
  if (!project->has_value() || !(*project)->live()) {
    problems.push_back("project " + code + " is not known");
    waits.push_back(F(s, "project"));
  } else {
    code = F(**project, "code");
    if (F(**project, "status") != "open") problems.push_back("project " + code + " is " + F(**project, "status"));
    auto e = Load(F(**project, "engagement"));
    HANDOFF_RETURN_IF_ERROR(e.status());
    if (e->has_value()) eng = **e;
  }
  auto consultant = Load(F(s, "consultant"));
  HANDOFF_RETURN_IF_ERROR(consultant.status());
  std::string role, cost_center, email;
  if (consultant->has_value()) {
    role = F(**consultant, "role");
    cost_center = F(**consultant, "cost_center");
    email = F(**consultant, "email");
  }
  const auto hours = Num(s, "hours");
  const std::string hours_key = canonical_key::Flow("hours", F(s, "project"));
  const auto used = Num(Meta(hours_key).value_or("0"), "hours approved so far on project " + code);
  const std::string hours_text = hours.ok() ? hours->ToString() : F(s, "hours");
  for (const Status& st : {hours.status(), used.status()})
    if (!st.ok()) problems.push_back(st.message());
  if (eng && !F(*eng, "budget_hours").empty() && hours.ok() && used.ok()) {
    auto budget = Num(*eng, "budget_hours");
    if (!budget.ok())
      problems.push_back(budget.status().message());
    else if (used->Add(*hours).Compare(*budget) > 0)
      problems.push_back(fmt::format("project {} would exceed its budget of {} hours ({} approved so far + {})", code,
                                     budget->ToString(), used->ToString(), hours_text));
  }
  // Effective-dated rate: the engagement's rate card, the consultant's role, the work date.
  const std::string card = eng ? F(*eng, "rate_card") : "", day = F(s, "work_date");
  std::optional<EntityState> rate;
  HANDOFF_RETURN_IF_ERROR(Scan("rate_card", [&](const EntityState& r) {
    if (F(r, "code") != card || F(r, "role") != role) return;
    if (F(r, "effective_from") > day || (!F(r, "effective_to").empty() && F(r, "effective_to") < day)) return;
    if (!rate || F(r, "effective_from") > F(*rate, "effective_from")) rate = r;
  }));
  if (!rate) {
    if (!card.empty()) waits.push_back(canonical_key::LookupValue("rate_card", "code", card));
    problems.push_back(card.empty() ? "project " + code + " has no rate card"
                                    : fmt::format("rate card '{}' has no rate for role '{}' on {}", card,
                                                  role.empty() ? "(none)" : role, day));
  }
  if (!problems.empty()) {
    suppress->insert("erp");
    Park("flow",
         fmt::format("approved time entry {} ({}, {}, {} h on {}) was not posted: {}", s.key, email, day,
                     hours_text, code, Join(problems)),
         s.entity, s.key, change.system, waits);
    return Status::OK();
  }
  auto posted = model().ToCanonical("time_entry", "posted_at", InstantText(change.commit_time_us ? change.commit_time_us
                                                                                                 : entry().event.commit_time_us)
                                                                  .substr(0, 26) + "+00");
  FieldMap posting{{"rate", F(*rate, "rate")},
                   {"currency", F(*rate, "currency")},
                   {"cost_center", cost_center},
                   {"posted_at", posted.ok() ? *posted : InstantText(change.commit_time_us)}};
  for (const auto& [f, v] : posting) {
    conflict::FieldState fs;
    fs.value = v;
    fs.provenance = conflict::FieldProvenance{"erp", change.commit_time_us, change.seq};
    s.fields[f] = fs;
    d->propagate[f] = v;
  }
  d->propagate["status"] = F(s, "status");
  if (d->action == conflict::EntityAction::kNone) d->action = conflict::EntityAction::kUpsert;
  PutMeta(hours_key, used->Add(*hours).ToString());
  Trace("flow", s, "erp",
        fmt::format("posted {} h of {} on {} at {} {} (rate card {}, role {}, cost center {})", hours_text, email,
                    day, F(*rate, "rate"), F(*rate, "currency"), card, role, cost_center));
  return Status::OK();
}

}  // namespace handoff
