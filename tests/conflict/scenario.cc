#include "scenario.h"

#include <yaml-cpp/yaml.h>

#include <numeric>
#include <sstream>

namespace handoff::conflict::testing {
namespace {

// `at: N` in scenarios is N seconds after this instant (2026-11-30T00:00:00Z).
constexpr int64_t kBaseUs = 1796083200LL * 1000000;

class Loader {
 public:
  explicit Loader(std::string file) : file_(std::move(file)) {}

  Status Error(const YAML::Node& at, const std::string& reason) const {
    std::string where = file_;
    if (at.IsDefined() && at.Mark().line >= 0) where += ":" + std::to_string(at.Mark().line + 1);
    return Status::InvalidArgument(where + ": " + reason);
  }

  Status CheckKeys(const YAML::Node& n, const std::set<std::string>& allowed, const std::string& what) {
    if (!n.IsMap()) return Error(n, what + " must be a mapping");
    for (auto it = n.begin(); it != n.end(); ++it) {
      if (!allowed.count(it->first.as<std::string>())) {
        return Error(it->first, "unknown key \"" + it->first.as<std::string>() + "\" in " + what);
      }
    }
    return Status::OK();
  }

  Status Fields(const YAML::Node& n, const std::string& what, FieldMap* out) {
    if (!n.IsMap()) return Error(n, what + " must map field names to values");
    for (auto it = n.begin(); it != n.end(); ++it) {
      if (it->second.IsNull()) {
        (*out)[it->first.as<std::string>()] = std::nullopt;
      } else if (it->second.IsScalar()) {
        (*out)[it->first.as<std::string>()] = it->second.as<std::string>();
      } else {
        return Error(it->second, "value of " + it->first.as<std::string>() + " must be a scalar or ~");
      }
    }
    return Status::OK();
  }

  Status Rows(const YAML::Node& n, const std::string& what, std::map<std::string, SystemRow>* out) {
    if (!n.IsMap()) return Error(n, what + " must map system names to rows");
    for (auto it = n.begin(); it != n.end(); ++it) {
      std::string sys = it->first.as<std::string>();
      if (!s_.holds.count(sys)) return Error(it->first, "unknown system \"" + sys + "\" in " + what);
      SystemRow row;
      if (it->second.IsScalar() && it->second.as<std::string>() == "absent") {
        row.exists = false;
      } else {
        row.exists = true;
        HANDOFF_RETURN_IF_ERROR(Fields(it->second, what + "." + sys, &row.fields));
        for (const auto& [f, v] : row.fields) {
          if (!s_.holds[sys].count(f)) return Error(it->second, sys + " does not hold field " + f);
        }
      }
      (*out)[sys] = std::move(row);
    }
    return Status::OK();
  }

  Status Records(const YAML::Node& n, const std::string& outcome_key, std::vector<ExpectedRecord>* out) {
    if (!n.IsSequence()) return Error(n, "expected a list of records");
    for (const YAML::Node& r : n) {
      HANDOFF_RETURN_IF_ERROR(CheckKeys(r, {"system", "field", outcome_key, "conflict"}, "a record"));
      ExpectedRecord e;
      e.line = r.Mark().line + 1;
      e.system = r["system"].as<std::string>("");
      e.field = r["field"].as<std::string>("");
      e.outcome_or_case = r[outcome_key].as<std::string>("");
      if (r["conflict"]) e.conflict = r["conflict"].as<bool>();
      out->push_back(std::move(e));
    }
    return Status::OK();
  }

  Status Change(const YAML::Node& n, uint64_t seq) {
    HANDOFF_RETURN_IF_ERROR(CheckKeys(n, {"system", "op", "at", "before", "after"}, "a change"));
    EntityChange c;
    c.entity = s_.entity;
    c.key = s_.key;
    c.system = n["system"].as<std::string>("");
    if (!s_.holds.count(c.system)) return Error(n, "change from unknown system \"" + c.system + "\"");
    std::string op = n["op"].as<std::string>("update");
    if (op == "insert") c.op = Op::kInsert;
    else if (op == "update") c.op = Op::kUpdate;
    else if (op == "delete") c.op = Op::kDelete;
    else return Error(n["op"], "unknown op \"" + op + "\" (insert, update, delete)");
    if (!n["at"]) return Error(n, "a change needs `at` (seconds)");
    c.commit_time_us = kBaseUs + n["at"].as<int64_t>() * 1000000;
    c.seq = seq;
    if (n["before"]) {
      c.has_before = true;
      HANDOFF_RETURN_IF_ERROR(Fields(n["before"], "before", &c.before));
    }
    if (n["after"]) HANDOFF_RETURN_IF_ERROR(Fields(n["after"], "after", &c.after));
    for (const auto& [f, v] : c.after) {
      if (!s_.holds[c.system].count(f)) return Error(n, c.system + " does not hold field " + f);
    }
    c.xrefs.push_back({c.system, s_.entity, s_.key});
    s_.changes.push_back(std::move(c));
    return Status::OK();
  }

