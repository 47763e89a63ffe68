#include "pause_cli.h"

#include <fmt/format.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <functional>
#include <optional>
#include <thread>
#include <vector>

#include "configured_journal.h"
#include "handoff/apply/target_pause.h"
#include "handoff/engine/clock.h"
#include "handoff/engine/event_json.h"

namespace handoff {
namespace {

constexpr int kOk = 0, kFailure = 1, kUsage = 2;

std::string Utc(int64_t us) { return UtcSeconds(us); }

std::optional<TargetPause> PauseOf(Journal* journal, const std::string& target) {
  auto p = ReadTargetPause(journal, target);
  if (!p.ok()) return std::nullopt;
  return *p;
}

// The hold records of `target`; empty when none (or unreadable).
std::vector<OperatorHold> HoldsOf(Journal* journal, const std::string& target) {
  auto h = ReadTargetHolds(journal, target);
  return h.ok() ? std::move(h).value() : std::vector<OperatorHold>();
}

// Whether `route` (source.schema.table) is a configured route of `target`.
bool IsRouteOf(const Config& config, const std::string& target, const std::string& route) {
  for (const RouteConfig& r : config.routes)
    if (r.to_target == target && r.from_source + "." + r.from_schema + "." + r.from_table == route) return true;
  return false;
}

const TargetConfig* FindTargetOrReport(const Config& config, const std::string& target, const std::string& route) {
  const TargetConfig* t = config.FindTarget(target);
  if (t == nullptr) {
    std::fprintf(stderr, "handoff: --target %s names no configured target\n", target.c_str());
    return nullptr;
  }
  if (!route.empty() && !IsRouteOf(config, target, route)) {
    std::fprintf(stderr, "handoff: --route %s names no route to target %s (give the route's from: source.schema.table)\n",
                 route.c_str(), target.c_str());
    return nullptr;
  }
  return t;
}

}  // namespace

std::string HoldStatusText(Journal* journal, const std::string& target) {
  std::string out;
  for (const OperatorHold& h : HoldsOf(journal, target)) {
    out += fmt::format("    PAUSED by operator {} since {}{}: {}; `handoff resume --target {}{}`\n",
                       h.actor.empty() ? "-" : h.actor, Utc(h.since_us), h.note.empty() ? "" : " (" + h.note + ")",
                       h.route.empty() ? "the whole target" : "route " + h.route,
                       target, h.route.empty() ? "" : " --route " + h.route);
  }
  return out;
}

std::string HoldStatusJson(Journal* journal, const std::string& target) {
  std::string out = "[";
  for (const OperatorHold& h : HoldsOf(journal, target)) {
    if (out.size() > 1) out += ",";
    out += "{\"route\":";
    if (h.route.empty()) out += "null";
    else AppendJsonString(&out, h.route);
    out += ",\"actor\":";
    AppendJsonString(&out, h.actor);
    out += ",\"note\":";
    AppendJsonString(&out, h.note);
    out += ",\"since\":";
    AppendJsonString(&out, Utc(h.since_us));
    out += "}";
  }
  return out + "]";
}

int CmdPause(const Config& config, const std::string& target, const std::string& route, const std::string& actor,
             const std::string& note) {
  const TargetConfig* t = FindTargetOrReport(config, target, route);
  if (t == nullptr) return kUsage;
  auto j = OpenJournalOrReport(config);
  if (!j) return kFailure;
  OperatorHold h;
  h.route = route;
  h.actor = actor;
  if (h.actor.empty()) {
    const char* user = std::getenv("USER");
    h.actor = user != nullptr && *user != '\0' ? user : "operator";
  }
  h.note = note;
  h.since_us = NowMicros();
  Status st = PutTargetHold(j.get(), target, h);
  if (!st.ok()) {
    std::fprintf(stderr, "handoff: cannot record the pause: %s\n", st.ToString().c_str());
    return kFailure;
  }
  if (route.empty())
    std::printf("paused %s: the running engine stops at the next point where no source transaction is open; "
                "the journal keeps taking changes; `handoff resume --target %s`\n", target.c_str(), target.c_str());
  else if (t->http() != nullptr)
    std::printf("paused route %s of %s: the target is held from that route's first change on (order across routes "
                "is kept); `handoff resume --target %s --route %s`\n", route.c_str(), target.c_str(), target.c_str(),
                route.c_str());
  else
    std::printf("paused route %s of %s: its changes wait from its next one on, the other routes go on; `handoff "
                "resume --target %s --route %s` catches it up\n", route.c_str(), target.c_str(), target.c_str(),
                route.c_str());
  return kOk;
}

std::string PauseStatusText(Journal* journal, const std::string& target) {
  auto p = PauseOf(journal, target);
  if (!p) return "";
  return fmt::format(
      "    PAUSED since {} at seq {}: {} refuses changes [{}]: {}\n"
      "    {} change(s) held from seq {}; {} attempt(s), last {}; exception {}/{}; `handoff resume --target {}`\n",
      Utc(p->since_us), p->failed_seq, p->table, p->code, p->message, p->held, p->held_from, p->tries,
      Utc(p->last_try_us), target, p->seq, target);
}

std::string PauseStatusJson(Journal* journal, const std::string& target) {
  auto p = PauseOf(journal, target);
  if (!p) return "null";
  std::string out = fmt::format("{{\"seq\":{},\"failed_seq\":{},\"held_from\":{},\"held\":{},\"tries\":{},\"since\":",
                                p->seq, p->failed_seq, p->held_from, p->held, p->tries);
  AppendJsonString(&out, Utc(p->since_us));
  out += ",\"last_try\":";
  AppendJsonString(&out, Utc(p->last_try_us));
  out += ",\"table\":";
  AppendJsonString(&out, p->table);
  out += ",\"code\":";
  AppendJsonString(&out, p->code);
  out += ",\"message\":";
  AppendJsonString(&out, p->message);
  return out + "}";
}

int CmdResume(const Config& config, const std::string& target, const std::string& route, const std::string& actor,
              int wait_seconds) {
  if (FindTargetOrReport(config, target, route) == nullptr) return kUsage;
  auto j = OpenJournalOrReport(config);
  if (!j) return kFailure;
  // The operator hold first: lifting it is all the writer needs (it polls).
  bool held = false;
  Status cleared = ClearTargetHold(j.get(), target, route, &held);
  if (!cleared.ok()) {
    std::fprintf(stderr, "handoff: cannot lift the pause: %s\n", cleared.ToString().c_str());
    return kFailure;
  }
  if (held) std::printf("lifted the operator pause of %s%s\n", route.empty() ? "" : ("route " + route + " of ").c_str(),
                        target.c_str());
  if (!route.empty()) {
    if (!held) std::printf("route %s of %s is not paused\n", route.c_str(), target.c_str());
    return kOk;
  }
  for (const OperatorHold& h : HoldsOf(j.get(), target))
    std::printf("route %s of %s is still paused; `handoff resume --target %s --route %s`\n", h.route.c_str(),
                target.c_str(), target.c_str(), h.route.c_str());
  if (!PauseOf(j.get(), target)) {
    if (!held) std::printf("target %s is not paused\n", target.c_str());
    return kOk;
  }
  const int64_t asked_us = NowMicros();
  Status st = RequestTargetResume(j.get(), target, actor.empty() ? "handoff resume" : "handoff resume by " + actor);
  if (!st.ok()) {
    std::fprintf(stderr, "handoff: cannot queue the resume: %s\n", st.ToString().c_str());
    return kFailure;
  }
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(wait_seconds);
  auto wait = [&](const std::function<bool()>& done) {
    while (!done() && std::chrono::steady_clock::now() < deadline)
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    return done();
  };
  if (!wait([&] { return !TargetResumePending(j.get(), target); })) {
    std::printf("resume of %s is queued; no running engine took it within %d s (it will when it runs)\n",
                target.c_str(), wait_seconds);
    return kFailure;
  }
  // Taken: the writer retries now. It either commits past the held change
  // (the pause record goes) or records another failed attempt.
  std::optional<TargetPause> after;
  wait([&] {
    after = PauseOf(j.get(), target);
    return !after || after->last_try_us >= asked_us;
  });
  if (!after) {
    std::printf("resumed %s: the held changes are being applied\n", target.c_str());
    return kOk;
  }
  if (after->last_try_us < asked_us) {
    std::printf("the retry of %s is still running after %d s; see `handoff status`\n", target.c_str(), wait_seconds);
    return kFailure;
  }
  std::fprintf(stderr, "handoff: %s is still paused: %s refuses changes [%s]: %s\n", target.c_str(),
               after->table.c_str(), after->code.c_str(), after->message.c_str());
  return kFailure;
}

}  // namespace handoff
