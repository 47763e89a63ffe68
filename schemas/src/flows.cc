#include "handoff/schemas/flows.h"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <fstream>
#include <sstream>

#include "handoff/engine/decimal.h"

namespace handoff::schemas {
namespace {

class FlowsReader {
 public:
  explicit FlowsReader(std::string file) : file_(std::move(file)) {}

  void Problem(const YAML::Node& at, const std::string& why) {
    int line = at.IsDefined() && at.Mark().line >= 0 ? at.Mark().line + 1 : 0;
    problems_ += file_ + ":" + std::to_string(line) + ": " + why + "\n";
  }
  bool Keys(const YAML::Node& n, const std::string& where, std::initializer_list<const char*> allowed) {
    if (!n.IsMap()) {
      Problem(n, where + " must be a mapping");
      return false;
    }
    for (const auto& kv : n) {
      std::string k = kv.first.Scalar();
      bool ok = false;
      for (const char* a : allowed) ok |= k == a;
      if (!ok) Problem(kv.first, "unknown key \"" + k + "\" in " + where);
    }
    return true;
  }
  std::string Str(const YAML::Node& n, const std::string& where, const std::string& fallback) {
    if (!n.IsDefined()) return fallback;
    if (!n.IsScalar()) {
      Problem(n, where + " must be a string");
      return fallback;
    }
    return n.Scalar();
  }
  std::map<std::string, std::string> StrMap(const YAML::Node& n, const std::string& where) {
    std::map<std::string, std::string> out;
    if (!n.IsDefined()) return out;
    if (!n.IsMap()) {
      Problem(n, where + " must be a mapping");
      return out;
    }
    for (const auto& kv : n) out[kv.first.Scalar()] = Str(kv.second, where + "." + kv.first.Scalar(), "");
    return out;
  }
  void Fraction(const YAML::Node& n, const std::string& what, const std::string& text) {
    auto d = Decimal::Parse(text);
    if (!d.ok()) {
      Problem(n, what + ": " + d.status().message());
      return;
    }
    if (d->negative() || d->Compare(*Decimal::Parse("1")) > 0) Problem(n, what + " must be between 0 and 1");
  }

  using Slots = std::initializer_list<std::pair<const char*, std::string*>>;
  using Names = std::initializer_list<const char*>;

  // A required scalar key of `n`; a problem naming `where` and the key when absent or empty.
  void Need(const YAML::Node& n, const std::string& where, const char* key, std::string* out) {
    YAML::Node v = n[key];
    if (!v.IsDefined() || v.IsNull()) {
      Problem(n, where + ": missing key \"" + key + "\"");
      return;
    }
    *out = Str(v, where + "." + key, "");
    if (out->empty() && v.IsScalar()) Problem(v, where + "." + key + " must not be empty");
  }
  // A string list key of `n` (`required`: a problem when absent).
  std::vector<std::string> List(const YAML::Node& n, const std::string& where, const char* key, bool required) {
    std::vector<std::string> out;
    YAML::Node v = n[key];
    if (!v.IsDefined() || v.IsNull()) {
      if (required) Problem(n, where + ": missing key \"" + key + "\"");
      return out;
    }
    if (!v.IsSequence()) {
      Problem(v, where + "." + key + " must be a list");
      return out;
    }
    for (const auto& item : v) out.push_back(Str(item, where + "." + key, ""));
    return out;
  }
  // Binding block `key` of `parent` (in flow `flow`): every key of `need` is
  // required, those of `may` are optional, `also` are read by the caller;
  // anything else is unknown. False when the block is absent (`optional`:
  // silently) or not a mapping.
  bool Bind(const YAML::Node& parent, const std::string& flow, const char* key, Slots need, Slots may = {},
            Names also = {}, bool optional = false) {
    YAML::Node n = parent[key];
    const std::string where = flow + "." + key;
    if (!n.IsDefined() || n.IsNull()) {
      if (!optional) Problem(parent, flow + ": missing key \"" + key + "\"");
      return false;
    }
    if (!n.IsMap()) {
      Problem(n, where + " must be a mapping");
      return false;
    }
    for (const auto& kv : n) {
      std::string k = kv.first.Scalar();
      bool ok = false;
      for (const auto& [name, out] : need) ok |= k == name;
      for (const auto& [name, out] : may) ok |= k == name;
      for (const char* name : also) ok |= k == name;
      if (!ok) Problem(kv.first, "unknown key \"" + k + "\" in " + where);
    }
    for (const auto& [name, out] : need) Need(n, where, name, out);
    for (const auto& [name, out] : may) *out = Str(n[name], where + "." + name, "");
    return true;
  }

