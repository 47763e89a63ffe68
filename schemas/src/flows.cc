#include "handoff/schemas/flows.h"

#include <yaml-cpp/yaml.h>

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

  Result<Flows> Read(const YAML::Node& root) {
    Flows f;
    YAML::Node flows = root["flows"];
    if (!root.IsMap() || !flows.IsDefined()) {
      Problem(root, "a flows file has a top-level `flows:` mapping");
    } else if (Keys(flows, "flows", {"closed_won", "time_posting", "billing", "billing_status"})) {
      if (YAML::Node n = flows["closed_won"]; n.IsDefined() && Keys(n, "closed_won", {"stage", "project_code", "service_lines", "contract_types", "milestones"})) {
        ClosedWonFlow c;
        c.stage = Str(n["stage"], "closed_won.stage", c.stage);
        c.project_code = Str(n["project_code"], "closed_won.project_code", c.project_code);
        if (c.project_code.find("{id}") == std::string::npos)
          Problem(n["project_code"], "closed_won.project_code must contain {id}");
        c.service_lines = StrMap(n["service_lines"], "closed_won.service_lines");
        if (YAML::Node ct = n["contract_types"]; ct.IsDefined()) {
          if (!ct.IsSequence()) Problem(ct, "closed_won.contract_types must be a list");
          else
            for (const auto& t : ct) c.contract_types.push_back(Str(t, "closed_won.contract_types", ""));
        }
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
                                       Str(m["due"], where + ".due", "end_date")};
                if (item.name.empty()) Problem(m, where + ": a milestone needs a name");
                Fraction(m["share"], where + "." + item.name + ".share", item.share);
                if (auto d = Decimal::Parse(item.share); d.ok()) sum = sum.Add(*d);
                if (item.due != "start_date" && item.due != "end_date" && item.due != "close_date")
                  Problem(m["due"], where + "." + item.name + ".due must be start_date, end_date or close_date");
                c.milestones[type].push_back(std::move(item));
              }
              if (sum.Compare(*Decimal::Parse("1")) != 0)
                Problem(kv.second, "closed_won.milestones." + type + ": shares add up to " + sum.ToString() + ", not 1");
            }
        }
        f.closed_won = std::move(c);
      }
      if (YAML::Node n = flows["time_posting"]; n.IsDefined() && Keys(n, "time_posting", {"status"})) {
        TimePostingFlow t;
        t.status = Str(n["status"], "time_posting.status", t.status);
        f.time_posting = t;
      }
      if (YAML::Node n = flows["billing"]; n.IsDefined() && Keys(n, "billing", {"invoice_number", "tax_rates"})) {
        BillingFlow b;
        b.invoice_number = Str(n["invoice_number"], "billing.invoice_number", b.invoice_number);
        if (b.invoice_number.find("{period}") == std::string::npos || b.invoice_number.find("{project}") == std::string::npos)
          Problem(n["invoice_number"], "billing.invoice_number must contain {period} and {project}");
        b.tax_rates = StrMap(n["tax_rates"], "billing.tax_rates");
        for (const auto& [region, rate] : b.tax_rates) Fraction(n["tax_rates"][region], "billing.tax_rates." + region, rate);
        f.billing = std::move(b);
      }
      if (YAML::Node n = flows["billing_status"]; n.IsDefined() && Keys(n, "billing_status", {"invoice", "partially_paid", "paid"})) {
        BillingStatusFlow s;
        s.invoice = StrMap(n["invoice"], "billing_status.invoice");
        s.partially_paid = Str(n["partially_paid"], "billing_status.partially_paid", s.partially_paid);
        s.paid = Str(n["paid"], "billing_status.paid", s.paid);
        f.billing_status = std::move(s);
      }
    }
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
