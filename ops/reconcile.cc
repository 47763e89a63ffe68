#include "reconcile.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <deque>
#include <set>
#include <unordered_map>

#include <fmt/format.h>

#include "handoff/engine/clock.h"
#include "handoff/engine/decimal.h"
#include "handoff/engine/json_text.h"
#include "handoff/pg/pg_connection.h"

namespace handoff {
namespace {

using schemas::Expr;
using schemas::Model;
using schemas::SourceMapping;

// Rows fetched from a cursor at a time: memory stays bounded per table.
constexpr int kFetchRows = 5000;
// Passes over rows whose lookups named rows not read yet.
constexpr int kMaxPasses = 4;

// One canonical entity as the systems hold it now.
struct Known {
  std::string entity, key;
  std::map<std::string, FieldMap> by_system;        // system -> canonical fields read there
  std::map<std::string, std::string> row;           // system -> "system:table:id"
  std::map<std::string, std::vector<Column>> raw;   // system -> the row as read (posting table only)
  std::vector<Xref> xrefs;
};

struct XrefKey {
  std::string system, object, id;
  bool operator<(const XrefKey& o) const {
    return std::tie(system, object, id) < std::tie(o.system, o.object, o.id);
  }
};

struct Money {
  std::map<std::string, Decimal> by_currency;
  void Add(const std::string& currency, const Decimal& d) {
    Decimal& m = by_currency[currency];
    m = m.Add(d);
  }
  std::map<std::string, std::string> Text() const {
    std::map<std::string, std::string> out;
    for (const auto& [c, d] : by_currency) {
      auto r = d.Rescale(std::max(d.scale(), 2), Decimal::Rounding::kExact);
      out[c.empty() ? "?" : c] = r.ok() ? r->ToString() : d.ToString();
    }
    return out;
  }
};

Decimal Cents(const Decimal& d) {
  auto r = d.Rescale(2, Decimal::Rounding::kHalfAwayFromZero);
  return r.ok() ? *r : d;
}

std::string Text(const Decimal& d) { return Cents(d).ToString(); }

std::optional<Decimal> Dec(const std::string& text) {
  if (text.empty()) return std::nullopt;
  auto d = Decimal::Parse(text);
  if (!d.ok()) return std::nullopt;
  return *d;
}

bool PeriodDays(const std::string& period, std::string* first, std::string* last) {
  int y = 0, m = 0;
  char tail = 0;
  if (period.size() != 7 || period[4] != '-' || std::sscanf(period.c_str(), "%4d-%2d%c", &y, &m, &tail) != 2 ||
      m < 1 || m > 12 || y < 1900)
    return false;
  using namespace std::chrono;
  const year_month_day_last end{year{y} / month{static_cast<unsigned>(m)} / std::chrono::last};
  *first = fmt::format("{:04}-{:02}-01", y, m);
  *last = fmt::format("{:04}-{:02}-{:02}", y, m, static_cast<unsigned>(end.day()));
  return true;
}

bool InPeriod(const std::string& date, const std::string& first, const std::string& last) {
  // Dates and timestamps in ISO form compare as text on their first ten characters.
  if (date.size() < 10) return false;
  const std::string day = date.substr(0, 10);
  return day >= first && day <= last;
}

// The column of a target mapping that writes canonical field `field` as it is.
std::string ColumnOf(const schemas::TargetMapping* tm, const std::string& field) {
  if (tm == nullptr) return {};
  for (const auto& [column, expr] : tm->columns)
    if (expr.kind == Expr::Kind::kInput && expr.name == field) return column;
  return {};
}

// The column of a target mapping computed as a product (the posted amount).
std::string ProductColumn(const schemas::TargetMapping* tm) {
  if (tm == nullptr) return {};
  for (const auto& [column, expr] : tm->columns)
    if (expr.kind == Expr::Kind::kMultiply) return column;
  return {};
}

const Column* RawColumn(const std::vector<Column>& row, const std::string& name) {
  if (name.empty()) return nullptr;
  for (const Column& c : row)
    if (c.name == name) return &c;
  return nullptr;
}

class Reconciler {
 public:
  explicit Reconciler(const ReconcileOptions& o) : o_(o), model_(*o.model) {}

  Result<ReconcileReport> Run() {
    if (!PeriodDays(o_.period, &first_, &last_))
      return Status::InvalidArgument("--period '" + o_.period + "' is not YYYY-MM (for example 2026-10)");
    if (o_.flows == nullptr || (!o_.flows->time_posting && !o_.flows->billing && !o_.flows->closed_won))
      return Status::InvalidArgument(
          "reconcile checks the flows: the configuration's canonical section names no flows file with "
          "time_posting, billing or closed_won");
    report_.period = o_.period;
    report_.first_day = first_;
    report_.last_day = last_;
    report_.read_at_us = NowMicros();
    NoteLag();
    HANDOFF_RETURN_IF_ERROR(ReadSystems());
    HANDOFF_RETURN_IF_ERROR(ReadExceptions());
    if (o_.flows->time_posting) CheckTimePosting();
    if (o_.flows->time_posting && o_.flows->billing) CheckBilling();
    if (o_.flows->billing) CheckInvoiceTotals();
    if (o_.flows->closed_won) CheckClosedWon();
    return std::move(report_);
  }