  Status Canonical(const YAML::Node& n) {
    HANDOFF_RETURN_IF_ERROR(CheckKeys(n, {"deleted", "deleted_at", "locked", "fields"}, "initial.canonical"));
    EntityState& st = s_.initial;
    st.exists = true;
    st.deleted = n["deleted"].as<bool>(false);
    if (n["deleted_at"]) st.deleted_at_us = kBaseUs + n["deleted_at"].as<int64_t>() * 1000000;
    st.locked = n["locked"].as<bool>(false);
    if (YAML::Node f = n["fields"]) {
      if (!f.IsMap()) return Error(f, "initial.canonical.fields must be a mapping");
      for (auto it = f.begin(); it != f.end(); ++it) {
        const YAML::Node& v = it->second;
        HANDOFF_RETURN_IF_ERROR(CheckKeys(v, {"value", "by", "at"}, "a canonical field"));
        FieldState fs;
        if (v["value"] && !v["value"].IsNull()) fs.value = v["value"].as<std::string>();
        fs.provenance.system = v["by"].as<std::string>("");
        fs.provenance.source_time_us = kBaseUs + v["at"].as<int64_t>(0) * 1000000;
        st.fields[it->first.as<std::string>()] = std::move(fs);
      }
    }
    return Status::OK();
  }

  Status Expect(const YAML::Node& n) {
    HANDOFF_RETURN_IF_ERROR(CheckKeys(n, {"canonical", "systems", "audit", "exceptions", "cases"}, "expect"));
    YAML::Node c = n["canonical"];
    if (!c) return Error(n, "expect needs `canonical`");
    HANDOFF_RETURN_IF_ERROR(CheckKeys(c, {"exists", "deleted", "locked", "fields"}, "expect.canonical"));
    s_.expect_exists = c["exists"].as<bool>(true);
    s_.expect_deleted = c["deleted"].as<bool>(false);
    s_.expect_locked = c["locked"].as<bool>(false);
    if (c["fields"]) HANDOFF_RETURN_IF_ERROR(Fields(c["fields"], "expect.canonical.fields", &s_.expect_fields));
    if (!n["systems"]) return Error(n, "expect needs `systems` (every system's final row)");
    HANDOFF_RETURN_IF_ERROR(Rows(n["systems"], "expect.systems", &s_.expect_rows));
    for (const auto& [sys, f] : s_.holds) {
      if (!s_.expect_rows.count(sys)) return Error(n["systems"], "expect.systems lacks system " + sys);
    }
    if (n["audit"]) HANDOFF_RETURN_IF_ERROR(Records(n["audit"], "outcome", &s_.expect_audit));
    if (n["exceptions"]) HANDOFF_RETURN_IF_ERROR(Records(n["exceptions"], "case", &s_.expect_exceptions));
    if (YAML::Node cs = n["cases"]) {
      if (!cs.IsSequence()) return Error(cs, "cases must be a list of case names");
      for (const YAML::Node& e : cs) {
        std::string name = e.as<std::string>();
        if (!ParseNamedCase(name)) return Error(e, "unknown case \"" + name + "\"");
        s_.expect_cases.push_back(name);
      }
    }
    return Status::OK();
  }

