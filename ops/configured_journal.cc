#include "configured_journal.h"

#include <cstdio>

namespace handoff {

JournalOptions JournalOptionsOf(const Config& config) {
  JournalOptions o;
  o.path = config.journal_path;
  o.map_size = config.journal_map_size;
  o.max_map_size = config.journal_max_map_size;
  o.retention_us = config.journal_retention_us;
  return o;
}

std::unique_ptr<Journal> OpenJournalOrReport(const Config& config) {
  JournalOptions o = JournalOptionsOf(config);
  o.create_if_missing = false;  // only `handoff run` creates a journal
  auto j = Journal::Open(o);
  if (!j.ok() && j.status().code() == StatusCode::kNotFound) {
    std::fprintf(stderr, "handoff: %s (journal.path in the configuration; `handoff run` creates it)\n",
                 j.status().message().c_str());
    return nullptr;
  }
  if (!j.ok()) {
    std::fprintf(stderr, "handoff: cannot open the journal at %s: %s\n", config.journal_path.c_str(),
                 j.status().ToString().c_str());
    return nullptr;
  }
  return std::move(j).value();
}

}  // namespace handoff