 private:
  // ---- reading ----

  struct Pending {
    std::string system;
    ChangeEvent event;
    std::string error;
  };

  Result<PgConnection> Connect(const std::string& system) {
    const ConnParams* dsn = nullptr;
    if (const SourceConfig* s = o_.config->FindSource(system); s != nullptr && s->postgres() != nullptr)
      dsn = &s->postgres()->dsn;
    else if (const TargetConfig* t = o_.config->FindTarget(system); t != nullptr && t->postgres() != nullptr)
      dsn = &t->postgres()->dsn;
    if (dsn == nullptr) return Status::NotFound("");
    PgConnectOptions co;
    co.application_name = "handoff reconcile";
    auto c = PgConnection::Open(*dsn, co);
    if (!c.ok()) return Status(c.status().code(), "system " + system + ": " + c.status().message());
    HANDOFF_RETURN_IF_ERROR(
        c->Exec("SET TimeZone = 'UTC'; SET DateStyle = 'ISO, YMD'; SET extra_float_digits = 3; "
                "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY"));
    return c;
  }

  Status ReadSystems() {
    std::map<std::string, std::vector<const SourceMapping*>> by_system;
    for (const auto& [id, m] : model_.sources()) by_system[m.system].push_back(&m);
    std::deque<Pending> pending;
    for (const auto& [system, mappings] : by_system) {
      auto conn = Connect(system);
      if (!conn.ok()) {
        if (conn.status().code() == StatusCode::kNotFound && conn.status().message().empty()) {
          report_.notes.push_back("system " + system +
                                  " is neither a PostgreSQL source nor a PostgreSQL target of the configuration: "
                                  "its tables were not read");
          continue;
        }
        return conn.status();
      }
      report_.systems.push_back(system);
      for (const SourceMapping* m : mappings) HANDOFF_RETURN_IF_ERROR(ReadTable(&*conn, *m, &pending));
      (void)conn->Exec("COMMIT");
    }
    // Rows whose lookups named rows of tables read later: again, until no pass helps.
    for (int pass = 0; pass < kMaxPasses && !pending.empty(); ++pass) {
      const size_t before = pending.size();
      std::deque<Pending> again;
      for (Pending& p : pending) Map(p.system, std::move(p.event), &again);
      pending = std::move(again);
      if (pending.size() == before) break;
    }
    std::map<std::string, uint64_t> unmapped;
    std::map<std::string, std::string> example;
    for (const Pending& p : pending) {
      const std::string where = p.system + "." + p.event.schema + "." + p.event.table;
      if (unmapped[where]++ == 0) example[where] = p.error;
    }
    for (const auto& [where, n] : unmapped)
      report_.notes.push_back(fmt::format("{}: {} row(s) could not be mapped and were left out, e.g. {}", where, n,
                                          example[where]));
    return Status::OK();
  }

  Status ReadTable(PgConnection* c, const SourceMapping& m, std::deque<Pending>* pending) {
    const std::string what = "system " + m.system + ": " + m.schema + "." + m.table;
    HANDOFF_RETURN_IF_ERROR(c->Exec("DECLARE handoff_reconcile NO SCROLL CURSOR FOR SELECT * FROM " +
                                    QuoteQualified(m.schema, m.table)));
    for (;;) {
      auto r = c->Fetch("FETCH " + std::to_string(kFetchRows) + " FROM handoff_reconcile");
      if (!r.ok()) return Status(r.status().code(), what + ": " + r.status().message());
      const int cols = r->columns();
      for (int i = 0; i < r->rows(); ++i) {
        ChangeEvent ev;
        ev.source = m.system;
        ev.schema = m.schema;
        ev.table = m.table;
        ev.op = Op::kRead;
        ev.after.resize(cols);
        for (int j = 0; j < cols; ++j) {
          Column& col = ev.after[j];
          col.name = r->column_name(j);
          col.type_oid = r->column_type(j);
          if (r->is_null(i, j)) {
            col.kind = Column::Kind::kNull;
          } else {
            col.kind = Column::Kind::kText;
            col.data.assign(r->value(i, j), r->length(i, j));
          }
        }
        Map(m.system, std::move(ev), pending);
      }
      if (r->rows() < kFetchRows) break;
    }
    return c->Exec("CLOSE handoff_reconcile");
  }