  Status Load(const std::string& text) {
    YAML::Node root = YAML::Load(text);
    HANDOFF_RETURN_IF_ERROR(CheckKeys(root, {"name", "permute", "ownership", "entity", "key", "systems",
                                             "initial", "changes", "expect"}, "a scenario"));
    for (const char* k : {"name", "ownership", "entity", "systems", "changes", "expect"}) {
      if (!root[k]) return Error(root, std::string("a scenario needs `") + k + "`");
    }
    s_.file = file_;
    s_.name = root["name"].as<std::string>();
    s_.permute = root["permute"].as<bool>(false);
    Result<OwnershipRules> rules = ParseOwnershipRules(text, file_);
    if (!rules.ok()) return rules.status();
    s_.rules = std::move(*rules);
    s_.entity = root["entity"].as<std::string>();
    s_.key = root["key"].as<std::string>("k1");
    if (!s_.rules.Find(s_.entity)) return Error(root["entity"], "no ownership rules for " + s_.entity);
    s_.initial.entity = s_.entity;
    s_.initial.key = s_.key;
    YAML::Node sys = root["systems"];
    if (!sys.IsMap() || sys.size() < 2) return Error(sys, "`systems` must map two or more systems to field lists");
    for (auto it = sys.begin(); it != sys.end(); ++it) {
      if (!it->second.IsSequence()) return Error(it->second, "fields of a system must be a list");
      auto& set = s_.holds[it->first.as<std::string>()];
      for (const YAML::Node& f : it->second) set.insert(f.as<std::string>());
    }
    if (YAML::Node init = root["initial"]) {
      HANDOFF_RETURN_IF_ERROR(CheckKeys(init, {"canonical", "systems"}, "initial"));
      if (init["canonical"]) HANDOFF_RETURN_IF_ERROR(Canonical(init["canonical"]));
      if (init["systems"]) HANDOFF_RETURN_IF_ERROR(Rows(init["systems"], "initial.systems", &s_.initial_rows));
    }
    for (const auto& [name, f] : s_.holds) s_.initial_rows.try_emplace(name);
    YAML::Node ch = root["changes"];
    if (!ch.IsSequence() || ch.size() == 0) return Error(ch, "`changes` must be a non-empty list");
    if (s_.permute && ch.size() > 8) return Error(ch, "a permuted scenario has at most 8 changes");
    uint64_t seq = 1;
    for (const YAML::Node& c : ch) HANDOFF_RETURN_IF_ERROR(Change(c, seq++));
    return Expect(root["expect"]);
  }

  Scenario Take() { return std::move(s_); }

