#include "flow_util.h"

#include <fmt/format.h>

#include <cstdio>
#include <ctime>

#include "handoff/engine/civil_date.h"

namespace handoff::flows {

std::string F(const EntityState& s, const std::string& field) {
  auto it = s.fields.find(field);
  return it != s.fields.end() && it->second.value ? *it->second.value : std::string();
}

// The exact value of `text`; "" (not set) is 0. Text that is no number is an
// error naming `what`, which the flow parks: a wrong amount never counts as 0.
Result<Decimal> Num(const std::string& text, const std::string& what) {
  if (text.empty()) return Decimal();
  auto d = Decimal::Parse(text);
  if (!d.ok()) return Status::InvalidArgument(what + ": " + d.status().message());
  return d;
}

// Field `field` of `s` as Num ("hours of time entry time_entry:psa:7").
Result<Decimal> Num(const EntityState& s, const std::string& field) {
  return Num(F(s, field), field + " of " + HumanEntity(s.entity) + " " + s.key);
}

Decimal Cents(const Decimal& d) {
  auto r = d.Rescale(2, Decimal::Rounding::kHalfAwayFromZero);
  return r.ok() ? *r : d;
}

std::string Money(const Decimal& d) { return Cents(d).ToString(); }

std::string Join(const std::vector<std::string>& parts) {
  std::string out;
  for (const auto& p : parts) out += (out.empty() ? "" : "; ") + p;
  return out;
}

bool PeriodDays(const std::string& period, std::string* first, std::string* last) {
  int y = 0, m = 0;
  char tail = 0;
  if (period.size() != 7 || std::sscanf(period.c_str(), "%4d-%2d%c", &y, &m, &tail) != 2 || m < 1 || m > 12 ||
      y < 1900)
    return false;
  const unsigned days = DaysInMonth(y, static_cast<unsigned>(m));
  *first = fmt::format("{:04}-{:02}-01", y, m);
  *last = fmt::format("{:04}-{:02}-{:02}", y, m, days);
  return true;
}

bool InPeriod(const std::string& date, const std::string& first, const std::string& last) {
  return !date.empty() && date >= first && date <= last;  // ISO dates compare as text
}

std::string XrefId(const EntityState& s, const std::string& system) {
  for (const Xref& x : s.xrefs)
    if (x.system == system) return x.id;
  return {};
}

std::string Upper(std::string s) {
  for (char& c : s)
    if (c >= 'a' && c <= 'z') c = static_cast<char>(c - 'a' + 'A');
  return s;
}

std::string RefEntity(const schemas::Model& model, const std::string& entity, const std::string& field) {
  const schemas::EntityDef* e = model.FindEntity(entity);
  const schemas::FieldDef* f = e ? e->Find(field) : nullptr;
  return f != nullptr && f->type == schemas::FieldType::kRef ? f->ref_entity : std::string();
}

std::string InstantText(int64_t us) {
  std::time_t secs = static_cast<std::time_t>(us / 1000000);
  std::tm tm{};
  gmtime_r(&secs, &tm);
  return fmt::format("{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:06}Z", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
                     tm.tm_hour, tm.tm_min, tm.tm_sec, us % 1000000);
}
Status Upsert(CanonicalPass* pass, const std::string& entity, const std::string& key, const FieldMap& fields,
                     const std::string& system, const std::string& why, bool* changed_any) {
  auto loaded = pass->Load(key);
  HANDOFF_RETURN_IF_ERROR(loaded.status());
  EntityState s;
  if (loaded->has_value()) {
    s = std::move(**loaded);
  } else {
    s.entity = entity;
    s.key = key;
  }
  bool created = !s.live();
  s.exists = true;
  s.deleted = false;
  FieldMap changed;
  for (const auto& [f, v] : fields) {
    auto it = s.fields.find(f);
    if (!created && it != s.fields.end() && it->second.value == v) continue;
    conflict::FieldState fs;
    fs.value = v;
    fs.provenance = conflict::FieldProvenance{system, pass->entry().event.commit_time_us, pass->entry().seq};
    s.fields[f] = fs;
    changed[f] = v;
  }
  if (changed_any) *changed_any = !changed.empty();
  if (changed.empty()) return Status::OK();
  pass->Store(s);
  pass->Trace("flow", s, system, why);
  for (const std::string& target : pass->model().TargetSystems(entity)) pass->Emit(s, changed, target, Op::kUpdate, system);
  return Status::OK();
}

}  // namespace handoff::flows