  void ReadClosedWon(const YAML::Node& n, Flows* f) {
    ClosedWonFlow c;
    const std::string w = "closed_won";
    ClosedWonFlow::Deal& d = c.deal;
    if (Bind(n, w, "deal",
             {{"entity", &d.entity}, {"system", &d.system}, {"label", &d.label}, {"stage", &d.stage},
              {"customer", &d.customer}, {"name", &d.name}, {"amount", &d.amount}, {"currency", &d.currency},
              {"service_line", &d.service_line}, {"contract_type", &d.contract_type}, {"rate_card", &d.rate_card}},
             {}, {"dates"}))
      d.dates = List(n["deal"], w + ".deal", "dates", true);
    Need(n, w, "stage", &c.stage);
    if (Bind(n, w, "customer", {{"system", &c.customer.system}, {"name", &c.customer.name}}, {}, {"required"}))
      c.customer.required = List(n["customer"], w + ".customer", "required", false);
    Bind(n, w, "rate_card",
         {{"entity", &c.rate_card.entity}, {"field", &c.rate_card.field}, {"system", &c.rate_card.system}});
    ClosedWonFlow::Project& p = c.project;
    Bind(n, w, "project",
         {{"entity", &p.entity}, {"system", &p.system}, {"code", &p.code}, {"name", &p.name}, {"deal", &p.deal},
          {"customer", &p.customer}, {"status", &p.status}, {"open", &p.open}, {"contract_type", &p.contract_type},
          {"budget", &p.budget}, {"currency", &p.currency}, {"cost_center", &p.cost_center}});
    Need(n, w, "project_code", &c.project_code);
    if (!c.project_code.empty() && c.project_code.find("{id}") == std::string::npos)
      Problem(n["project_code"], "closed_won.project_code must contain {id}");
    c.service_lines = StrMap(n["service_lines"], "closed_won.service_lines");
    if (YAML::Node ct = n["contract_types"]; ct.IsDefined()) {
      if (!ct.IsSequence()) Problem(ct, "closed_won.contract_types must be a list");
      else
        for (const auto& t : ct) c.contract_types.push_back(Str(t, "closed_won.contract_types", ""));
    }
    std::string dates;
    for (const std::string& dt : d.dates) dates += (dates.empty() ? "" : ", ") + dt;
    bool planned = false;
    if (YAML::Node ms = n["milestones"]; ms.IsDefined()) {
      if (!ms.IsMap()) Problem(ms, "closed_won.milestones must map a contract type to a list");
      else
        for (const auto& kv : ms) {
          std::string type = kv.first.Scalar();
          if (!kv.second.IsSequence()) {
            Problem(kv.second, "closed_won.milestones." + type + " must be a list");
            continue;
          }
          Decimal sum;
          for (const auto& m : kv.second) {
            std::string where = "closed_won.milestones." + type;
            if (!Keys(m, where + " item", {"name", "share", "due"})) continue;
            MilestonePlanItem item{Str(m["name"], where + ".name", ""), Str(m["share"], where + ".share", ""),
                                   Str(m["due"], where + ".due", "")};
            if (item.name.empty()) Problem(m, where + ": a milestone needs a name");
            Fraction(m["share"], where + "." + item.name + ".share", item.share);
            if (auto dd = Decimal::Parse(item.share); dd.ok()) sum = sum.Add(*dd);
            if (std::find(d.dates.begin(), d.dates.end(), item.due) == d.dates.end())
              Problem(m["due"], where + "." + item.name +
                                    ".due must be one of the deal's dates (closed_won.deal.dates: " +
                                    (dates.empty() ? "none" : dates) + ")");
            c.milestones[type].push_back(std::move(item));
            planned = true;
          }
          if (sum.Compare(*Decimal::Parse("1")) != 0)
            Problem(kv.second, "closed_won.milestones." + type + ": shares add up to " + sum.ToString() + ", not 1");
        }
    }
    ClosedWonFlow::Milestone& m = c.milestone;
    Bind(n, w, "milestone",
         {{"entity", &m.entity}, {"project", &m.project}, {"name", &m.name}, {"amount", &m.amount},
          {"due_date", &m.due_date}},
         {}, {}, !planned);
    f->closed_won = std::move(c);
  }