  void Map(const std::string& system, ChangeEvent ev, std::deque<Pending>* pending) {
    auto ch = model_.MapSource(ev, system, lookup_);
    if (!ch.ok()) {
      pending->push_back(Pending{system, std::move(ev), ch.status().message()});
      return;
    }
    if (!ch->has_value()) return;  // the mapping's `when` leaves it out
    EntityChange& c = **ch;
    Known& k = world_[c.key];
    k.entity = c.entity;
    k.key = c.key;
    FieldMap& f = k.by_system[system];
    for (auto& [name, v] : c.after) f[name] = std::move(v);
    if (!c.xrefs.empty()) k.row.emplace(system, system + ":" + c.xrefs.front().object + ":" + c.xrefs.front().id);
    for (const Xref& x : c.xrefs) {
      xrefs_[XrefKey{x.system, x.object, x.id}] = c.key;
      if (std::find(k.xrefs.begin(), k.xrefs.end(), x) == k.xrefs.end()) k.xrefs.push_back(x);
    }
    if (const auto* tp = o_.flows->time_posting ? &*o_.flows->time_posting : nullptr;
        tp && system == tp->posting.system && c.entity == tp->entry.entity)
      k.raw[system] = std::move(ev.after);
    by_entity_[c.entity].insert(c.key);
  }

  std::optional<schemas::EntityRecord> Lookup(const std::string& entity, const Xref& ref) const {
    std::string key = ref.id;
    if (!ref.system.empty()) {
      auto it = xrefs_.find(XrefKey{ref.system, ref.object, ref.id});
      if (it == xrefs_.end()) return std::nullopt;
      key = it->second;
    }
    const Known* k = Find(key);
    if (k == nullptr || (!entity.empty() && k->entity != entity)) return std::nullopt;
    schemas::EntityRecord r;
    r.key = k->key;
    for (const auto& [system, fields] : k->by_system)
      for (const auto& [name, v] : fields) r.fields.emplace(name, v);
    r.xrefs = k->xrefs;
    return r;
  }

  const Known* Find(const std::string& key) const {
    auto it = world_.find(key);
    return it == world_.end() ? nullptr : &it->second;
  }

  // A field as `system` holds it; with "" the first system holding it (the
  // one named in the key first).
  static std::string F(const Known* k, const std::string& field, const std::string& system = "") {
    if (k == nullptr || field.empty()) return {};
    auto get = [&](const FieldMap& m) -> std::optional<std::string> {
      auto it = m.find(field);
      if (it == m.end()) return std::nullopt;
      return it->second.value_or("");
    };
    if (!system.empty()) {
      auto it = k->by_system.find(system);
      return it == k->by_system.end() ? "" : get(it->second).value_or("");
    }
    const std::string home = HomeSystem(*k);
    if (auto it = k->by_system.find(home); it != k->by_system.end())
      if (auto v = get(it->second)) return *v;
    for (const auto& [s, m] : k->by_system)
      if (auto v = get(m)) return *v;
    return {};
  }
  // A field as any system but `not_system` holds it.
  static std::string FOther(const Known* k, const std::string& field, const std::string& not_system) {
    if (k == nullptr) return {};
    for (const auto& [s, m] : k->by_system) {
      if (s == not_system) continue;
      auto it = m.find(field);
      if (it != m.end()) return it->second.value_or("");
    }
    return {};
  }
  static std::string HomeSystem(const Known& k) {
    // "<entity>:<system>:<id>" names the system it came from.
    const size_t a = k.key.find(':');
    const size_t b = a == std::string::npos ? a : k.key.find(':', a + 1);
    if (b != std::string::npos) {
      std::string s = k.key.substr(a + 1, b - a - 1);
      if (k.by_system.count(s)) return s;
    }
    return k.by_system.empty() ? "" : k.by_system.begin()->first;
  }
  static std::string RowOf(const Known* k, const std::string& system = "") {
    if (k == nullptr) return {};
    if (!system.empty()) {
      auto it = k->row.find(system);
      return it == k->row.end() ? "" : it->second;
    }
    auto it = k->row.find(HomeSystem(*k));
    return it != k->row.end() ? it->second : (k->row.empty() ? "" : k->row.begin()->second);
  }

  // ---- the exception queue ----

  Status ReadExceptions() {
    if (o_.journal == nullptr) return Status::OK();
    auto open = o_.journal->Exceptions(ExceptionState::kOpen);
    if (!open.ok()) return Status(open.status().code(), "exception queue: " + open.status().message());
    for (const ExceptionRecord& r : *open) {
      std::set<std::string> keys = KeysIn(r.reason);
      std::vector<JournalEntry> entry;
      if (o_.journal->Read(r.seq, 1, &entry).ok() && !entry.empty() && entry[0].seq == r.seq) {
        auto ch = model_.MapSource(entry[0].event, entry[0].event.source, lookup_);
        if (ch.ok() && ch->has_value()) keys.insert((*ch)->key);
      }
      for (const std::string& k : keys) parked_[k].push_back(&r - open->data());
    }
    exceptions_ = std::move(*open);
    return Status::OK();
  }

