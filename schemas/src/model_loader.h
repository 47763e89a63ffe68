// ModelLoader: reads a schema pack (entities/*.yaml, mappings/*.yaml) into a
// Model, collecting every problem as "file:line: reason" instead of stopping
// at the first. yaml-cpp exceptions are caught here; none escape.
//
// Thread-safety: single-use, one thread.
#pragma once

#include <yaml-cpp/yaml.h>

#include <set>
#include <string>
#include <vector>

#include "handoff/schemas/model.h"

namespace handoff::schemas {

class ModelLoader {
 public:
  explicit ModelLoader(std::string dir) : dir_(std::move(dir)) {}
  Result<Model> Load();

 private:
  // model_loader.cc: files and entities
  void LoadFile(const std::string& path, const std::string& rel);
  void ParseEntity(const YAML::Node& root);
  void ParseField(const YAML::Node& name, const YAML::Node& spec, EntityDef* entity);
  void CheckEntities();
  void CheckParentChains();
  // mapping_parser.cc / mapping_checks.cc: mappings and expressions
  void ParseSystem(const YAML::Node& root);
  void ParseSource(const std::string& system, const YAML::Node& node);
  void ParseTarget(const std::string& system, const YAML::Node& node);
  bool ParseExpr(const YAML::Node& node, bool target, Expr* out);
  bool ParseConditions(const YAML::Node& node, std::vector<Condition>* out);
  void CheckMappings();
  void CheckExpr(const Expr& e, const EntityDef& entity, bool target, const std::string& where);
  void CheckConditions(const std::vector<Condition>& when, const EntityDef& entity);

  // Shared helpers.
  SourceLocation At(const YAML::Node& node) const;
  void Problem(const YAML::Node& at, const std::string& why);
  void Problem(const SourceLocation& at, const std::string& why);
  // Scalar text of node; a problem (and false) when it is missing or not a scalar.
  bool Scalar(const YAML::Node& node, const std::string& what, std::string* out);
  bool Bool(const YAML::Node& node, const std::string& what, bool* out);
  bool Int(const YAML::Node& node, const std::string& what, int* out);
  bool StringList(const YAML::Node& node, const std::string& what, std::vector<std::string>* out);
  // Reports keys of map `node` not in `allowed`.
  void OnlyKeys(const YAML::Node& node, const std::string& what, const std::set<std::string>& allowed);

  std::string dir_;
  std::string file_;  // file being parsed, relative to dir_
  Model model_;
  std::vector<SourceMapping> sources_;
  std::vector<TargetMapping> targets_;
  std::vector<std::pair<std::string, SourceLocation>> ignores_;  // "system/schema.table"
  std::vector<std::pair<SourceLocation, std::string>> problems_;
};

// "time_entry" -> "time entry".
std::string HumanName(const std::string& name);
// "accounts" -> "public.accounts"; "crm.accounts" unchanged.
std::string QualifyTable(const std::string& table);

}  // namespace handoff::schemas
