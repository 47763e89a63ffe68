// Time posting: an approved time entry is checked (task active, project open,
// budget) and posted to the ERP labor ledger at its effective-dated rate.
#include <fmt/format.h>

#include "flow_util.h"
#include "handoff/canonical/store_keys.h"
#include "handoff/engine/log.h"

namespace handoff {

using namespace flows;

Status CanonicalPass::PostTime(const EntityChange& change, conflict::Decision* d, std::set<std::string>* suppress) {
  const schemas::TimePostingFlow& tp = *flows()->time_posting;
  const schemas::TimePostingFlow::Entry& en = tp.entry;
  const schemas::TimePostingFlow::Posting& post = tp.posting;
  EntityState& s = d->state;
  if (!s.live() || F(s, en.status) != tp.status || !F(s, post.posted_at).empty()) return Status::OK();
  std::vector<std::string> problems, waits;
  if (!en.task.empty()) {
    auto task = Load(F(s, en.task));
    HANDOFF_RETURN_IF_ERROR(task.status());
    if (task->has_value() && F(**task, tp.task.active) != "true")
      problems.push_back(HumanEntity((*task)->entity) + " " + F(**task, tp.task.code) + " is inactive");
  }
  const std::string project_key = F(s, en.project);
  const std::string project_word = HumanEntity(RefEntity(model(), s.entity, en.project));
  auto project = Load(project_key);
  HANDOFF_RETURN_IF_ERROR(project.status());
  std::optional<EntityState> eng;
  std::string code = project_key;
  if (!project->has_value() || !(*project)->live()) {
    problems.push_back(project_word + " " + code + " is not known");
    waits.push_back(project_key);
  } else {
    code = F(**project, tp.project.code);
    const std::string status = F(**project, tp.project.status);
    if (status != tp.project.open) problems.push_back(project_word + " " + code + " is " + status);
    auto e = Load(F(**project, tp.project.deal));
    HANDOFF_RETURN_IF_ERROR(e.status());
    if (e->has_value()) eng = **e;
  }
  auto consultant = Load(F(s, en.consultant));
  HANDOFF_RETURN_IF_ERROR(consultant.status());
  std::string role, cost_center, email;
  if (consultant->has_value()) {
    role = F(**consultant, tp.consultant.role);
    cost_center = F(**consultant, tp.consultant.cost_center);
    email = F(**consultant, tp.consultant.email);
  }
  const auto hours = Num(s, en.hours);
  const std::string hours_key = canonical_key::Flow("hours", project_key);
  const auto used =
      Num(Meta(hours_key).value_or("0"), "hours " + HumanEntity(tp.status) + " so far on " + project_word + " " + code);
  const std::string hours_text = hours.ok() ? hours->ToString() : F(s, en.hours);
  for (const Status& st : {hours.status(), used.status()})
    if (!st.ok()) problems.push_back(st.message());
  if (eng && !F(*eng, tp.deal.budget_hours).empty() && hours.ok() && used.ok()) {
    auto budget = Num(*eng, tp.deal.budget_hours);
    if (!budget.ok())
      problems.push_back(budget.status().message());
    else if (used->Add(*hours).Compare(*budget) > 0)
      problems.push_back(fmt::format("{} {} would exceed its budget of {} hours ({} {} so far + {})", project_word,
                                     code, budget->ToString(), used->ToString(), HumanEntity(tp.status), hours_text));
  }
  // Effective-dated rate: the deal's rate card, the consultant's role, the work date.
  const schemas::TimePostingFlow::Rate& rc = tp.rate_card;
  const std::string card_word = HumanEntity(rc.lookup.entity);
  const std::string card = eng ? F(*eng, tp.deal.rate_card) : "", day = F(s, en.work_date);
  std::optional<EntityState> rate;
  HANDOFF_RETURN_IF_ERROR(Scan(rc.lookup.entity, [&](const EntityState& r) {
    if (F(r, rc.lookup.field) != card || F(r, rc.role) != role) return;
    if (F(r, rc.from) > day || (!rc.to.empty() && !F(r, rc.to).empty() && F(r, rc.to) < day)) return;
    if (!rate || F(r, rc.from) > F(*rate, rc.from)) rate = r;
  }));
  if (!rate) {
    if (!card.empty()) waits.push_back(canonical_key::LookupValue(rc.lookup.entity, rc.lookup.field, card));
    problems.push_back(card.empty() ? project_word + " " + code + " has no " + card_word
                                    : fmt::format("{} '{}' has no rate for {} '{}' on {}", card_word, card,
                                                  HumanEntity(rc.role), role.empty() ? "(none)" : role, day));
  }
  if (!problems.empty()) {
    suppress->insert(post.system);
    Park("flow",
         fmt::format("{} {} {} ({}, {}, {} h on {}) was not posted: {}", HumanEntity(tp.status), HumanEntity(s.entity),
                     s.key, email, day, hours_text, code, Join(problems)),
         s.entity, s.key, change.system, waits);
    return Status::OK();
  }
  auto posted = model().ToCanonical(s.entity, post.posted_at,
                                    InstantText(change.commit_time_us ? change.commit_time_us
                                                                      : entry().event.commit_time_us)
                                            .substr(0, 26) +
                                        "+00");
  FieldMap posting{{post.rate, F(*rate, rc.rate)},
                   {post.currency, F(*rate, rc.currency)},
                   {post.cost_center, cost_center},
                   {post.posted_at, posted.ok() ? *posted : InstantText(change.commit_time_us)}};
  for (const auto& [f, v] : posting) {
    conflict::FieldState fs;
    fs.value = v;
    fs.provenance = conflict::FieldProvenance{post.system, change.commit_time_us, change.seq};
    s.fields[f] = fs;
    d->propagate[f] = v;
  }
  d->propagate[en.status] = F(s, en.status);
  if (d->action == conflict::EntityAction::kNone) d->action = conflict::EntityAction::kUpsert;
  PutMeta(hours_key, used->Add(*hours).ToString());
  Trace("flow", s, post.system,
        fmt::format("posted {} h of {} on {} at {} {} ({} {}, {} {}, {} {})", hours_text, email, day,
                    F(*rate, rc.rate), F(*rate, rc.currency), card_word, card, HumanEntity(rc.role), role,
                    HumanEntity(tp.consultant.cost_center), cost_center));
  return Status::OK();
}

}  // namespace handoff
