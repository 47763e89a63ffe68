#include "source_cli.h"

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <thread>

#include "configured_journal.h"
#include "handoff/capture/slot_watch.h"
#include "handoff/capture/source_objects.h"
#include "handoff/engine/event_json.h"

namespace handoff {
namespace {

constexpr int kOk = 0, kFailure = 1, kUsage = 2;

// What a drop acts on, resolved from the arguments and the configuration.
struct DropPlan {
  const SourceConfig* configured = nullptr;
  bool postgres = true;
  ConnParams dsn;
  std::string dsn_from, slot, publication;
};

bool Resolve(const Config& config, const SourceDropArgs& args, DropPlan* plan) {
  plan->configured = config.FindSource(args.source);
  const SourceConfig* s = plan->configured;
  if (s != nullptr && s->postgres() == nullptr) {
    plan->postgres = false;  // nothing on a server: only the journal's position
    return true;
  }
  PostgresSourceConfig named;
  named.name = args.source;
  if (s != nullptr) named = PostgresSourceConfig(*s);
  plan->slot = args.slot.empty() ? SlotNameOf(named) : args.slot;
  plan->publication = !args.publication.empty()   ? args.publication
                      : !named.publication.empty() ? named.publication
                                                   : "handoff_" + args.source;
  if (!args.dsn.empty()) {
    auto parsed = ConnParams::Parse(args.dsn);
    if (!parsed.ok()) {
      std::fprintf(stderr, "handoff: --dsn: %s\n", parsed.status().message().c_str());
      return false;
    }
    plan->dsn = std::move(parsed).value();
    plan->dsn_from = "--dsn";
  } else if (s != nullptr) {
    plan->dsn = named.dsn;
    plan->dsn_from = "the configuration";
  } else {
    std::fprintf(stderr,
                 "handoff: source %s is not in the configuration: give --dsn (a connection string to its server) so "
                 "its slot and publication can be dropped\n",
                 args.source.c_str());
    return false;
  }
  return true;
}

std::string SlotLine(const DropPlan& p, const SourceObjects& o) {
  if (!o.slot_exists) return fmt::format("slot {}: none on the server", p.slot);
  return fmt::format("slot {} (database {}): drop (inactive, retains {:.1f} MiB of WAL)", p.slot, o.slot_database,
                     o.slot_retained_bytes / 1048576.0);
}

std::string PublicationLine(const DropPlan& p, const SourceObjects& o, const std::string& journal_id) {
  if (!o.publication_exists) return fmt::format("publication {}: none in database {}", p.publication, o.database);
  if (!o.publication_marked)
    return fmt::format("publication {}: left alone: handoff did not create it (no handoff comment); drop it "
                       "yourself if nothing else uses it",
                       p.publication);
  std::string whose = o.publication_journal.empty()     ? "by a separate agent"
                      : o.publication_journal == journal_id ? "for this journal"
                                                            : "for journal " + o.publication_journal;
  return fmt::format("publication {} (database {}): drop (created by handoff {})", p.publication, o.database, whose);
}

}  // namespace

int CmdSourceDrop(const Config& config, const SourceDropArgs& args) {
  DropPlan plan;
  if (!Resolve(config, args, &plan)) return kUsage;
  // The engine's lock, held to the end: no engine starts reading meanwhile.
  JournalOptions jo = JournalOptionsOf(config);
  jo.create_if_missing = false;
  jo.exclusive = true;
  std::unique_ptr<Journal> journal;
  auto opened = Journal::Open(jo);
  if (opened.ok()) {
    journal = std::move(opened).value();
  } else if (opened.status().code() == StatusCode::kConflict) {
    std::fprintf(stderr, "handoff: refused: %s. Stop the engine first: it reads the position `source drop` removes\n",
                 opened.status().message().c_str());
    return kFailure;
  } else if (opened.status().code() != StatusCode::kNotFound) {
    std::fprintf(stderr, "handoff: cannot open the journal at %s: %s\n", config.journal_path.c_str(),
                 opened.status().ToString().c_str());
    return kFailure;
  }
  std::vector<std::string> lines;
  SourceObjects objects;
  if (plan.postgres) {
    auto o = InspectSourceObjects(plan.dsn, plan.slot, plan.publication);
    // The walsender of an engine that just stopped may take a moment to go.
    const auto patience = std::chrono::steady_clock::now() + std::chrono::seconds(5);
    while (o.ok() && o->slot_active && std::chrono::steady_clock::now() < patience) {
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
      o = InspectSourceObjects(plan.dsn, plan.slot, plan.publication);
    }
    if (!o.ok()) {
      std::fprintf(stderr, "handoff: cannot read the source's server (DSN from %s): %s\n", plan.dsn_from.c_str(),
                   o.status().ToString().c_str());
      return kFailure;
    }
    objects = *o;
    if (objects.slot_active) {
      std::fprintf(stderr,
                   "handoff: refused: replication slot %s is active (walsender pid %lld): a capture session still "
                   "streams from it (an engine of another journal, a `handoff agent`, or another program); stop it "
                   "first\n",
                   plan.slot.c_str(), static_cast<long long>(objects.slot_active_pid));
      return kFailure;
    }
    lines.push_back(SlotLine(plan, objects));
    lines.push_back(PublicationLine(plan, objects, journal ? journal->id() : ""));
  }
  SourcePosition position;
  if (!journal) {
    lines.push_back(fmt::format("journal: none at {} (no position to forget)", config.journal_path));
  } else {
    auto p = journal->SourceDurable(args.source);
    if (!p.ok()) {
      std::fprintf(stderr, "handoff: cannot read the journal: %s\n", p.status().ToString().c_str());
      return kFailure;
    }
    position = *p;
    lines.push_back(position.IsZero()
                        ? fmt::format("journal {}: holds no position of source {}", journal->id(), args.source)
                        : fmt::format("journal {}: forget position {} of source {} (its journaled events stay as "
                                      "history)",
                                      journal->id(), FormatPosition(position), args.source));
  }
  std::printf("source %s (%s%s)\n", args.source.c_str(), plan.configured ? "configured" : "not in the configuration",
              plan.postgres ? (", server from " + plan.dsn_from).c_str() : "");
  for (const auto& l : lines) std::printf("  %s\n", l.c_str());
  if (!args.yes) {
    std::printf("nothing was changed; run again with --yes to drop the above\n");
    return kUsage;
  }
  if (plan.postgres && objects.slot_exists) {
    Status st = DropReplicationSlot(plan.dsn, plan.slot);
    if (!st.ok()) {
      std::fprintf(stderr, "handoff: cannot drop slot %s: %s\n", plan.slot.c_str(), st.ToString().c_str());
      return kFailure;
    }
    std::printf("dropped slot %s\n", plan.slot.c_str());
  }
  if (plan.postgres && objects.publication_exists && objects.publication_marked) {
    Status st = DropPublication(plan.dsn, plan.publication);
    if (!st.ok()) {
      std::fprintf(stderr, "handoff: cannot drop publication %s: %s\n", plan.publication.c_str(),
                   st.ToString().c_str());
      return kFailure;
    }
    std::printf("dropped publication %s\n", plan.publication.c_str());
  }
  if (journal && !position.IsZero()) {
    auto had = journal->ForgetSource(args.source);
    if (!had.ok()) {
      std::fprintf(stderr, "handoff: cannot forget the source's position: %s\n", had.status().ToString().c_str());
      return kFailure;
    }
    std::printf("forgot position %s of source %s%s\n", FormatPosition(*had).c_str(), args.source.c_str(),
                plan.configured ? "; it starts over (a new snapshot) when the engine runs" : "");
  }
  return kOk;
}

std::vector<std::pair<std::string, SourcePosition>> UnconfiguredSources(const std::vector<std::string>& configured,
                                                                        Journal* journal) {
  std::vector<std::pair<std::string, SourcePosition>> out;
  auto sources = journal->Sources();
  if (!sources.ok()) return out;
  for (const auto& [name, pos] : *sources)
    if (!pos.IsZero() && std::find(configured.begin(), configured.end(), name) == configured.end())
      out.emplace_back(name, pos);
  return out;
}

std::vector<std::pair<std::string, SourcePosition>> UnconfiguredSources(const Config& config, Journal* journal) {
  std::vector<std::string> names;
  for (const auto& s : config.sources) names.push_back(s.name);
  return UnconfiguredSources(names, journal);
}

std::string UnconfiguredSourcesText(const std::vector<std::pair<std::string, SourcePosition>>& sources) {
  std::string out;
  for (const auto& [name, pos] : sources)
    out += fmt::format(
        "  source {} is in the journal but not configured (position {}); its slot may still hold WAL: "
        "`handoff source drop --source {}`\n",
        name, FormatPosition(pos), name);
  return out;
}

std::string UnconfiguredSourcesJson(const std::vector<std::pair<std::string, SourcePosition>>& sources) {
  std::string out = "[";
  for (const auto& [name, pos] : sources) {
    if (out.size() > 1) out += ",";
    out += "{\"name\":";
    AppendJsonString(&out, name);
    out += ",\"durable_position\":";
    AppendJsonString(&out, FormatPosition(pos));
    out += "}";
  }
  return out + "]";
}

}  // namespace handoff