  // Canonical keys named in a sentence ("time entry time_entry:psa:17 (...)").
  std::set<std::string> KeysIn(const std::string& text) const {
    std::set<std::string> keys;
    for (const auto& [name, def] : model_.entities()) {
      const std::string prefix = name + ":";
      for (size_t at = text.find(prefix); at != std::string::npos; at = text.find(prefix, at + 1)) {
        if (at > 0 && (std::isalnum(static_cast<unsigned char>(text[at - 1])) || text[at - 1] == '_')) continue;
        size_t end = at + prefix.size();
        while (end < text.size() && !std::isspace(static_cast<unsigned char>(text[end])) &&
               std::string_view(",;()'\"").find(text[end]) == std::string_view::npos)
          ++end;
        std::string key = text.substr(at, end - at);
        while (!key.empty() && (key.back() == '.' || key.back() == ':')) key.pop_back();
        if (key.size() > prefix.size()) keys.insert(key);
      }
    }
    return keys;
  }

  // Marks a finding parked when an open exception names one of `keys`.
  void Explain(Finding* f, std::initializer_list<std::string> keys) {
    for (const std::string& key : keys) {
      auto it = parked_.find(key);
      if (key.empty() || it == parked_.end()) continue;
      f->state = FindingState::kParked;
      for (size_t i : it->second) {
        const ExceptionRecord& r = exceptions_[i];
        if (f->exception_seq == 0) f->exception_seq = r.seq;
        if (f->reason.find(r.reason) == std::string::npos)
          f->reason += (f->reason.empty() ? "" : " | ") + fmt::format("exception {}/{}: {}", r.target, r.seq, r.reason);
      }
    }
  }

  void NoteLag() {
    if (o_.journal == nullptr) return;
    const uint64_t last = o_.journal->LastSeq();
    auto targets = o_.journal->Targets();
    if (!targets.ok()) return;
    for (const auto& [name, applied] : *targets) {
      if (applied >= last || o_.config->FindTarget(name) == nullptr) continue;
      report_.notes.push_back(fmt::format(
          "target {} had applied the journal up to {} of {} when the systems were read: a finding may be a change "
          "still on its way (run again once the pipeline has caught up)",
          name, applied, last));
    }
  }

  // ---- findings ----

  CheckResult& Check(const std::string& name, const std::string& title) {
    report_.checks.push_back(CheckResult{});
    report_.checks.back().name = name;
    report_.checks.back().title = title;
    return report_.checks.back();
  }

  // Sorted keys of the entities of one type.
  std::vector<const Known*> All(const std::string& entity) const {
    std::vector<const Known*> out;
    auto it = by_entity_.find(entity);
    if (it == by_entity_.end()) return out;
    for (const std::string& key : it->second) out.push_back(&world_.at(key));
    return out;
  }

  void Finish(CheckResult* c, const Money& checked, const Money& ok, const std::vector<std::pair<Finding, Decimal>>& amounts) {
    Money breaks, parked, waiting;
    for (const auto& [f, d] : amounts) {
      if (f.amount.empty()) continue;  // not known (no rate): counted, not summed
      Money& m = f.state == FindingState::kBreak ? breaks : f.state == FindingState::kParked ? parked : waiting;
      m.Add(f.currency, d);
    }
    c->checked_amount = checked.Text();
    c->ok_amount = ok.Text();
    c->break_amount = breaks.Text();
    c->parked_amount = parked.Text();
    c->waiting_amount = waiting.Text();
    for (const auto& [f, d] : amounts) c->findings.push_back(f);
  }

  // Posted values of an entry (the posting system's row).
  struct Posted {
    bool present = false;
    std::string hours, rate, amount, date;
  };
  Posted PostedOf(const Known* k) const {
    const schemas::TimePostingFlow& tp = *o_.flows->time_posting;
    Posted p;
    if (k == nullptr || !k->by_system.count(tp.posting.system)) return p;
    p.present = true;
    const schemas::TargetMapping* tm = model_.FindTarget(tp.entry.entity, tp.posting.system);
    const std::vector<Column>* raw = nullptr;
    if (auto it = k->raw.find(tp.posting.system); it != k->raw.end()) raw = &it->second;
    auto column = [&](const std::string& name) -> std::string {
      const Column* c = raw ? RawColumn(*raw, name) : nullptr;
      return c && !c->is_null() ? c->data : "";
    };
    p.rate = F(k, tp.posting.rate, tp.posting.system);
    if (p.rate.empty()) p.rate = column(ColumnOf(tm, tp.posting.rate));
    p.hours = column(ColumnOf(tm, tp.entry.hours));
    if (p.hours.empty()) p.hours = F(k, tp.entry.hours, tp.posting.system);
    p.date = column(ColumnOf(tm, tp.entry.work_date));
    if (p.date.empty()) p.date = F(k, tp.entry.work_date, tp.posting.system);
    p.amount = column(ProductColumn(tm));
    if (p.amount.empty()) {
      auto h = Dec(p.hours), r = Dec(p.rate);
      if (h && r) p.amount = Text(h->Multiply(*r));
    }
    return p;
  }