 private:
  std::string file_;
  Scenario s_;
};

std::string Show(const std::optional<std::string>& v) { return v ? "\"" + *v + "\"" : "~"; }

std::string ShowRow(const SystemRow& r) {
  if (!r.exists) return "absent";
  std::string s = "{";
  for (const auto& [f, v] : r.fields) s += " " + f + ": " + Show(v);
  return s + " }";
}

FieldMap Values(const EntityState& st) {
  FieldMap m;
  for (const auto& [f, fs] : st.fields) m[f] = fs.value;
  return m;
}

std::string ShowFields(const FieldMap& m) {
  std::string s = "{";
  for (const auto& [f, v] : m) s += " " + f + ": " + Show(v);
  return s + " }";
}

}  // namespace

Result<Scenario> LoadScenario(const std::string& text, const std::string& file) {
  try {
    Loader loader(file);
    HANDOFF_RETURN_IF_ERROR(loader.Load(text));
    return loader.Take();
  } catch (const YAML::Exception& e) {
    std::string where = file;
    if (e.mark.line >= 0) where += ":" + std::to_string(e.mark.line + 1);
    return Status::InvalidArgument(where + ": " + e.msg);
  }
}

Outcome RunScenario(const Scenario& s, const std::vector<size_t>& order_in) {
  std::vector<size_t> order = order_in;
  if (order.empty()) {
    order.resize(s.changes.size());
    std::iota(order.begin(), order.end(), 0);
  }
  Outcome o;
  o.canonical = s.initial;
  o.rows = s.initial_rows;
  for (size_t i : order) {
    const EntityChange& c = s.changes[i];
    SystemRow& own = o.rows[c.system];
    if (c.op == Op::kDelete) {
      own = SystemRow{};
    } else {
      // Only the fields this commit wrote: a full-row after-image also repeats
      // untouched fields, which may since have received newer propagated values.
      own.exists = true;
      for (const auto& [f, v] : c.after) {
        auto b = c.before.find(f);
        if (!own.fields.count(f) || !c.has_before || b == c.before.end() || b->second != v) {
          own.fields[f] = v;
        }
      }
    }
    Decision d = Decide(s.rules, o.canonical, c);
    o.canonical = d.state;
    for (auto& [sys, row] : o.rows) {
      if (sys == c.system) continue;
      if (d.action == EntityAction::kDelete) {
        row = SystemRow{};
        continue;
      }
      if (d.action != EntityAction::kUpsert) continue;
      const std::set<std::string>& held = s.holds.at(sys);
      for (const auto& [f, v] : d.propagate) {
        if (held.count(f)) row.fields[f] = v;
      }
      row.exists = true;
    }
    if (!d.corrections.empty()) {
      own.exists = true;
      for (const auto& [f, v] : d.corrections) {
        if (s.holds.at(c.system).count(f)) own.fields[f] = v;
      }
    }
    for (AuditRecord& a : d.audit) o.audit.push_back(std::move(a));
    for (ExceptionRecord& e : d.exceptions) o.exceptions.push_back(std::move(e));
    if (d.named_case != NamedCase::kNone) o.cases.emplace_back(NamedCaseName(d.named_case));
  }
  return o;
}

std::string CompareStates(const Outcome& a, const Outcome& b) {
  std::ostringstream out;
  if (a.canonical.exists != b.canonical.exists || a.canonical.deleted != b.canonical.deleted ||
      a.canonical.locked != b.canonical.locked) {
    out << "canonical flags differ (exists/deleted/locked)\n";
  }
  if (Values(a.canonical) != Values(b.canonical)) {
    out << "canonical fields " << ShowFields(Values(a.canonical)) << " vs "
        << ShowFields(Values(b.canonical)) << "\n";
  }
  for (const auto& [sys, row] : a.rows) {
    auto it = b.rows.find(sys);
    if (it == b.rows.end() || !(it->second == row)) {
      out << "system " << sys << ": " << ShowRow(row) << " vs "
          << (it == b.rows.end() ? "missing" : ShowRow(it->second)) << "\n";
    }
  }
  return out.str();
}

std::string CheckExpectations(const Scenario& s, const Outcome& o) {
  std::ostringstream out;
  const EntityState& c = o.canonical;
  if (c.exists != s.expect_exists) out << "canonical exists " << c.exists << ", expected " << s.expect_exists << "\n";
  if (c.deleted != s.expect_deleted) out << "canonical deleted " << c.deleted << ", expected " << s.expect_deleted << "\n";
  if (c.locked != s.expect_locked) out << "canonical locked " << c.locked << ", expected " << s.expect_locked << "\n";
  if (Values(c) != s.expect_fields) {
    out << "canonical fields " << ShowFields(Values(c)) << ", expected " << ShowFields(s.expect_fields) << "\n";
  }
  for (const auto& [sys, want] : s.expect_rows) {
    const SystemRow& got = o.rows.at(sys);
    if (!(got == want)) out << "system " << sys << ": " << ShowRow(got) << ", expected " << ShowRow(want) << "\n";
  }
  auto records = [&](const char* what, const std::vector<ExpectedRecord>& want, auto&& got_list, auto&& key) {
    size_t n = std::max(want.size(), got_list.size());
    for (size_t i = 0; i < n; ++i) {
      if (i >= want.size()) {
        out << what << " #" << i + 1 << " unexpected: " << key(got_list[i]) << "\n";
        continue;
      }
      const ExpectedRecord& w = want[i];
      std::string wk = w.system + "/" + w.field + "/" + w.outcome_or_case;
      if (i >= got_list.size()) {
        out << what << " #" << i + 1 << " missing (line " << w.line << "): " << wk << "\n";
        continue;
      }
      std::string gk = key(got_list[i]);
      if (gk != wk) out << what << " #" << i + 1 << " (line " << w.line << "): got " << gk << ", expected " << wk << "\n";
      if constexpr (std::is_same_v<std::decay_t<decltype(got_list[i])>, AuditRecord>) {
        if (w.conflict && *w.conflict != got_list[i].conflict) {
          out << what << " #" << i + 1 << " (line " << w.line << "): conflict " << got_list[i].conflict << "\n";
        }
        if (got_list[i].reason.empty()) out << what << " #" << i + 1 << " has no reason\n";
      }
    }
  };
  records("audit", s.expect_audit, o.audit, [](const AuditRecord& a) {
    return a.system + "/" + a.field + "/" + std::string(FieldOutcomeName(a.outcome));
  });
  records("exception", s.expect_exceptions, o.exceptions, [](const ExceptionRecord& e) {
    return e.system + "/" + e.field + "/" + std::string(NamedCaseName(e.named_case));
  });
  if (o.cases != s.expect_cases) {
    out << "named cases [";
    for (const auto& x : o.cases) out << x << " ";
    out << "], expected [";
    for (const auto& x : s.expect_cases) out << x << " ";
    out << "]\n";
  }
  return out.str();
}

}  // namespace handoff::conflict::testing
