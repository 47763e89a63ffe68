// ParseOwnershipRules: the `ownership:` YAML section -> OwnershipRules.
// yaml-cpp exceptions are caught here and turned into Status with file:line.
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <set>

#include "handoff/conflict/ownership_rules.h"

namespace handoff::conflict {
namespace {

class RulesParser {
 public:
  RulesParser(const std::string& file, const std::vector<std::string>& known)
      : file_(file), known_(known.begin(), known.end()) {}

  Status Error(const YAML::Node& at, const std::string& reason) const {
    std::string where = file_;
    if (at.IsDefined() && at.Mark().line >= 0) where += ":" + std::to_string(at.Mark().line + 1);
    return Status::InvalidArgument(where + ": " + reason);
  }

  Status Parse(const YAML::Node& root, OwnershipRules* out) {
    if (!root.IsMap()) return Error(root, "expected a mapping with an `ownership:` section");
    YAML::Node section = root["ownership"];
    if (!section) return Error(root, "no `ownership:` section");
    if (!section.IsMap()) return Error(section, "`ownership` must map entity names to rules");
    for (auto it = section.begin(); it != section.end(); ++it) {
      std::string entity = it->first.as<std::string>();
      if (!known_.count(entity)) {
        return Error(it->first, "unknown entity \"" + entity + "\" (not a canonical entity)");
      }
      EntityRules rules;
      rules.entity = entity;
      HANDOFF_RETURN_IF_ERROR(ParseEntity(entity, it->second, &rules));
      out->Put(std::move(rules));
    }
    return Status::OK();
  }

 private:
  Status ParseEntity(const std::string& entity, const YAML::Node& n, EntityRules* r) {
    if (!n.IsMap()) return Error(n, "rules of \"" + entity + "\" must be a mapping");
    for (auto it = n.begin(); it != n.end(); ++it) {
      std::string k = it->first.as<std::string>();
      if (k != "default" && k != "fields" && k != "locked_when" && k != "when_locked" &&
          k != "cases") {
        return Error(it->first, "unknown key \"" + k + "\" in \"" + entity +
                                    "\" (expected default, fields, locked_when, when_locked, cases)");
      }
    }
    if (n["default"]) {
      HANDOFF_RETURN_IF_ERROR(ParseRule(n["default"], "default", nullptr, &r->default_rule));
    }
    if (YAML::Node f = n["fields"]) {
      if (!f.IsMap()) return Error(f, "`fields` must map field names to rules");
      for (auto it = f.begin(); it != f.end(); ++it) {
        std::string field = it->first.as<std::string>();
        FieldRule rule;
        HANDOFF_RETURN_IF_ERROR(ParseRule(it->second, field, &r->default_rule, &rule));
        r->fields[field] = std::move(rule);
      }
    }
    YAML::Node lw = n["locked_when"], wl = n["when_locked"];
    if (wl && !lw) return Error(wl, "`when_locked` needs `locked_when`");
    if (lw) {
      HANDOFF_RETURN_IF_ERROR(ParseLock(lw, wl, r));
    }
    if (YAML::Node c = n["cases"]) {
      if (!c.IsMap()) return Error(c, "`cases` must map case names to outcomes");
      for (auto it = c.begin(); it != c.end(); ++it) {
        std::string name = it->first.as<std::string>();
        auto nc = ParseNamedCase(name);
        if (!nc || *nc == NamedCase::kLockedEdit) {
          return Error(it->first, "unknown case \"" + name +
                                      "\" (expected insert_exists, update_missing, delete_missing, "
                                      "update_after_delete)");
        }
        if (!it->second.IsScalar()) return Error(it->second, "outcome of " + name + " must be a word");
        std::string v = it->second.as<std::string>();
        auto oc = ParseCaseOutcome(v);
        if (!oc || (*nc == NamedCase::kDeleteMissing && *oc == CaseOutcome::kApply)) {
          return Error(it->second, "unknown outcome \"" + v + "\" for " + name);
        }
        r->cases[*nc] = *oc;
      }
    }
    return Status::OK();
  }

  Status ParseOwners(const YAML::Node& n, std::vector<std::string>* owners) {
    owners->clear();
    if (n.IsScalar()) {
      std::string s = n.as<std::string>();
      if (s.empty()) return Error(n, "owner must not be empty");
      if (s != "any") owners->push_back(s);
      return Status::OK();
    }
    if (!n.IsSequence() || n.size() == 0) return Error(n, "owner must be a system name, a list or `any`");
    for (const YAML::Node& e : n) {
      if (!e.IsScalar() || e.as<std::string>().empty() || e.as<std::string>() == "any") {
        return Error(e, "owner list entries must be system names");
      }
      owners->push_back(e.as<std::string>());
    }
    std::sort(owners->begin(), owners->end());
    owners->erase(std::unique(owners->begin(), owners->end()), owners->end());
    return Status::OK();
  }