  // The rate card rate of an entry: deal's card, consultant's role, work date.
  struct Rate {
    std::string rate, currency, card, role;
    bool found = false;
  };
  Rate RateOf(const Known* entry) const {
    const schemas::TimePostingFlow& tp = *o_.flows->time_posting;
    const std::string post = tp.posting.system;
    Rate out;
    const Known* project = Find(FOther(entry, tp.entry.project, post));
    const Known* deal = Find(F(project, tp.project.deal));
    const Known* consultant = Find(FOther(entry, tp.entry.consultant, post));
    out.card = F(deal, tp.deal.rate_card);
    out.role = F(consultant, tp.consultant.role);
    const std::string day = FOther(entry, tp.entry.work_date, post);
    const schemas::TimePostingFlow::Rate& rc = tp.rate_card;
    const Known* best = nullptr;
    for (const Known* r : All(rc.lookup.entity)) {
      if (F(r, rc.lookup.field) != out.card || F(r, rc.role) != out.role) continue;
      if (F(r, rc.from) > day || (!rc.to.empty() && !F(r, rc.to).empty() && F(r, rc.to) < day)) continue;
      if (!best || F(r, rc.from) > F(best, rc.from)) best = r;
    }
    if (best) {
      out.found = true;
      out.rate = F(best, rc.rate);
      out.currency = F(best, rc.currency);
    }
    return out;
  }

  static bool SameNumber(const std::string& a, const std::string& b) {
    auto x = Dec(a), y = Dec(b);
    if (x && y) return x->Compare(*y) == 0;
    return a == b;
  }

  void CheckTimePosting() {
    const schemas::TimePostingFlow& tp = *o_.flows->time_posting;
    const std::string post = tp.posting.system;
    const std::string entry_word = HumanName(tp.entry.entity);
    CheckResult& c = Check("time_posting", "every " + tp.status + " " + entry_word + " of the period is posted in " +
                                               post + " at its rate card rate, or parked with its reason");
    Money checked, ok;
    std::vector<std::pair<Finding, Decimal>> found;
    for (const Known* e : All(tp.entry.entity)) {
      const bool at_home = std::any_of(e->by_system.begin(), e->by_system.end(),
                                       [&](const auto& s) { return s.first != post; });
      const Posted posted = PostedOf(e);
      const std::string status = FOther(e, tp.entry.status, post);
      const std::string day = at_home ? FOther(e, tp.entry.work_date, post) : posted.date;
      if (!InPeriod(day, first_, last_)) continue;
      if (!at_home || status != tp.status) {
        if (!posted.present) continue;
        // Posted, but the entry is not approved where it is booked (or not there at all).
        ++c.checked;
        Finding f;
        f.key = e->key;
        f.row = RowOf(e, post);
        f.what = at_home ? fmt::format("posted in {} ({} h at {} = {}) but its status is '{}', not '{}'", post,
                                       posted.hours, posted.rate, posted.amount, status, tp.status)
                         : fmt::format("posted in {} ({} h at {} = {}) but no such {} exists where time is booked",
                                       post, posted.hours, posted.rate, posted.amount, entry_word);
        f.currency = F(e, tp.posting.currency, post);
        if (f.currency.empty()) f.currency = RateOf(e).currency;
        f.amount = posted.amount;
        Explain(&f, {e->key});
        found.emplace_back(f, Dec(posted.amount).value_or(Decimal()));
        continue;
      }
      ++c.checked;
      const std::string hours = FOther(e, tp.entry.hours, post);
      const Rate rate = RateOf(e);
      std::optional<Decimal> expected;
      if (auto h = Dec(hours), r = Dec(rate.rate); h && r && rate.found) expected = Cents(h->Multiply(*r));
      const std::string currency = rate.found ? rate.currency : F(e, tp.posting.currency, post);
      if (expected) checked.Add(currency, *expected);
      Finding f;
      f.key = e->key;
      f.row = RowOf(e);
      f.currency = currency;
      f.amount = expected ? Text(*expected) : "";
      const std::string subject = fmt::format("{} h on {}", hours, day);
      if (!posted.present) {
        f.what = rate.found ? fmt::format("{} is {} but not posted in {} (expected {} x {} = {})", subject, tp.status,
                                          post, hours, rate.rate, f.amount)
                            : fmt::format("{} is {} but not posted in {}, and rate card '{}' has no rate for role "
                                          "'{}' on {}",
                                          subject, tp.status, post, rate.card, rate.role, day);
        Explain(&f, {e->key});
        found.emplace_back(f, expected.value_or(Decimal()));
        continue;
      }
      std::vector<std::string> diffs;
      if (!SameNumber(posted.hours, hours)) diffs.push_back(fmt::format("hours {} posted, {} booked", posted.hours, hours));
      if (!rate.found)
        diffs.push_back(fmt::format("rate {} posted, but rate card '{}' has no rate for role '{}' on {}", posted.rate,
                                    rate.card, rate.role, day));
      else if (!SameNumber(posted.rate, rate.rate))
        diffs.push_back(fmt::format("rate {} posted, {} on the rate card", posted.rate, rate.rate));
      if (expected && !SameNumber(posted.amount, Text(*expected)))
        diffs.push_back(fmt::format("amount {} posted, {} expected", posted.amount, Text(*expected)));
      if (diffs.empty()) {
        ++c.ok;
        if (expected) ok.Add(currency, *expected);
        continue;
      }
      f.row = RowOf(e, post);
      f.what = subject + ": " + Join(diffs);
      if (auto p = Dec(posted.amount); p && expected) f.difference = Text(p->Subtract(*expected));
      Explain(&f, {e->key});
      found.emplace_back(f, expected.value_or(Decimal()));
    }
    Finish(&c, checked, ok, found);
  }

