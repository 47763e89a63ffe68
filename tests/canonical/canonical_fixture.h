// What the canonical tests share: a throwaway journal, column builders, files
// read whole and a pack's ownership rules.
#pragma once

#include <stdlib.h>

#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "handoff/conflict/ownership_rules.h"
#include "handoff/engine/change_event.h"
#include "handoff/engine/journal.h"
#include "handoff/schemas/model.h"

namespace handoff::testing {

inline Column Text(const std::string& name, const std::string& v) {
  Column c;
  c.name = name;
  c.kind = Column::Kind::kText;
  c.data = v;
  return c;
}

inline Column Null(const std::string& name) {
  Column c;
  c.name = name;
  return c;
}

inline std::string ReadText(const std::filesystem::path& p) {
  std::ifstream in(p);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// The ownership file `path` parsed for the entities of `model`.
inline Result<conflict::OwnershipRules> OwnershipFor(const schemas::Model& model, const std::filesystem::path& path) {
  std::vector<std::string> entities;
  for (const auto& [name, def] : model.entities()) entities.push_back(name);
  return conflict::ParseOwnershipRules(ReadText(path), path.filename().string(), entities);
}

// A journal in a new temporary directory, removed with it.
class TempJournal {
 public:
  explicit TempJournal(const std::string& prefix) {
    std::string tmpl = "/tmp/" + prefix + "-XXXXXX";
    if (mkdtemp(tmpl.data()) == nullptr) return;
    dir_ = tmpl;
    JournalOptions o;
    o.path = dir_ + "/journal";
    o.map_size = 1 << 22;
    auto j = Journal::Open(o);
    if (j.ok()) journal_ = std::move(j).value();
    else status_ = j.status();
  }
  TempJournal(const TempJournal&) = delete;
  TempJournal& operator=(const TempJournal&) = delete;
  ~TempJournal() {
    journal_.reset();
    std::error_code ec;
    if (!dir_.empty()) std::filesystem::remove_all(dir_, ec);
  }
  // nullptr when it could not be opened (status() says why).
  Journal* get() const { return journal_.get(); }
  const Status& status() const { return status_; }
  const std::string& dir() const { return dir_; }

 private:
  std::string dir_;
  std::unique_ptr<Journal> journal_;
  Status status_ = Status::Internal("no temporary directory");
};

}  // namespace handoff::testing