  // `base` is the entity default a field rule inherits from (nullptr for the default itself).
  Status ParseRule(const YAML::Node& n, const std::string& what, const FieldRule* base,
                   FieldRule* out) {
    if (!n.IsMap()) return Error(n, "rule for \"" + what + "\" must be a mapping");
    if (base) *out = *base;
    bool has_owner = false, has_policy = false;
    for (auto it = n.begin(); it != n.end(); ++it) {
      std::string k = it->first.as<std::string>();
      const YAML::Node& v = it->second;
      if (k == "owner" || k == "owners") {
        HANDOFF_RETURN_IF_ERROR(ParseOwners(v, &out->owners));
        has_owner = true;
      } else if (k == "policy") {
        auto p = v.IsScalar() ? ParsePolicy(v.as<std::string>()) : std::nullopt;
        if (!p) {
          return Error(v, "unknown policy \"" + (v.IsScalar() ? v.as<std::string>() : "") +
                              "\" for \"" + what +
                              "\" (expected owner_wins, last_writer_wins, first_writer_wins, "
                              "manual, delta)");
        }
        out->policy = *p;
        has_policy = true;
      } else if (k == "non_owner") {
        auto a = v.IsScalar() ? ParseNonOwnerAction(v.as<std::string>()) : std::nullopt;
        if (!a) return Error(v, "unknown non_owner action for \"" + what + "\" (expected ignore, park)");
        out->non_owner = *a;
      } else {
        return Error(it->first, "unknown key \"" + k + "\" in rule for \"" + what +
                                    "\" (expected owner, policy, non_owner)");
      }
    }
    // A field naming a multi-writer policy without owners is shared.
    if (base && has_policy && !has_owner && out->policy != Policy::kOwnerWins) out->owners.clear();
    return Status::OK();
  }

  Status ParseLock(const YAML::Node& lw, const YAML::Node& wl, EntityRules* r) {
    if (!lw.IsMap()) return Error(lw, "`locked_when` must be { field: F, equals: V }");
    LockRule lock;
    lock.owners = r->default_rule.owners;
    for (auto it = lw.begin(); it != lw.end(); ++it) {
      std::string k = it->first.as<std::string>();
      if (k == "field") {
        lock.field = it->second.as<std::string>();
      } else if (k == "equals") {
        if (it->second.IsScalar()) {
          lock.equals.push_back(it->second.as<std::string>());
        } else if (it->second.IsSequence()) {
          for (const YAML::Node& e : it->second) lock.equals.push_back(e.as<std::string>());
        } else {
          return Error(it->second, "`equals` must be a value or a list of values");
        }
      } else {
        return Error(it->first, "unknown key \"" + k + "\" in locked_when (expected field, equals)");
      }
    }
    if (lock.field.empty() || lock.equals.empty()) return Error(lw, "`locked_when` needs field and equals");
    if (wl) {
      if (!wl.IsMap()) return Error(wl, "`when_locked` must be { owner: S, non_owner: park }");
      for (auto it = wl.begin(); it != wl.end(); ++it) {
        std::string k = it->first.as<std::string>();
        if (k == "owner" || k == "owners") {
          HANDOFF_RETURN_IF_ERROR(ParseOwners(it->second, &lock.owners));
        } else if (k == "non_owner") {
          auto a = ParseNonOwnerAction(it->second.as<std::string>());
          if (!a) return Error(it->second, "unknown non_owner action in when_locked (expected ignore, park)");
          lock.non_owner = *a;
        } else {
          return Error(it->first, "unknown key \"" + k + "\" in when_locked (expected owner, non_owner)");
        }
      }
    }
    r->lock = std::move(lock);
    return Status::OK();
  }

  std::string file_;
  std::set<std::string> known_;
};

}  // namespace

Result<OwnershipRules> ParseOwnershipRules(const std::string& yaml, const std::string& file) {
  return ParseOwnershipRules(yaml, file, CanonicalEntities());
}

Result<OwnershipRules> ParseOwnershipRules(const std::string& yaml, const std::string& file,
                                           const std::vector<std::string>& known_entities) {
  try {
    YAML::Node root = YAML::Load(yaml);
    OwnershipRules rules;
    RulesParser parser(file, known_entities);
    HANDOFF_RETURN_IF_ERROR(parser.Parse(root, &rules));
    return rules;
  } catch (const YAML::Exception& e) {
    std::string where = file;
    if (e.mark.line >= 0) where += ":" + std::to_string(e.mark.line + 1);
    return Status::InvalidArgument(where + ": " + e.msg);
  }
}

}  // namespace handoff::conflict