  void CheckBilling() {
    const schemas::TimePostingFlow& tp = *o_.flows->time_posting;
    const schemas::BillingFlow& b = *o_.flows->billing;
    const schemas::BillingFlow::Labor& lb = b.labor;
    const schemas::BillingFlow::Line& ln = b.line;
    const schemas::BillingFlow::Invoice& iv = b.invoice;
    const std::string post = tp.posting.system;
    CheckResult& c = Check("billing", "every posted billable " + HumanName(lb.entity) +
                                          " of the period is on exactly one invoice line, or waits for the next "
                                          "billing close");
    std::map<std::string, std::vector<const Known*>> lines_of;  // work key -> its labor lines
    for (const Known* l : All(ln.entity))
      if (F(l, ln.kind, b.system) == ln.labor_kind && !F(l, ln.work, b.system).empty())
        lines_of[F(l, ln.work, b.system)].push_back(l);
    auto line_name = [&](const Known* l) {
      const Known* inv = Find(F(l, ln.invoice, b.system));
      return fmt::format("line {} of {} {}", F(l, ln.line_no, b.system), HumanName(iv.entity),
                         inv ? F(inv, iv.number) : F(l, ln.invoice, b.system));
    };
    Money checked, ok;
    std::vector<std::pair<Finding, Decimal>> found;
    std::set<std::string> billable_posted;
    for (const Known* e : All(lb.entity)) {
      const Posted posted = PostedOf(e);
      if (!posted.present) continue;
      const std::string day = FOther(e, lb.date, post).empty() ? posted.date : FOther(e, lb.date, post);
      if (!InPeriod(day, first_, last_)) continue;
      if (FOther(e, lb.status, post) != lb.approved || FOther(e, lb.billable, post) != "true") continue;
      billable_posted.insert(e->key);
      ++c.checked;
      std::string currency = F(e, lb.currency, post);
      if (currency.empty()) currency = RateOf(e).currency;  // a ledger without a currency column
      const auto amount = Dec(posted.amount);
      if (amount) checked.Add(currency, *amount);
      Finding f;
      f.key = e->key;
      f.row = RowOf(e, post);
      f.currency = currency;
      f.amount = posted.amount;
      const auto it = lines_of.find(e->key);
      const size_t n = it == lines_of.end() ? 0 : it->second.size();
      if (n == 0) {
        const std::string project_key = FOther(e, lb.project, post);
        const std::string code = project_key.substr(project_key.find(':') + 1);
        const std::string number = b.InvoiceNumber(o_.period, code);
        const Known* inv = Find(iv.entity + ":" + number);
        const std::string status = F(inv, iv.status, b.system);
        if (inv != nullptr && status != iv.draft) {
          f.what = fmt::format("posted {} h on {} ({}) is on no invoice line, and {} {} is {}: it will not be billed",
                               posted.hours, day, posted.amount, HumanName(iv.entity), number, status);
          Explain(&f, {e->key, inv->key});
        } else {
          f.state = FindingState::kWaiting;
          f.what = inv ? fmt::format("posted {} h on {} waits for the next billing close ({} {} is a {})", posted.hours,
                                     day, HumanName(iv.entity), number, status)
                       : fmt::format("posted {} h on {} waits for the billing close of {}", posted.hours, day,
                                     o_.period);
        }
        found.emplace_back(f, amount.value_or(Decimal()));
        continue;
      }
      if (n > 1) {
        std::string where;
        for (const Known* l : it->second) where += (where.empty() ? "" : ", ") + line_name(l);
        f.what = fmt::format("posted {} h on {} is billed {} times: {}", posted.hours, day, n, where);
        Decimal extra;
        for (size_t i = 1; i < n; ++i) extra = extra.Add(Dec(F(it->second[i], ln.amount, b.system)).value_or(Decimal()));
        f.difference = Text(extra);
        f.row = RowOf(it->second[1], b.system);
        Explain(&f, {e->key});
        found.emplace_back(f, amount.value_or(Decimal()));
        continue;
      }
      const Known* l = it->second.front();
      std::vector<std::string> diffs;
      const std::string q = F(l, ln.quantity, b.system), u = F(l, ln.unit_price, b.system), a = F(l, ln.amount, b.system);
      if (!SameNumber(q, posted.hours)) diffs.push_back(fmt::format("quantity {}, posted hours {}", q, posted.hours));
      if (!SameNumber(u, posted.rate)) diffs.push_back(fmt::format("unit price {}, posted rate {}", u, posted.rate));
      if (!SameNumber(a, posted.amount)) diffs.push_back(fmt::format("amount {}, posted amount {}", a, posted.amount));
      if (diffs.empty()) {
        ++c.ok;
        if (amount) ok.Add(currency, *amount);
        continue;
      }
      f.row = RowOf(l, b.system);
      f.what = line_name(l) + ": " + Join(diffs);
      if (auto x = Dec(a); x && amount) f.difference = Text(x->Subtract(*amount));
      Explain(&f, {e->key, l->key});
      found.emplace_back(f, amount.value_or(Decimal()));
    }
    // Lines of the period's invoices that bill work which is not posted billable work.
    for (const auto& [work, lines] : lines_of) {
      if (billable_posted.count(work)) continue;
      for (const Known* l : lines) {
        const Known* inv = Find(F(l, ln.invoice, b.system));
        if (inv == nullptr || !InPeriod(F(inv, iv.period_start, b.system), first_, last_)) continue;
        const Known* e = Find(work);
        const Posted posted = PostedOf(e);
        ++c.checked;
        Finding f;
        f.key = work;
        f.row = RowOf(l, b.system);
        f.currency = F(l, ln.currency, b.system);
        f.amount = F(l, ln.amount, b.system);
        std::string why;
        if (e == nullptr)
          why = "no such " + HumanName(lb.entity) + " exists";
        else if (!posted.present)
          why = "it is not posted in " + post;
        else if (FOther(e, lb.status, post) != lb.approved)
          why = "its status is '" + FOther(e, lb.status, post) + "'";
        else if (FOther(e, lb.billable, post) != "true")
          why = "it is not billable";
        else
          why = "its work date " + FOther(e, lb.date, post) + " is outside the invoice's period";
        f.what = fmt::format("{} bills {} ({} {} x {} = {}), but {}", line_name(l), work, F(l, ln.quantity, b.system),
                             "h", F(l, ln.unit_price, b.system), f.amount, why);
        Explain(&f, {work, l->key});
        found.emplace_back(f, Dec(f.amount).value_or(Decimal()));
      }
    }
    Finish(&c, checked, ok, found);
  }