  void ReadTimePosting(const YAML::Node& n, Flows* f) {
    TimePostingFlow t;
    const std::string w = "time_posting";
    TimePostingFlow::Entry& e = t.entry;
    Bind(n, w, "entry",
         {{"entity", &e.entity}, {"status", &e.status}, {"project", &e.project}, {"consultant", &e.consultant},
          {"hours", &e.hours}, {"work_date", &e.work_date}},
         {{"task", &e.task}});
    Need(n, w, "status", &t.status);
    Bind(n, w, "task", {{"active", &t.task.active}, {"code", &t.task.code}}, {}, {}, e.task.empty());
    if (e.task.empty() && n["task"].IsDefined()) Problem(n["task"], "time_posting.task needs time_posting.entry.task");
    Bind(n, w, "project",
         {{"status", &t.project.status},
          {"open", &t.project.open},
          {"code", &t.project.code},
          {"deal", &t.project.deal}});
    Bind(n, w, "deal", {{"budget_hours", &t.deal.budget_hours}, {"rate_card", &t.deal.rate_card}});
    Bind(n, w, "consultant",
         {{"role", &t.consultant.role}, {"cost_center", &t.consultant.cost_center}, {"email", &t.consultant.email}});
    TimePostingFlow::Rate& r = t.rate_card;
    Bind(n, w, "rate_card",
         {{"entity", &r.lookup.entity}, {"field", &r.lookup.field}, {"role", &r.role}, {"from", &r.from},
          {"rate", &r.rate}, {"currency", &r.currency}},
         {{"to", &r.to}, {"system", &r.lookup.system}});
    TimePostingFlow::Posting& p = t.posting;
    Bind(n, w, "posting",
         {{"system", &p.system}, {"rate", &p.rate}, {"currency", &p.currency}, {"cost_center", &p.cost_center},
          {"posted_at", &p.posted_at}});
    if (r.lookup.system.empty()) r.lookup.system = p.system;
    f->time_posting = std::move(t);
  }

  void ReadBilling(const YAML::Node& n, Flows* f) {
    BillingFlow b;
    const std::string w = "billing";
    if (Bind(n, w, "run", {{"entity", &b.run.entity}, {"period", &b.run.period}, {"status", &b.run.status}}, {},
             {"starts"}))
      b.run.starts = List(n["run"], w + ".run", "starts", true);
    Need(n, w, "system", &b.system);
    Bind(n, w, "project", {{"currency", &b.project.currency}, {"customer", &b.project.customer}});
    Bind(n, w, "customer", {{"tax_region", &b.customer.tax_region}});
    BillingFlow::Labor& l = b.labor;
    Bind(n, w, "labor",
         {{"entity", &l.entity}, {"status", &l.status}, {"approved", &l.approved}, {"billable", &l.billable},
          {"posted", &l.posted}, {"date", &l.date}, {"project", &l.project}, {"hours", &l.hours}, {"rate", &l.rate},
          {"currency", &l.currency}, {"consultant", &l.consultant}, {"task", &l.task}, {"who", &l.who}});
    BillingFlow::Milestones m;
    if (Bind(n, w, "milestones",
             {{"entity", &m.entity}, {"date", &m.date}, {"project", &m.project}, {"amount", &m.amount},
              {"name", &m.name}},
             {}, {}, true))
      b.milestones = m;
    BillingFlow::Expenses x;
    if (Bind(n, w, "expenses",
             {{"entity", &x.entity}, {"status", &x.status}, {"approved", &x.approved}, {"billable", &x.billable},
              {"date", &x.date}, {"project", &x.project}, {"amount", &x.amount}, {"currency", &x.currency},
              {"category", &x.category}},
             {}, {}, true))
      b.expenses = x;
    BillingFlow::Invoice& i = b.invoice;
    Bind(n, w, "invoice",
         {{"entity", &i.entity}, {"number", &i.number}, {"customer", &i.customer}, {"project", &i.project},
          {"period_start", &i.period_start}, {"period_end", &i.period_end}, {"status", &i.status},
          {"draft", &i.draft}, {"subtotal", &i.subtotal}, {"tax", &i.tax}, {"total", &i.total},
          {"currency", &i.currency}});
    BillingFlow::Line& ln = b.line;
    if (Bind(n, w, "line",
             {{"entity", &ln.entity},
              {"invoice", &ln.invoice},
              {"line_no", &ln.line_no},
              {"kind", &ln.kind},
              {"description", &ln.description},
              {"project", &ln.project},
              {"work", &ln.work},
              {"quantity", &ln.quantity},
              {"unit_price", &ln.unit_price},
              {"amount", &ln.amount},
              {"currency", &ln.currency}},
             {}, {"kinds"}))
      Bind(n["line"], w + ".line", "kinds",
           {{"labor", &ln.labor_kind}, {"milestone", &ln.milestone_kind}, {"expense", &ln.expense_kind}});
    Need(n, w, "invoice_number", &b.invoice_number);
    if (!b.invoice_number.empty() && (b.invoice_number.find("{period}") == std::string::npos ||
                                      b.invoice_number.find("{project}") == std::string::npos))
      Problem(n["invoice_number"], "billing.invoice_number must contain {period} and {project}");
    b.tax_rates = StrMap(n["tax_rates"], "billing.tax_rates");
    for (const auto& [region, rate] : b.tax_rates)
      Fraction(n["tax_rates"][region], "billing.tax_rates." + region, rate);
    f->billing = std::move(b);
  }