  void CheckInvoiceTotals() {
    const schemas::BillingFlow& b = *o_.flows->billing;
    const schemas::BillingFlow::Invoice& iv = b.invoice;
    const schemas::BillingFlow::Line& ln = b.line;
    CheckResult& c = Check("invoice_totals", "every " + HumanName(iv.entity) +
                                                 " of the period: subtotal = its lines, tax = subtotal x its tax "
                                                 "rate, total = subtotal + tax");
    std::map<std::string, std::pair<Decimal, int>> lines;  // invoice key -> sum, count
    std::map<std::string, std::vector<std::string>> unreadable;
    for (const Known* l : All(ln.entity)) {
      auto& [sum, n] = lines[F(l, ln.invoice, b.system)];
      const std::string a = F(l, ln.amount, b.system);
      if (auto d = Dec(a)) {
        sum = sum.Add(*d);
      } else {
        unreadable[F(l, ln.invoice, b.system)].push_back(fmt::format("line {} amount '{}'", F(l, ln.line_no), a));
      }
      ++n;
    }
    Money checked, ok;
    std::vector<std::pair<Finding, Decimal>> found;
    for (const Known* inv : All(iv.entity)) {
      if (!inv->by_system.count(b.system) || !InPeriod(F(inv, iv.period_start, b.system), first_, last_)) continue;
      ++c.checked;
      const std::string number = F(inv, iv.number, b.system), currency = F(inv, iv.currency, b.system);
      const auto subtotal = Dec(F(inv, iv.subtotal, b.system)), tax = Dec(F(inv, iv.tax, b.system)),
                 total = Dec(F(inv, iv.total, b.system));
      if (total) checked.Add(currency, *total);
      const auto& [sum, n] = lines[inv->key];
      const Known* customer = Find(F(inv, iv.customer, b.system));
      const std::string region = F(customer, b.customer.tax_region);
      const auto tax_rate = Dec(b.TaxRate(region));
      std::vector<std::string> diffs;
      std::optional<Decimal> diff;
      for (const std::string& u : unreadable[inv->key]) diffs.push_back(u + " is not a number");
      if (!subtotal || !tax || !total) {
        diffs.push_back(fmt::format("subtotal '{}', tax '{}', total '{}' are not all numbers",
                                    F(inv, iv.subtotal, b.system), F(inv, iv.tax, b.system), F(inv, iv.total, b.system)));
      } else {
        if (subtotal->Compare(sum) != 0) {
          diffs.push_back(fmt::format("subtotal {}, its {} line(s) sum to {}", Text(*subtotal), n, Text(sum)));
          diff = subtotal->Subtract(sum);
        }
        if (tax_rate && Cents(subtotal->Multiply(*tax_rate)).Compare(*tax) != 0)
          diffs.push_back(fmt::format("tax {}, {} x {} (tax region '{}') is {}", Text(*tax), Text(*subtotal),
                                      tax_rate->ToString(), region, Text(Cents(subtotal->Multiply(*tax_rate)))));
        if (subtotal->Add(*tax).Compare(*total) != 0) {
          diffs.push_back(fmt::format("total {}, subtotal + tax is {}", Text(*total), Text(subtotal->Add(*tax))));
          if (!diff) diff = total->Subtract(subtotal->Add(*tax));
        }
      }
      if (diffs.empty()) {
        ++c.ok;
        ok.Add(currency, *total);
        continue;
      }
      Finding f;
      f.key = inv->key;
      f.row = RowOf(inv, b.system);
      f.currency = currency;
      f.amount = total ? Text(*total) : "";
      if (diff) f.difference = Text(*diff);
      f.what = HumanName(iv.entity) + " " + number + ": " + Join(diffs);
      Explain(&f, {inv->key});
      found.emplace_back(f, total.value_or(Decimal()));
    }
    Finish(&c, checked, ok, found);
  }

  void CheckClosedWon() {
    const schemas::ClosedWonFlow& cw = *o_.flows->closed_won;
    CheckResult& c = Check("closed_won", "every " + cw.stage + " " + cw.deal.label + " has its " +
                                             HumanName(cw.project.entity) + " in " + cw.project.system +
                                             " and its billing schedule");
    Money checked, ok;
    std::vector<std::pair<Finding, Decimal>> found;
    for (const Known* d : All(cw.deal.entity)) {
      if (F(d, cw.deal.stage, cw.deal.system) != cw.stage) continue;
      std::string id;
      for (const Xref& x : d->xrefs)
        if (x.system == cw.deal.system && id.empty()) id = x.id;
      if (id.empty()) continue;
      ++c.checked;
      const std::string currency = F(d, cw.deal.currency), amount_text = F(d, cw.deal.amount);
      const auto amount = Dec(amount_text);
      if (amount) checked.Add(currency, *amount);
      const std::string code = cw.ProjectCode(id);
      const std::string project_key = cw.project.entity + ":" + code;
      const Known* project = Find(project_key);
      std::vector<std::string> problems;
      std::optional<Decimal> diff;
      if (project == nullptr || !project->by_system.count(cw.project.system)) {
        problems.push_back(fmt::format("{} {} is not in {}", HumanName(cw.project.entity), code, cw.project.system));
      } else {
        const std::string type = F(d, cw.deal.contract_type);
        if (auto plan = cw.milestones.find(type); plan != cw.milestones.end() && amount) {
          Decimal scheduled;
          for (const schemas::MilestonePlanItem& m : plan->second) {
            const Known* ms = Find(cw.milestone.entity + ":" + code + "/" + m.name);
            const auto share = Dec(m.share);
            const std::string want = share ? Text(Cents(amount->Multiply(*share))) : "";
            if (ms == nullptr || !ms->by_system.count(cw.project.system)) {
              problems.push_back(fmt::format("milestone '{}' ({}) is not in {}", m.name, want, cw.project.system));
              continue;
            }
            const std::string got = F(ms, cw.milestone.amount, cw.project.system);
            if (auto g = Dec(got)) scheduled = scheduled.Add(*g);
            if (!SameNumber(got, want))
              problems.push_back(fmt::format("milestone '{}' is {}, {} x {} is {}", m.name, got, amount_text, m.share, want));
          }
          if (scheduled.Compare(*amount) != 0) diff = scheduled.Subtract(*amount);
        }
      }
      if (problems.empty()) {
        ++c.ok;
        if (amount) ok.Add(currency, *amount);
        continue;
      }
      Finding f;
      f.key = d->key;
      f.row = RowOf(d, cw.deal.system);
      f.currency = currency;
      f.amount = amount ? Text(*amount) : "";
      if (diff) f.difference = Text(*diff);
      f.what = fmt::format("{} {} ({} {}): {}", cw.deal.label, id, F(d, cw.deal.name), F(d, cw.deal.contract_type),
                           Join(problems));
      Explain(&f, {d->key, project_key});
      found.emplace_back(f, amount.value_or(Decimal()));
    }
    Finish(&c, checked, ok, found);
  }

  static std::string Join(const std::vector<std::string>& parts) {
    std::string out;
    for (const auto& p : parts) out += (out.empty() ? "" : "; ") + p;
    return out;
  }
  static std::string HumanName(const std::string& name) {
    std::string out = name;
    std::replace(out.begin(), out.end(), '_', ' ');
    return out;
  }

  const ReconcileOptions& o_;
  const Model& model_;
  std::string first_, last_;
  ReconcileReport report_;
  std::unordered_map<std::string, Known> world_;
  std::map<XrefKey, std::string> xrefs_;
  std::map<std::string, std::set<std::string>> by_entity_;  // entity -> keys, sorted
  std::vector<ExceptionRecord> exceptions_;
  std::map<std::string, std::vector<size_t>> parked_;  // key -> indexes into exceptions_
  schemas::LookupFn lookup_ = [this](const std::string& entity, const Xref& ref) { return Lookup(entity, ref); };
};

}  // namespace

Result<ReconcileReport> Reconcile(const ReconcileOptions& options) {
  if (options.config == nullptr || options.model == nullptr)
    return Status::InvalidArgument("reconcile needs canonical mode (a `canonical:` section in the configuration)");
  Reconciler r(options);
  return r.Run();
}

}  // namespace handoff