  void ReadBillingStatus(const YAML::Node& n, Flows* f) {
    BillingStatusFlow s;
    const std::string w = "billing_status";
    BillingStatusFlow::Invoices& i = s.invoices;
    Bind(n, w, "invoices",
         {{"entity", &i.entity}, {"status", &i.status}, {"number", &i.number}, {"total", &i.total},
          {"customer", &i.customer}, {"project", &i.project}});
    BillingStatusFlow::Payments& p = s.payments;
    Bind(n, w, "payments",
         {{"entity", &p.entity}, {"invoice", &p.invoice}, {"amount", &p.amount}, {"currency", &p.currency}});
    Need(n, w, "project_deal", &s.project_deal);
    Need(n, w, "field", &s.field);
    Need(n, w, "system", &s.system);
    s.invoice = StrMap(n["invoice"], "billing_status.invoice");
    Need(n, w, "partially_paid", &s.partially_paid);
    Need(n, w, "paid", &s.paid);
    f->billing_status = std::move(s);
  }

  Result<Flows> Read(const YAML::Node& root) {
    Flows f;
    YAML::Node flows = root["flows"];
    if (!root.IsMap() || !flows.IsDefined()) {
      Problem(root, "a flows file has a top-level `flows:` mapping");
    } else if (Keys(flows, "flows", {"closed_won", "time_posting", "billing", "billing_status"})) {
      if (YAML::Node n = flows["closed_won"];
          n.IsDefined() &&
          Keys(n, "closed_won",
               {"deal", "stage", "customer", "rate_card", "project", "milestone", "project_code", "service_lines",
                "contract_types", "milestones"}))
        ReadClosedWon(n, &f);
      if (YAML::Node n = flows["time_posting"];
          n.IsDefined() && Keys(n, "time_posting",
                                {"entry", "status", "task", "project", "deal", "consultant", "rate_card", "posting"}))
        ReadTimePosting(n, &f);
      if (YAML::Node n = flows["billing"];
          n.IsDefined() && Keys(n, "billing",
                                {"run", "system", "project", "customer", "labor", "milestones", "expenses", "invoice",
                                 "line", "invoice_number", "tax_rates"}))
        ReadBilling(n, &f);
      if (YAML::Node n = flows["billing_status"];
          n.IsDefined() && Keys(n, "billing_status",
                                {"invoices", "payments", "project_deal", "field", "system", "invoice",
                                 "partially_paid", "paid"}))
        ReadBillingStatus(n, &f);
    }
    auto add = [&](const FlowLookup& l) {
      for (const FlowLookup& have : f.lookups)
        if (have.entity == l.entity && have.field == l.field) return;
      if (!l.entity.empty()) f.lookups.push_back(l);
    };
    if (f.closed_won) add(f.closed_won->rate_card);
    if (f.time_posting) add(f.time_posting->rate_card.lookup);
    if (!problems_.empty()) {
      problems_.pop_back();
      return Status::InvalidArgument(problems_);
    }
    return f;
  }

 private:
  std::string file_;
  std::string problems_;
};

}  // namespace

std::string BillingFlow::TaxRate(const std::string& region) const {
  auto it = tax_rates.find(region);
  if (it != tax_rates.end()) return it->second;
  it = tax_rates.find("default");
  return it != tax_rates.end() ? it->second : "0";
}

namespace {
std::string Fill(std::string text, const std::string& name, const std::string& value) {
  for (size_t at = text.find(name); at != std::string::npos; at = text.find(name, at + value.size()))
    text.replace(at, name.size(), value);
  return text;
}
}  // namespace

std::string ClosedWonFlow::ProjectCode(const std::string& id) const { return Fill(project_code, "{id}", id); }

std::string BillingFlow::InvoiceNumber(const std::string& period, const std::string& project_code) const {
  return Fill(Fill(invoice_number, "{period}", period), "{project}", project_code);
}

Result<Flows> LoadFlows(const std::string& path) {
  std::ifstream in(path);
  if (!in) return Status::NotFound(path + ": cannot read the flows file");
  std::stringstream ss;
  ss << in.rdbuf();
  FlowsReader reader(path);
  try {
    return reader.Read(YAML::Load(ss.str()));
  } catch (const YAML::Exception& e) {
    return Status::InvalidArgument(path + ":" + std::to_string(e.mark.line + 1) + ": " + e.msg);
  }
}

}  // namespace handoff::schemas
